"""Bilingual descriptions and key hints for the three demo datasources.

The DuckDB builds (``flights``, ``superstore``) copy these into ``COMMENT ON`` statements, so introspection
reads them back from the database like any user's comments. The SQLite ``movies`` database is opened
read-only as shipped, so its descriptions are merged in from here at introspection time.

The wording matters: schema linking matches English and Chinese question words against these descriptions.
Value ranges quoted below were measured on the shipped data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Text = tuple[str, str]
"""An (English, Chinese) pair."""


@dataclass(frozen=True)
class TableDoc:
    """Descriptions of one table and its columns."""

    description: Text
    columns: dict[str, Text]
    primary_key: tuple[str, ...] = ()
    """Columns that identify a row (declared in the DuckDB builds, a hint for SQLite)."""


@dataclass(frozen=True)
class DemoDoc:
    """Everything shipped about one demo datasource besides its data."""

    id: str
    name: Text
    description: Text
    tables: dict[str, TableDoc]
    foreign_keys: tuple[tuple[str, str, str, str], ...] = ()
    """(table, column, ref_table, ref_column) joins that names alone cannot reveal; reported as inferred."""
    list_columns: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    """(table, column) pairs whose text holds a comma-separated list ("Drama, Crime")."""


FLIGHTS = DemoDoc(
    id="flights",
    name=("NYC Flights 2013", "2013年纽约航班"),
    description=(
        "NYC flights 2013: all 336,776 flights departing the three New York airports (JFK, LGA, EWR) in 2013, "
        "with airlines, airports, planes and hourly weather.",
        "2013年纽约航班数据：2013年从纽约三大机场（JFK、LGA、EWR）出发的全部336,776个航班，"
        "以及航空公司、机场、飞机和逐小时天气信息。",
    ),
    tables={
        "flights": TableDoc(
            description=(
                "One row per flight departing New York (JFK, LGA, EWR) in 2013: schedule, delays, route, carrier and plane.",
                "航班表：2013年从纽约（JFK、LGA、EWR）出发的每个航班一行，含时刻、延误、航线、航空公司和飞机。",
            ),
            columns={
                "year": ("Year of departure (always 2013)", "出发年份（均为2013年）"),
                "month": ("Month of departure, 1-12", "出发月份（1-12）"),
                "day": ("Day of the month of departure, 1-31", "出发日期（当月第几天，1-31）"),
                "dep_time": (
                    "Actual departure time, local New York time as an HHMM integer (517 = 05:17); NULL if cancelled",
                    "实际起飞时间（纽约当地时间，HHMM格式整数，如517表示05:17）；为空表示航班取消",
                ),
                "sched_dep_time": (
                    "Scheduled departure time, local time as an HHMM integer",
                    "计划起飞时间（当地时间，HHMM格式整数）",
                ),
                "dep_delay": (
                    "Departure delay in minutes (negative = early)",
                    "起飞延误（分钟，负数表示提前）",
                ),
                "arr_time": (
                    "Actual arrival time, local time at the destination as an HHMM integer; NULL if cancelled or diverted",
                    "实际到达时间（目的地当地时间，HHMM格式整数）；为空表示取消或备降",
                ),
                "sched_arr_time": (
                    "Scheduled arrival time, local time at the destination as an HHMM integer",
                    "计划到达时间（目的地当地时间，HHMM格式整数）",
                ),
                "arr_delay": (
                    "Arrival delay in minutes (negative = early)",
                    "到达延误（分钟，负数表示提前到达）",
                ),
                "carrier": (
                    "Two-letter airline carrier code, e.g. UA, AA, DL, B6 (name in airlines)",
                    "航空公司两字代码，如UA、AA、DL、B6（名称见airlines表）",
                ),
                "flight": ("Flight number", "航班号（数字部分）"),
                "tailnum": (
                    "Plane tail number (registration), e.g. N14228 (details in planes)",
                    "飞机尾号（注册号），如N14228（详见planes表）",
                ),
                "origin": (
                    "Origin airport FAA code: JFK, LGA or EWR (the New York airports)",
                    "出发机场代码：JFK、LGA或EWR（纽约的三个机场）",
                ),
                "dest": (
                    "Destination airport FAA code, e.g. LAX, ORD, ATL",
                    "目的地机场代码，如LAX、ORD、ATL",
                ),
                "air_time": ("Time spent in the air, in minutes", "空中飞行时间（分钟）"),
                "distance": ("Distance between the airports, in miles", "航程距离（英里）"),
                "hour": ("Hour of the scheduled departure, 0-23", "计划起飞的小时（0-23）"),
                "minute": ("Minute of the scheduled departure, 0-59", "计划起飞的分钟（0-59）"),
                "time_hour": (
                    "Scheduled departure date and hour as a timestamp in New York local time; joins weather",
                    "计划起飞的日期和小时（纽约当地时间的时间戳），可与weather表关联",
                ),
            },
        ),
        "airlines": TableDoc(
            description=(
                "Airline names by carrier code (16 airlines).",
                "航空公司表：航空公司代码与名称（16家）。",
            ),
            columns={
                "carrier": ("Two-letter airline carrier code, e.g. UA", "航空公司两字代码，如UA"),
                "name": (
                    "Full airline name, e.g. United Air Lines Inc., Delta Air Lines Inc.",
                    "航空公司全称，如United Air Lines Inc.（美联航）、Delta Air Lines Inc.（达美航空）",
                ),
            },
            primary_key=("carrier",),
        ),
        "airports": TableDoc(
            description=(
                "US airports by FAA code, with name, location, altitude and time zone.",
                "机场表：美国机场的FAA代码、名称、位置、海拔和时区。",
            ),
            columns={
                "faa": (
                    "FAA airport code, e.g. JFK, LGA, EWR, LAX (matches flights.origin and flights.dest)",
                    "机场FAA代码，如JFK、LGA、EWR、LAX（对应flights表的origin和dest）",
                ),
                "name": (
                    "Airport name, e.g. John F Kennedy Intl, La Guardia, Newark Liberty Intl",
                    "机场名称，如John F Kennedy Intl（肯尼迪国际机场）、La Guardia（拉瓜迪亚机场）",
                ),
                "lat": ("Latitude in degrees", "纬度（度）"),
                "lon": ("Longitude in degrees", "经度（度）"),
                "alt": ("Altitude in feet", "海拔高度（英尺）"),
                "tz": (
                    "Time zone offset from UTC in hours, e.g. -5 for New York",
                    "相对UTC的时区偏移（小时），如纽约为-5",
                ),
                "dst": (
                    "Daylight saving time code: A = US rules, N = none, U = unknown",
                    "夏令时代码：A=美国规则，N=不使用，U=未知",
                ),
                "tzone": ("IANA time zone name, e.g. America/New_York", "IANA时区名称，如America/New_York"),
            },
            primary_key=("faa",),
        ),
        "planes": TableDoc(
            description=(
                "Aircraft by tail number: year built, manufacturer, model, engines and seats.",
                "飞机表：按尾号列出飞机的制造年份、制造商、型号、发动机和座位数。",
            ),
            columns={
                "tailnum": ("Plane tail number (registration), e.g. N14228", "飞机尾号（注册号），如N14228"),
                "year": ("Year the plane was manufactured", "飞机制造年份"),
                "type": (
                    "Aircraft type, e.g. Fixed wing multi engine",
                    "飞机类型，如固定翼多引擎（Fixed wing multi engine）",
                ),
                "manufacturer": (
                    "Plane manufacturer, e.g. BOEING, AIRBUS, EMBRAER",
                    "飞机制造商，如BOEING（波音）、AIRBUS（空客）、EMBRAER（巴航工业）",
                ),
                "model": ("Plane model, e.g. A320-214, 737-824", "飞机型号，如A320-214、737-824"),
                "engines": ("Number of engines", "发动机数量"),
                "seats": ("Number of seats", "座位数"),
                "speed": (
                    "Average cruising speed in mph (mostly missing)",
                    "平均巡航速度（英里/小时，大多缺失）",
                ),
                "engine": (
                    "Engine type, e.g. Turbo-fan, Turbo-jet, Reciprocating",
                    "发动机类型，如涡扇（Turbo-fan）、涡喷（Turbo-jet）、活塞（Reciprocating）",
                ),
            },
            primary_key=("tailnum",),
        ),
        "weather": TableDoc(
            description=(
                "Hourly weather at the three New York airports (JFK, LGA, EWR) in 2013.",
                "天气表：2013年纽约三个机场（JFK、LGA、EWR）的逐小时天气。",
            ),
            columns={
                "origin": (
                    "Airport FAA code where the weather was observed: JFK, LGA or EWR",
                    "观测天气的机场代码：JFK、LGA或EWR",
                ),
                "year": ("Year of the observation (2013)", "观测年份（2013年）"),
                "month": ("Month of the observation, 1-12", "观测月份（1-12）"),
                "day": ("Day of the month of the observation, 1-31", "观测日期（当月第几天）"),
                "hour": ("Hour of the observation, 0-23 local time", "观测小时（当地时间0-23）"),
                "temp": ("Temperature in degrees Fahrenheit", "气温（华氏度）"),
                "dewp": ("Dew point in degrees Fahrenheit", "露点温度（华氏度）"),
                "humid": ("Relative humidity in percent", "相对湿度（%）"),
                "wind_dir": ("Wind direction in degrees (0-360)", "风向（度，0-360）"),
                "wind_speed": ("Wind speed in mph", "风速（英里/小时）"),
                "wind_gust": ("Wind gust speed in mph (often missing)", "阵风风速（英里/小时，常缺失）"),
                "precip": ("Precipitation in inches", "降水量（英寸）"),
                "pressure": ("Sea level pressure in millibars", "海平面气压（毫巴）"),
                "visib": ("Visibility in miles (0-10)", "能见度（英里，0-10）"),
                "time_hour": (
                    "Date and hour of the observation as a timestamp in New York local time; joins flights",
                    "观测的日期和小时（纽约当地时间的时间戳），可与flights表关联",
                ),
            },
        ),
    },
    foreign_keys=(
        ("flights", "origin", "airports", "faa"),
        ("flights", "dest", "airports", "faa"),
        ("weather", "origin", "airports", "faa"),
        # A composite join: a flight's weather is the row with the same origin and time_hour.
        ("flights", "origin", "weather", "origin"),
        ("flights", "time_hour", "weather", "time_hour"),
    ),
)

SUPERSTORE = DemoDoc(
    id="superstore",
    name=("Superstore sales", "超市销售"),
    description=(
        "Sample Superstore: 9,994 order lines of a US office supplies, furniture and technology retailer, "
        "with sales, profit, discount, product category and customer location.",
        "超市销售示例数据：美国一家办公用品、家具和科技产品零售商的9,994条订单明细，"
        "包含销售额、利润、折扣、商品类别和客户所在地。",
    ),
    tables={
        "superstore": TableDoc(
            description=(
                "One row per order line: shipping mode, customer segment, location, product category, sales and profit.",
                "订单明细表：每行一条订单明细，含运输方式、客户细分、地区、商品类别、销售额和利润。",
            ),
            columns={
                "ship_mode": (
                    "Shipping mode: Standard Class, Second Class, First Class, Same Day",
                    "运输方式：标准（Standard Class）、二等（Second Class）、一等（First Class）、当日达（Same Day）",
                ),
                "segment": (
                    "Customer segment: Consumer, Corporate, Home Office",
                    "客户细分：消费者（Consumer）、企业（Corporate）、家庭办公（Home Office）",
                ),
                "country": ("Country of the customer (always United States)", "客户所在国家（均为美国）"),
                "city": (
                    "City of the customer, e.g. New York City, Los Angeles",
                    "客户所在城市，如纽约、洛杉矶",
                ),
                "state": (
                    "US state of the customer, e.g. California, Texas",
                    "客户所在州，如加利福尼亚、得克萨斯",
                ),
                "postal_code": ("Five-digit US postal (ZIP) code", "五位美国邮政编码"),
                "region": (
                    "US region: East, West, Central, South",
                    "美国区域：东部（East）、西部（West）、中部（Central）、南部（South）",
                ),
                "category": (
                    "Product category: Furniture, Office Supplies, Technology",
                    "商品类别：家具（Furniture）、办公用品（Office Supplies）、科技（Technology）",
                ),
                "sub_category": (
                    "Product sub-category, e.g. Chairs, Phones, Binders, Paper",
                    "商品子类别，如椅子（Chairs）、电话（Phones）、文件夹（Binders）、纸张（Paper）",
                ),
                "sales": ("Sales amount (revenue) in USD", "销售额（美元）"),
                "quantity": ("Number of units ordered", "订购数量（件）"),
                "discount": (
                    "Discount rate as a fraction, 0-0.8 (0.2 = 20% off)",
                    "折扣率（小数，0-0.8，0.2表示打八折）",
                ),
                "profit": ("Profit in USD (negative = loss)", "利润（美元，负数表示亏损）"),
            },
        ),
    },
)

MOVIES = DemoDoc(
    id="movies",
    name=("Movies", "电影"),
    description=(
        "Movies 1940-2014: 17,472 films with OMDb details (title, year, genre, director, cast, country, "
        "Oscars) and Rotten Tomatoes reviews and box office.",
        "电影数据（1940-2014年）：17,472部电影的OMDb信息（片名、年份、类型、导演、演员、国家、奥斯卡）"
        "以及烂番茄影评和票房。",
    ),
    tables={
        "omdb": TableDoc(
            description=(
                "One row per film from OMDb: title, year, genre, director, writers, cast, language, country, awards.",
                "电影信息表（OMDb）：每部电影一行，含片名、年份、类型、导演、编剧、演员、语言、国家和获奖情况。",
            ),
            columns={
                "ID": ("Movie id, shared with tomatoes.ID", "电影编号（与tomatoes表的ID对应）"),
                "imdbID": ("IMDb identifier, e.g. tt0816692", "IMDb编号，如tt0816692"),
                "Title": ("Film title", "电影片名"),
                "Year": ("Release year, 1940-2014", "上映年份（1940-2014）"),
                "Rating": (
                    "MPAA content rating: G, PG, PG-13, R, NC-17 (mostly missing)",
                    "美国电影分级：G、PG、PG-13、R、NC-17（大多缺失）",
                ),
                "Runtime": ("Running time in minutes", "片长（分钟）"),
                "Genre": (
                    "Genres as a comma-separated list, e.g. Drama, Crime",
                    "电影类型（逗号分隔列表），如Drama（剧情）、Comedy（喜剧）、Action（动作）",
                ),
                "Released": ("Release date as text YYYY-MM-DD", "上映日期（文本，YYYY-MM-DD）"),
                "Director": (
                    "Director name(s), comma-separated, e.g. Christopher Nolan",
                    "导演（多人以逗号分隔），如Christopher Nolan",
                ),
                "Writer": ("Writer name(s), comma-separated", "编剧（多人以逗号分隔）"),
                "Cast": ("Main actors, comma-separated", "主要演员（逗号分隔）"),
                "Metacritic": (
                    "Metacritic critics score, 1-100 (often missing)",
                    "Metacritic媒体评分（1-100，常缺失）",
                ),
                "imdbRating": (
                    "IMDb user rating, 0-10 (empty in this copy)",
                    "IMDb用户评分（0-10，本数据中为空）",
                ),
                "imdbVotes": ("Number of IMDb votes (empty in this copy)", "IMDb投票数（本数据中为空）"),
                "Language": (
                    "Spoken language(s), comma-separated, e.g. English, French",
                    "语言（逗号分隔），如English（英语）、French（法语）",
                ),
                "Country": (
                    "Production country(ies), comma-separated, e.g. United States, France",
                    "制片国家（逗号分隔），如United States（美国）、France（法国）",
                ),
                "Awards": (
                    "Awards summary text, e.g. Won 4 Oscars. Nominated for 8 Oscars.",
                    "获奖情况文字说明，如Won 4 Oscars（获4项奥斯卡奖）",
                ),
                "lastUpdated": ("Date the record was last updated", "记录最后更新日期"),
                "Oscars": ("Number of Oscars won, 0-10", "获得奥斯卡奖的数量（0-10）"),
            },
            primary_key=("ID",),
        ),
        "tomatoes": TableDoc(
            description=(
                "Rotten Tomatoes reviews and box office per film (same ID as omdb).",
                "烂番茄评分表：每部电影的影评评分和票房（ID与omdb表相同）。",
            ),
            columns={
                "ID": ("Movie id, joins omdb.ID", "电影编号（关联omdb表的ID）"),
                "Image": ("Freshness image name (empty in this copy)", "新鲜度图标（本数据中为空）"),
                "Rating": ("Average critic rating, 0-10", "影评人平均评分（0-10）"),
                "Meter": (
                    "Tomatometer: percent of positive critic reviews, 0-100",
                    "烂番茄新鲜度：影评人好评百分比（0-100）",
                ),
                "Reviews": ("Number of critic reviews", "影评数量"),
                "Fresh": ("Number of positive (fresh) critic reviews", "好评（新鲜）影评数"),
                "Rotten": ("Number of negative (rotten) critic reviews", "差评（烂）影评数"),
                "Consensus": ("Critics consensus text (empty in this copy)", "影评共识（本数据中为空）"),
                "userMeter": ("Audience score percent (empty in this copy)", "观众好评率（本数据中为空）"),
                "userRating": (
                    "Average audience rating (empty in this copy)",
                    "观众平均评分（本数据中为空）",
                ),
                "userReviews": (
                    "Number of audience ratings (empty in this copy)",
                    "观众评分数（本数据中为空）",
                ),
                "DVD": ("DVD release date (empty in this copy)", "DVD发行日期（本数据中为空）"),
                "BoxOffice": ("US box office revenue in USD (often missing)", "美国票房收入（美元，常缺失）"),
                "Production": (
                    "Production or distribution company, e.g. Warner Bros. Pictures",
                    "出品/发行公司，如Warner Bros. Pictures（华纳兄弟）",
                ),
                "Website": ("Official website (empty in this copy)", "官方网站（本数据中为空）"),
                "lastUpdated": ("Date the record was last updated", "记录最后更新日期"),
            },
            primary_key=("ID",),
        ),
    },
    foreign_keys=(("tomatoes", "ID", "omdb", "ID"),),
    list_columns=frozenset(
        {
            ("omdb", "Genre"),
            ("omdb", "Director"),
            ("omdb", "Writer"),
            ("omdb", "Cast"),
            ("omdb", "Language"),
            ("omdb", "Country"),
            ("tomatoes", "Production"),
        }
    ),
)

DEMOS: dict[str, DemoDoc] = {d.id: d for d in (FLIGHTS, SUPERSTORE, MOVIES)}
"""The demo datasources by id, in display order."""
