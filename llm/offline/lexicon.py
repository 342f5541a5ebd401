"""The offline writer's vocabulary: generic synonyms, abbreviations, cue words and a small Chinese glossary.

Nothing here names a table or column of the demo data: every entry is an everyday word of business or
domain language (revenue means sales, 航空公司 means airline, "busiest" means the most rows). The linker maps
schema names and question words onto the same canonical English lemmas, so one parser serves both languages.
"""

from __future__ import annotations

# Canonical lemma -> words that mean the same thing in a question or a schema (English, already lower-case).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "sales": ("sale", "revenue", "turnover", "income", "gmv"),
    "profit": ("profits", "earnings", "margin", "gain"),
    "quantity": ("qty", "units", "unit", "volume"),
    "discount": ("markdown", "rebate"),
    "region": ("area", "territory", "zone"),
    "category": ("categories", "cat"),
    "segment": ("segments",),
    "city": ("town", "cities"),
    "state": ("province",),
    "country": ("nation",),
    "mode": ("method", "shipping", "delivery"),
    "ship": ("shipping", "shipment", "shipped", "delivery"),
    "delay": ("late", "lateness", "delayed", "tardiness", "wait"),
    "departure": ("dep", "depart", "departing", "departs", "departed", "leave", "leaving", "takeoff"),
    "arrival": ("arr", "arrive", "arriving", "arrives", "arrived", "landing", "land"),
    "destination": ("dest",),
    "origin": ("source", "orig"),
    "flight": ("fly", "flew", "flown", "flying", "trip", "trips"),
    "airline": ("carrier", "airlines", "carriers", "operator"),
    "plane": ("aircraft", "airplane", "airplanes", "jet", "jets", "tail"),
    "airport": ("airfield",),
    "distance": ("length", "far", "mileage", "miles", "mile", "km"),
    "time": ("duration",),
    "air": ("airborne",),
    "temperature": ("temp", "temperatures"),
    "humidity": ("humid",),
    "visibility": ("visib",),
    "precipitation": ("precip", "rain", "rainfall", "snow"),
    "pressure": ("barometric",),
    "dewpoint": ("dewp", "dew"),
    "wind": ("windy", "gust"),
    "speed": ("velocity", "fast", "mph"),
    "seat": ("seats", "capacity", "seating"),
    "engine": ("engines", "motor"),
    "manufacturer": ("maker", "manufacture", "manufactured", "built", "brand", "producer"),
    "model": ("models",),
    "movie": ("film", "films", "movies", "picture", "pictures", "flick", "flicks"),
    "director": ("directed", "direct", "filmmaker"),
    "writer": ("written", "screenwriter", "wrote", "screenplay"),
    "cast": ("actor", "actors", "actress", "actresses", "starring", "star", "stars", "starred"),
    "genre": ("genres",),
    "rating": ("rated", "score", "scores", "stars", "grade"),
    "meter": ("tomatometer",),
    "review": ("reviews", "reviewed", "critic", "critics"),
    "boxoffice": ("gross", "grossing", "grossed", "takings"),
    "runtime": ("runtimes",),
    "release": ("released", "releases", "came"),
    "language": ("languages", "spoken"),
    "oscar": ("oscars", "academy"),
    "award": ("awards", "prize", "prizes"),
    "production": ("studio", "studios", "produced", "distributor"),
    "year": ("years", "annual", "yearly"),
    "month": ("months", "monthly"),
    "day": ("days", "daily", "date"),
    "hour": ("hours", "hourly"),
    "name": ("names",),
    "price": ("cost", "costs", "priced"),
    "customer": ("client", "clients", "customers", "buyer", "buyers"),
    "order": ("orders", "purchase", "purchases", "transaction", "transactions"),
    "product": ("products", "item", "items", "goods"),
    "employee": ("staff", "worker", "workers"),
    "altitude": ("alt", "elevation"),
    "latitude": ("lat",),
    "longitude": ("lon", "lng"),
    "timezone": ("tz", "tzone"),
    "number": ("num", "no", "nbr"),
    "amount": ("amt",),
    "scheduled": ("sched", "planned", "schedule"),
    "postal": ("zip", "postcode", "zipcode"),
    "code": ("codes",),
    "sub": ("subcategory",),
}

# Abbreviations seen in column names, expanded before synonym lookup (dep_delay -> departure delay).
ABBREVIATIONS: dict[str, str] = {
    "dep": "departure", "arr": "arrival", "sched": "scheduled", "dest": "destination", "qty": "quantity",
    "amt": "amount", "num": "number", "cnt": "count", "avg": "average", "temp": "temperature",
    "humid": "humidity", "visib": "visibility", "precip": "precipitation", "dewp": "dewpoint",
    "tz": "timezone", "tzone": "timezone", "alt": "altitude", "lat": "latitude", "lon": "longitude",
    "desc": "description", "dt": "date", "yr": "year", "mo": "month", "pct": "percent", "imdb": "imdb",
    "faa": "faa", "tailnum": "tail number",
}

# Additive measures are summed when grouped; everything else numeric is averaged.
ADDITIVE: frozenset[str] = frozenset({
    "sales", "profit", "quantity", "amount", "boxoffice", "oscar", "count", "total", "cost", "revenue",
    "vote", "votes", "review", "fresh", "rotten", "spend", "units", "seat",
})

# Lemmas that make a numeric column a dimension (grouped on, filtered by equality) rather than a measure.
TIME_PARTS: tuple[str, ...] = ("year", "quarter", "month", "day", "hour", "minute", "weekday")

# Chinese words -> canonical English lemmas (several words for a phrase).
ZH_GLOSS: dict[str, str] = {
    "销售额": "sales", "销售": "sales", "营收": "sales", "收入": "sales", "营业额": "sales", "销售金额": "sales",
    "卖了": "sales", "利润": "profit", "盈利": "profit", "利润额": "profit", "毛利": "profit", "赚": "profit",
    "销量": "quantity", "销售数量": "quantity", "件数": "quantity",
    "折扣": "discount", "折扣率": "discount", "打折": "discount",
    "地区": "region", "区域": "region", "大区": "region", "类别": "category", "品类": "category",
    "类目": "category", "分类": "category", "产品类别": "category", "子类别": "sub category",
    "子类": "sub category", "子品类": "sub category", "二级类目": "sub category", "子分类": "sub category",
    "城市": "city", "州": "state", "省": "state", "国家": "country", "细分市场": "segment",
    "客户细分": "segment", "客户群": "segment", "客户类型": "segment", "细分": "segment", "客户群体": "segment",
    "运输方式": "ship mode", "配送方式": "ship mode", "发货方式": "ship mode", "邮寄方式": "ship mode",
    "运送方式": "ship mode", "物流方式": "ship mode", "邮编": "postal code", "邮政编码": "postal code",
    "订单": "order", "交易": "order", "客户": "customer", "产品": "product", "商品": "product",
    "价格": "price", "成本": "price",
    "航班": "flight", "班次": "flight", "飞行": "flight", "航空公司": "airline", "航司": "airline",
    "承运人": "airline", "机场": "airport", "飞机": "plane", "客机": "plane", "天气": "weather",
    "目的地": "destination", "出发地": "origin", "始发地": "origin", "始发": "origin", "起飞": "departure",
    "出发": "departure", "离港": "departure", "到达": "arrival", "抵达": "arrival", "落地": "arrival",
    "延误": "delay", "延迟": "delay", "晚点": "delay", "误点": "delay", "距离": "distance", "航程": "distance",
    "里程": "distance", "飞行时间": "air time", "空中时间": "air time", "飞行时长": "air time",
    "座位": "seat", "座位数": "seat", "座位数量": "seat", "座": "seat", "制造商": "manufacturer",
    "厂商": "manufacturer", "生产商": "manufacturer", "型号": "model", "发动机": "engine", "引擎": "engine",
    "温度": "temperature", "气温": "temperature", "湿度": "humidity", "风速": "wind speed",
    "能见度": "visibility", "降水": "precipitation", "降水量": "precipitation", "降雨": "precipitation",
    "气压": "pressure", "露点": "dewpoint", "阵风": "wind gust", "风向": "wind direction",
    "时区": "timezone", "海拔": "altitude", "纬度": "latitude", "经度": "longitude",
    "尾号": "tail number", "机尾号": "tail number", "航班号": "flight number", "速度": "speed",
    "电影": "movie", "影片": "movie", "片子": "movie", "部片": "movie", "导演": "director", "编剧": "writer",
    "演员": "cast", "主演": "cast", "卡司": "cast", "类型": "genre", "题材": "genre", "流派": "genre",
    "片种": "genre", "评分": "rating", "分数": "rating", "得分": "rating", "分级": "rating", "评级": "rating",
    "烂番茄": "tomato", "新鲜度": "meter", "番茄指数": "meter", "新鲜指数": "meter",
    "影评": "review", "评论": "review", "评论数": "review", "影评数": "review", "票房": "boxoffice",
    "片长": "runtime", "时长": "runtime", "上映": "release", "发行": "release", "语言": "language",
    "奥斯卡": "oscar", "奥斯卡奖": "oscar", "获奖": "award", "奖项": "award", "制片公司": "production",
    "出品公司": "production", "制作公司": "production", "片商": "production",
    "年份": "year", "年度": "year", "月份": "month", "名称": "name", "名字": "name",
    "员工": "employee", "金额": "amount", "名": "name",
}

# Chinese value glosses: everyday words whose data values are usually stored in English.
ZH_VALUE_GLOSS: dict[str, str] = {
    "东部": "East", "西部": "West", "南部": "South", "北部": "North", "中部": "Central", "东区": "East",
    "西区": "West", "南区": "South", "北区": "North", "中区": "Central",
    "家具": "Furniture", "技术": "Technology", "科技": "Technology", "办公用品": "Office Supplies",
    "消费者": "Consumer", "个人消费者": "Consumer", "企业": "Corporate", "公司客户": "Corporate",
    "家庭办公": "Home Office", "小型办公": "Home Office", "标准": "Standard Class", "标准级": "Standard Class",
    "一等": "First Class", "头等": "First Class", "二等": "Second Class", "当日": "Same Day",
    "椅子": "Chairs", "桌子": "Tables", "书架": "Bookcases", "手机": "Phones", "电话": "Phones",
    "复印机": "Copiers", "纸张": "Paper", "配件": "Accessories", "粘合剂": "Binders", "活页夹": "Binders",
    "加利福尼亚": "California", "加州": "California", "纽约州": "New York", "德克萨斯": "Texas",
    "德州": "Texas", "华盛顿": "Washington", "纽约": "New York City", "洛杉矶": "Los Angeles",
    "旧金山": "San Francisco", "西雅图": "Seattle", "芝加哥": "Chicago", "费城": "Philadelphia",
    "剧情": "Drama", "剧情片": "Drama", "喜剧": "Comedy", "喜剧片": "Comedy", "恐怖": "Horror",
    "恐怖片": "Horror", "动作": "Action", "动作片": "Action", "纪录片": "Documentary", "爱情": "Romance",
    "爱情片": "Romance", "科幻": "Sci-Fi", "科幻片": "Sci-Fi", "动画": "Animation", "动画片": "Animation",
    "惊悚": "Thriller", "惊悚片": "Thriller", "犯罪": "Crime", "犯罪片": "Crime", "冒险": "Adventure",
    "家庭": "Family", "奇幻": "Fantasy", "音乐": "Music", "战争": "War", "西部片": "Western",
    "悬疑": "Mystery", "传记": "Biography", "历史": "History", "运动": "Sport",
    "英语": "English", "法语": "French", "西班牙语": "Spanish", "日语": "Japanese", "德语": "German",
    "意大利语": "Italian", "中文": "Chinese", "普通话": "Mandarin", "韩语": "Korean",
    "美国": "United States", "英国": "United Kingdom", "法国": "France", "加拿大": "Canada",
    "德国": "Germany", "日本": "Japan", "中国": "China", "意大利": "Italy", "印度": "India",
    "达美": "Delta", "美联航": "United", "美国航空": "American", "捷蓝": "JetBlue", "西南航空": "Southwest",
    "肯尼迪": "JFK", "肯尼迪机场": "JFK", "拉瓜迪亚": "LGA", "纽瓦克": "EWR",
    "波音": "BOEING", "空客": "AIRBUS", "空中客车": "AIRBUS", "庞巴迪": "BOMBARDIER", "巴西航空": "EMBRAER",
}

# Cue words. Keys are canonical cue names; English entries may be multi-word (matched on lemmas).
CUES_EN: dict[str, tuple[str, ...]] = {
    "avg": ("average", "avg", "mean", "typical", "typically", "on average"),
    "sum": ("total", "sum", "overall", "combined", "cumulative", "altogether", "in total", "aggregate"),
    "max": ("maximum", "max", "highest", "largest", "biggest", "greatest", "most", "longest", "top", "best",
            "peak", "record", "latest", "worst", "farthest", "furthest", "heaviest", "hottest", "oldest",
            "most expensive", "max.", "busiest", "popular", "most popular", "most common", "most frequent",
            "highest rated", "best rated", "top rated", "highest-rated", "top-rated", "best-rated"),
    "min": ("minimum", "min", "lowest", "smallest", "least", "fewest", "shortest", "cheapest", "bottom",
            "earliest", "coldest", "newest", "worst rated", "lowest rated", "least popular", "quietest",
            "least common"),
    "count": ("how many", "number of", "count", "count of", "how much", "no. of", "# of", "tally", "many"),
    "distinct": ("different", "distinct", "unique", "separate"),
    "by": ("by", "per", "each", "every", "for each", "for every", "across", "broken down by", "grouped by",
           "split by", "breakdown by", "wise", "in each", "of each"),
    "which": ("which", "what", "who", "whose"),
    "top": ("top", "first", "leading", "highest"),
    "bottom": ("bottom", "last", "lowest"),
    "gt": ("more than", "greater than", "over", "above", "exceeding", "exceeds", "exceed", "higher than",
           "longer than", "bigger than", "larger than", "later than", "after", "beyond", "older than",
           "more", "plus", "since"),
    "ge": ("at least", "no less than", "or more", "minimum of", "not less than"),
    "lt": ("less than", "fewer than", "under", "below", "lower than", "shorter than", "smaller than",
           "before", "earlier than", "cheaper than", "newer than", "prior to"),
    "le": ("at most", "no more than", "or less", "or fewer", "maximum of", "up to", "not more than"),
    "eq": ("exactly", "equal to", "equals"),
    "between": ("between", "from"),
    "percent": ("percentage", "percent", "%", "pct", "share", "proportion", "fraction", "ratio", "rate",
                "portion"),
    "not": ("not", "except", "excluding", "other than", "without", "non", "besides", "exclude"),
    "from": ("from", "out of", "departing", "leaving", "departing from", "leave", "depart", "departs"),
    "to": ("to", "into", "arriving", "arriving at", "bound for", "going to", "heading to", "towards", "arrive"),
    "list": ("list", "show", "give", "display", "find", "get", "name", "tell", "see"),
    "trend": ("trend", "over time", "evolution", "change"),
}

CUES_ZH: dict[str, tuple[str, ...]] = {
    "avg": ("平均", "均值", "平均值", "平均数", "人均"),
    "sum": ("总", "总计", "合计", "总和", "总共", "总额", "累计", "汇总", "总的", "一共"),
    "max": ("最高", "最大", "最多", "最长", "最贵", "最远", "最热", "最晚", "最好", "最受欢迎", "最常见",
            "最繁忙", "最忙", "最久", "最严重", "排名第一", "最", "最高的", "第一"),
    "min": ("最低", "最小", "最少", "最短", "最便宜", "最近", "最冷", "最早", "最差", "最不"),
    "count": ("多少", "几个", "几家", "几", "数量", "个数", "次数", "数目", "条数", "多少个", "多少家", "多少次",
              "多少架", "多少部", "多少条", "多少种", "数"),
    "distinct": ("不同", "不重复", "去重", "独立"),
    "by": ("按", "按照", "每", "每个", "各", "各个", "分", "每一个", "每家", "每种", "各家", "各种", "分别"),
    "which": ("哪", "哪个", "哪些", "哪家", "哪位", "哪种", "哪一个", "哪部", "哪几个", "什么", "谁"),
    "top": ("前", "排名前", "top"),
    "bottom": ("后", "倒数"),
    "gt": ("超过", "大于", "高于", "多于", "以上", "之后", "以后", "长于", "晚于", "超出", "过"),
    "ge": ("至少", "不少于", "不低于", "及以上"),
    "lt": ("低于", "小于", "少于", "不到", "以下", "之前", "以前", "短于", "早于", "不足"),
    "le": ("不超过", "不高于", "至多", "最多不超过", "及以下"),
    "eq": ("等于", "正好"),
    "between": ("之间", "介于"),
    "percent": ("比例", "占比", "百分比", "比率", "份额", "比重", "率"),
    "not": ("不是", "除了", "非", "不包括", "排除"),
    "from": ("从", "自", "由"),
    "to": ("到", "飞往", "前往", "去", "至", "飞到"),
    "list": ("列出", "显示", "给出", "看看", "查看", "展示", "查询", "列举", "告诉"),
    "trend": ("趋势", "变化", "走势"),
}

# Adjectives that are a condition on a measure: lemma -> (measure lemma, operator, value).
CONDITIONS: dict[str, tuple[str, str, float]] = {
    "delayed": ("delay", ">", 0),
    "late": ("delay", ">", 0),
    "early": ("delay", "<", 0),
    "on time": ("delay", "<=", 0),
    "ontime": ("delay", "<=", 0),
    "unprofitable": ("profit", "<", 0),
    "loss": ("profit", "<", 0),
    "losses": ("profit", "<", 0),
    "losing": ("profit", "<", 0),
    "loss-making": ("profit", "<", 0),
    "profitable": ("profit", ">", 0),
    "discounted": ("discount", ">", 0),
    "延误的": ("delay", ">", 0),
    "晚点的": ("delay", ">", 0),
    "准点": ("delay", "<=", 0),
    "准时": ("delay", "<=", 0),
    "亏损": ("profit", "<", 0),
    "亏本": ("profit", "<", 0),
    "赔钱": ("profit", "<", 0),
    "盈利的": ("profit", ">", 0),
    "打折的": ("discount", ">", 0),
}

# Units that scale a number before comparing it with a column measured in minutes.
HOUR_WORDS: tuple[str, ...] = ("hour", "hours", "hr", "hrs", "小时", "个小时")

MONTHS_EN: dict[str, int] = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
    "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}

ZH_DIGITS: dict[str, int] = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}

EN_NUMBERS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "fifty": 50, "hundred": 100,
    "a dozen": 12, "dozen": 12, "an": 1, "a": 1,
}

# Time buckets: word -> bucket. Only used with a grouping cue or as an adjective ("monthly").
BUCKET_WORDS: dict[str, str] = {
    "monthly": "month", "yearly": "year", "annual": "year", "annually": "year", "daily": "day",
    "hourly": "hour", "quarterly": "quarter", "weekly": "week", "decade": "decade", "decades": "decade",
    "月度": "month", "每月": "month", "按月": "month", "每个月": "month", "各月": "month", "逐月": "month",
    "每年": "year", "按年": "year", "各年": "year", "逐年": "year", "年度": "year", "每天": "day",
    "每日": "day", "按天": "day", "按日": "day", "逐日": "day", "每小时": "hour", "按小时": "hour",
    "各小时": "hour", "季度": "quarter", "每季度": "quarter", "年代": "decade", "每十年": "decade",
}

# Words that carry no meaning for linking (English) — keeps "the", "of", "is" from matching column names.
STOPWORDS_EN: frozenset[str] = frozenset(
    "a an the of in on at for with and or is are was were be been being do does did what's whats which "
    "what who how me my our we i you your it its this that these those there their they them us please "
    "can could would should will shall may might must have has had any some all each every as than then "
    "about into onto per by from to up out over under s 's overall give show list tell find get let "
    "data table rows number much many".split()
)

# Words that make a sentence a data question even with few schema hits.
QUESTION_WORDS_EN: frozenset[str] = frozenset(
    "how what which who where when list show count total average sum number top most least highest lowest "
    "compare breakdown give find rank many much per by trend percentage share".split()
)
QUESTION_WORDS_ZH: tuple[str, ...] = (
    "多少", "哪", "什么", "统计", "平均", "总", "最", "列出", "显示", "各", "每", "按", "排名", "前", "占比",
    "比例", "趋势", "几", "查询", "对比", "分布", "数量", "吗", "是",
)

# Chit-chat and non-data requests that must be rejected even if a schema word appears by chance.
NON_DATA_PATTERNS: tuple[str, ...] = (
    "hello", "hi", "hey", "thanks", "thank you", "good morning", "who are you", "write me", "write a poem",
    "poem", "joke", "sing", "weather today", "translate", "tell me a story", "story", "essay",
    "你好", "您好", "谢谢", "写一首", "写诗", "讲个笑话", "笑话", "你是谁", "翻译", "写一篇", "故事", "唱",
)
