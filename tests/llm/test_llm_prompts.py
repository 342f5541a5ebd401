"""What the LLM writer's prompts contain."""

from datasources.schema import Column, ForeignKey, Schema, Table
from llm.base import ExplainRequest, SQLRequest, Turn
from llm.prompts import explain_messages, render_schema, select_tables, sql_messages

FLIGHTS = Table(
    "flights",
    (
        Column("id", "INTEGER", primary_key=True),
        Column("carrier", "VARCHAR", "Airline code", "航空公司代码", sample_values=("UA", "AA", "B6")),
        Column("dest", "VARCHAR", "Destination airport", "目的地机场"),
        Column("arr_delay", "DOUBLE", "Arrival delay in minutes", "到达延误（分钟）"),
    ),
    description_en="One row per departing flight",
    description_zh="每个出发航班一行",
    foreign_keys=(
        ForeignKey("carrier", "airlines", "carrier"),
        ForeignKey("dest", "airports", "faa", inferred=True),
    ),
    row_count=336776,
)
AIRLINES = Table(
    "airlines", (Column("carrier", "VARCHAR", primary_key=True), Column("name", "VARCHAR", "Airline name"))
)
AIRPORTS = Table("airports", (Column("faa", "VARCHAR", primary_key=True), Column("name", "VARCHAR")))
FILLER = tuple(
    Table(
        f"sales_{i}",
        (Column("region", "VARCHAR"), Column("amount", "DOUBLE")),
        description_en="Quarterly sales",
    )
    for i in range(20)
)
BIG = Schema("big", "duckdb", (*FILLER[:10], AIRLINES, FLIGHTS, *FILLER[10:], AIRPORTS))
SMALL = Schema("small", "sqlite", (FLIGHTS, AIRLINES, AIRPORTS), description_en="US flights in 2013")


def test_schema_is_rendered_as_commented_ddl_in_the_locale() -> None:
    english = render_schema([FLIGHTS], "duckdb", "en")
    assert "-- One row per departing flight" in english
    assert "-- 336776 rows" in english
    assert "carrier VARCHAR, -- Airline code; values: 'UA', 'AA', 'B6'" in english
    assert "PRIMARY KEY (id)," in english
    assert "FOREIGN KEY (carrier) REFERENCES airlines(carrier)," in english
    assert "FOREIGN KEY (dest) REFERENCES airports(faa) -- inferred\n);" in english
    chinese = render_schema([FLIGHTS], "duckdb", "zh")
    assert "航空公司代码" in chinese and "Airline code" not in chinese
    assert "-- Airline name" in render_schema([AIRLINES], "duckdb", "zh")  # falls back to English


def test_odd_names_are_quoted_for_the_dialect() -> None:
    table = Table("order items", (Column("unit price", "DOUBLE"),))
    assert 'CREATE TABLE "order items"' in render_schema([table], "postgres")
    assert "`unit price` DOUBLE" in render_schema([table], "mysql")


def test_small_schemas_are_sent_whole() -> None:
    assert select_tables(SMALL, "anything at all") == SMALL.tables


def test_large_schemas_keep_matching_tables_and_their_key_neighbours() -> None:
    chosen = [t.name for t in select_tables(BIG, "average arrival delay of flights by destination", limit=6)]
    assert "flights" in chosen
    assert {"airlines", "airports"} <= set(chosen)  # referenced by flights
    assert len(chosen) <= 6
    chinese = [t.name for t in select_tables(BIG, "每家航空公司的平均到达延误", limit=4)]
    assert "flights" in chinese


def test_large_schemas_match_sample_values_and_referencing_tables() -> None:
    chosen = [t.name for t in select_tables(BIG, "How late is B6?", limit=3)]
    assert "flights" in chosen  # 'B6' is a sample value of flights.carrier
    chosen = [t.name for t in select_tables(BIG, "list every airline name", limit=3)]
    assert {"airlines", "flights"} <= set(chosen)  # flights references airlines


def test_sql_prompt_holds_question_dialect_schema_and_format() -> None:
    messages = sql_messages(SQLRequest("Which carrier is late most often?", SMALL))
    system, user = messages[0][1], messages[-1][1]
    assert "SQLite" in system and "```sql" in system
    assert "Question: Which carrier is late most often?" in user
    assert "US flights in 2013" in user
    assert "CREATE TABLE flights" in user and "CREATE TABLE airports" in user


def test_sql_prompt_for_a_large_schema_says_it_is_a_selection() -> None:
    user = sql_messages(SQLRequest("delay of flights", BIG), max_tables=4)[-1][1]
    assert "Relevant tables (3 of 23)" in user  # flights and the two tables it references
    assert "sales_3" not in user


def test_follow_ups_carry_previous_turns_and_repairs_carry_the_error() -> None:
    request = SQLRequest(
        "only for UA",
        SMALL,
        history=[
            Turn(
                "average delay by carrier",
                "SELECT carrier, AVG(arr_delay) FROM flights GROUP BY 1",
                ("carrier", "avg"),
                16,
            ),
            Turn("nonsense"),
        ],
        failed_sql="SELECT carrier FROM flight WHERE carrier = 'UA'",
        error="Catalog Error: Table with name flight does not exist!",
    )
    messages = sql_messages(request)
    assert [role for role, _ in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "16 rows; columns: carrier, avg" in messages[2][1]
    assert "No query was produced" in messages[4][1]
    assert "SELECT carrier FROM flight WHERE carrier = 'UA'" in messages[-1][1]
    assert "Table with name flight does not exist" in messages[-1][1]


def test_explain_prompt_shows_at_most_20_rows_and_the_row_count() -> None:
    request = ExplainRequest(
        "delays",
        "SELECT * FROM flights",
        ["carrier", "delay"],
        [[f"C{i}", i] for i in range(50)],
        500,
        True,
        "en",
    )
    system, user = (m[1] for m in explain_messages(request))
    assert "English" in system and "1 to 3" in system
    assert "| C19 | 19 |" in user and "C20" not in user
    assert "the first 20 of 500 rows (the result was truncated)" in user


def test_values_found_in_the_question_are_hinted_and_their_tables_kept() -> None:
    from datasources.values import ValueMatch

    class Index:
        def search(self, text: str) -> list[ValueMatch]:
            return [
                ValueMatch("airports", "name", "John F Kennedy Intl", "Kennedy"),
                ValueMatch("omdb", "Cast", "Tom Hanks", "Hanks", in_list=True),
            ]

    user = sql_messages(SQLRequest("flights to Kennedy", BIG, values=Index()), max_tables=4)[-1][1]
    assert "\"Kennedy\": airports.name = 'John F Kennedy Intl'" in user
    assert "\"Hanks\": omdb.Cast LIKE '%Tom Hanks%'" in user
    assert "CREATE TABLE airports" in user
