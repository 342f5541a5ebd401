"""Schema retrieval on a generated 300-table warehouse in DuckDB: ranking, foreign-key expansion, budgets."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from datasources.registry import DatasourceConfig, Registry
from datasources.schema import Schema
from datasources.values import ValueIndex
from evals.large_schema import DATASET, build_duckdb
from llm.prompts import render_schema
from llm.retrieval import ValuesWithin, count_tokens, reason_zh, retrieve, split_identifier, subschema, terms


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Schema, ValueIndex]]:
    data_dir = tmp_path_factory.mktemp("large")
    path = build_duckdb(data_dir / "large.duckdb", tables=300)
    registry = Registry(data_dir)
    registry.add(DatasourceConfig(id="large", name="Large", type="duckdb", path=path))
    try:
        yield registry.schema("large"), registry.values("large")
    finally:
        registry.close()


def test_identifiers_split_on_snake_and_camel_case() -> None:
    assert split_identifier("order_items") == ["order", "items"]
    assert split_identifier("orderItems") == ["order", "items"]
    assert split_identifier("HTTPRequestLog") == ["http", "request", "log"]
    assert terms("Shipping costs per carrier") == ["shipping", "cost", "carrier"]


def test_tokens_are_counted_with_a_real_bpe_tokenizer() -> None:
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0
    assert 5 < count_tokens("CREATE TABLE flights (carrier TEXT)") < 15


def test_a_schema_within_budget_is_used_whole(warehouse: tuple[Schema, ValueIndex]) -> None:
    schema, _ = warehouse
    small = subschema(schema, ["crm_customers", "sales_orders"])
    found = retrieve(small, "orders per customer", budget=6000)
    assert not found.applied and found.tables == ["crm_customers", "sales_orders"] and found.reasons == {}


def test_ranking_names_the_matching_tables_with_reasons(warehouse: tuple[Schema, ValueIndex]) -> None:
    schema, values = warehouse
    found = retrieve(schema, "Average shipping cost per carrier", budget=6000, values=values)
    assert found.applied and found.total_tables == 300
    assert found.tables[:2] == ["logistics_carriers", "logistics_shipments"] or set(found.tables[:3]) >= {
        "logistics_carriers",
        "logistics_shipments",
    }
    assert "name matches 'carrier'" in found.reasons["logistics_carriers"]
    assert any("shipping_cost" in r for r in found.reasons["logistics_shipments"])
    # a core table outranks its copies (_history, _archive …) that have the same columns
    copies = [t for t in found.tables if t.startswith(("logistics_shipments_", "logistics_carriers_"))]
    assert copies
    assert max(found.tables.index("logistics_shipments"), found.tables.index("logistics_carriers")) < min(
        found.tables.index(t) for t in copies
    )


def test_a_value_in_the_question_finds_its_table(warehouse: tuple[Schema, ValueIndex]) -> None:
    schema, values = warehouse
    found = retrieve(schema, "How many shipments did DHL deliver?", budget=1500, values=values)
    assert "value 'DHL' found in logistics_carriers.carrier_name" in found.reasons["logistics_carriers"]
    assert reason_zh("value 'DHL' found in logistics_carriers.carrier_name") == "值“DHL”见于 logistics_carriers.carrier_name"


def test_foreign_keys_bring_the_joined_tables(warehouse: tuple[Schema, ValueIndex]) -> None:
    schema, values = warehouse
    found = retrieve(schema, "Average salary by department", budget=1200, values=values)
    assert {"hr_employees", "hr_departments"} <= set(found.tables)
    found = retrieve(schema, "各部门的员工人数", budget=1200, values=values, locale="zh")
    assert "hr_departments" in found.tables
    assert any(r.startswith("joined to hr_employees by hr_employees.department_id") for r in found.reasons["hr_departments"])


def test_a_bridge_table_on_the_join_path_between_hits_is_kept(warehouse: tuple[Schema, ValueIndex]) -> None:
    schema, values = warehouse
    # plants and work orders match by name; production_lines is only the bridge between them
    found = retrieve(schema, "produced quantity per plant from work orders", budget=1000, values=values)
    assert {"manufacturing_plants", "manufacturing_work_orders", "manufacturing_production_lines"} <= set(found.tables)
    assert any(r.startswith("joins ") for r in found.reasons["manufacturing_production_lines"]) or any(
        r.startswith("joined to ") for r in found.reasons["manufacturing_production_lines"]
    )


def test_the_budget_is_kept_and_a_smaller_budget_keeps_fewer_tables(warehouse: tuple[Schema, ValueIndex]) -> None:
    schema, values = warehouse
    sizes = []
    for budget in (6000, 3000, 800):
        found = retrieve(schema, "Total revenue by product category", budget=budget, values=values)
        rendered = count_tokens(render_schema([t for t in schema.tables if t.name in found.tables], schema.dialect))
        assert found.tokens <= budget and rendered <= budget
        sizes.append(len(found.tables))
    assert sizes[0] > sizes[1] > sizes[2] >= 3


def test_nothing_matching_still_gives_the_best_connected_tables(warehouse: tuple[Schema, ValueIndex]) -> None:
    schema, _ = warehouse
    found = retrieve(schema, "zzz qqq", budget=800)
    assert found.tables and all("most-joined" in found.reasons[t][0] for t in found.tables)


def test_values_outside_the_retrieved_tables_are_hidden(warehouse: tuple[Schema, ValueIndex]) -> None:
    _, values = warehouse
    assert any(m.table == "logistics_carriers" for m in values.search("DHL"))
    assert ValuesWithin(values, ["sales_orders"]).search("DHL") == []
    assert ValuesWithin(values, ["logistics_carriers"]).lookup("dhl")


def test_recall_of_gold_tables_on_the_question_set(warehouse: tuple[Schema, ValueIndex]) -> None:
    schema, values = warehouse
    names = {t.name for t in schema.tables}
    cases = [json.loads(line) for line in Path(DATASET).read_text().splitlines()]
    cases = [c for c in cases if set(c["gold_tables"]) <= names]
    assert len(cases) >= 50
    found = total = 0
    for case in cases:
        kept = set(retrieve(schema, case["question"], budget=3000, values=values, locale=case["locale"]).tables)
        found += len(set(case["gold_tables"]) & kept)
        total += len(case["gold_tables"])
    assert found / total >= 0.95


def test_a_retrieved_part_is_a_consistent_schema_of_its_own(warehouse: tuple[Schema, ValueIndex]) -> None:
    schema, _ = warehouse
    part = subschema(schema, ["logistics_shipments", "logistics_carriers"])
    other = subschema(schema, ["logistics_shipments", "sales_orders"])
    assert [t.name for t in part.tables] == ["logistics_carriers", "logistics_shipments"]
    refs = {fk.ref_table for t in part.tables for fk in t.foreign_keys}
    assert refs == {"logistics_carriers"}, "keys to tables left out are dropped"
    assert len({schema.version, part.version, other.version}) == 3, "caches keyed by version never mix parts"


def test_glossary_terms_and_examples_pin_the_tables_they_use(warehouse: tuple[Schema, ValueIndex]) -> None:
    from knowledge.models import ExampleMatch, GlossaryEntry, KnowledgeBundle, SQLExample
    from nodes.connect_db import knowledge_tables

    schema, values = warehouse
    # a unique column of one table, and another table no word of the question names
    by_col: dict[str, list[str]] = {}
    for t in schema.tables:
        for c in t.columns:
            by_col.setdefault(c.name, []).append(t.name)
    column, (owner,) = next((c, ts) for c, ts in sorted(by_col.items()) if len(ts) == 1)
    other = next(t.name for t in schema.tables if t.name != owner)
    bundle = KnowledgeBundle(
        glossary=(GlossaryEntry(term="KPI", expression=f"SUM({column})", datasource="large"),),
        examples=(ExampleMatch(SQLExample(question="the usual report", sql=f"SELECT COUNT(*) FROM {other}", datasource="large"), 90.0),),
    )
    pins = knowledge_tables(bundle, schema)
    assert pins == {owner: "glossary term 'KPI'", other: "SQL example 'the usual report'"}
    got = retrieve(schema, "KPI for the usual report", budget=2000, values=values, pinned=pins)
    assert owner in got.tables and other in got.tables
    assert "glossary term 'KPI'" in got.reasons[owner] and "SQL example 'the usual report'" in got.reasons[other]
