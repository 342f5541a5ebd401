"""Chart choice from column kinds and cardinality (time → line, category + measure → bar/column, share → pie)."""

from nodes.configure_chart import choose_chart


def result(columns, types, rows):
    return {"columns": columns, "column_types": types, "rows": rows, "row_count": len(rows), "truncated": False, "elapsed_ms": 1.0}


def test_time_series_is_a_line() -> None:
    chart = choose_chart(result(["month", "flights"], ["INTEGER", "BIGINT"], [[m, 100 + m] for m in range(1, 13)]), "flights per month")
    assert chart["type"] == "line" and chart["axis"]["x"]["value"] == "month" and chart["axis"]["y"] == [{"name": "flights", "value": "flights"}]


def test_few_categories_are_columns_many_are_bars() -> None:
    few = choose_chart(result(["region", "sales"], ["VARCHAR", "DOUBLE"], [["East", 1.0], ["West", 2.0], ["South", 3.0]]), "sales by region")
    many = choose_chart(result(["city", "sales"], ["VARCHAR", "DOUBLE"], [[f"c{i}", float(i)] for i in range(30)]), "sales by city")
    assert few["type"] == "column" and many["type"] == "bar"


def test_share_question_is_a_pie() -> None:
    chart = choose_chart(result(["segment", "sales"], ["VARCHAR", "DOUBLE"], [["A", 1.0], ["B", 2.0], ["C", 3.0]]), "各细分市场的销售额占比")
    assert chart["type"] == "pie"


def test_code_and_name_chart_by_the_name() -> None:
    rows = [["AA", "American", 8.6], ["UA", "United", 12.1], ["DL", "Delta", 9.3]]
    chart = choose_chart(result(["carrier", "name", "avg_delay"], ["VARCHAR", "VARCHAR", "DOUBLE"], rows), "delay by airline")
    assert chart["type"] == "column" and chart["axis"]["x"]["value"] == "name"


def test_two_dimensions_use_a_series() -> None:
    rows = [[r, c, 1.0] for r in ("East", "West") for c in ("Furniture", "Technology")]
    chart = choose_chart(result(["region", "category", "sales"], ["VARCHAR", "VARCHAR", "DOUBLE"], rows), "sales by region and category")
    assert chart["type"] == "column" and chart["axis"]["series"]["value"] == "category"


def test_text_only_result_is_a_table() -> None:
    assert choose_chart(result(["title", "director"], ["VARCHAR", "VARCHAR"], [["a", "b"]]), "list movies") is None
