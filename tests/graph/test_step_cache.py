"""Step caching: a repeated question reuses the connect step; a changed database is never served stale."""

import duckdb

from datasources.registry import DatasourceConfig
from graph.builder import build_graph
from graph.settings import Settings
from tests.graph.conftest import by_type, collect, make_context
from tests.graph.invariants import check_invariants
from tests.support.scripted_writer import ScriptedWriter


def connect_result(events):
    return next(e for e in by_type(events, "step_complete") if e["stepId"] == "step_003")["result"]


async def test_repeat_hits_the_cache_and_a_schema_change_misses_it(settings: Settings, registry) -> None:
    path = settings.data_dir / "cache_probe.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE orders AS SELECT 1 AS id, 10.5 AS amount")
    registry.add(DatasourceConfig(id="cache_probe", name="Cache probe", type="duckdb", path=path))
    try:
        graph = build_graph(settings=settings)  # one compiled graph: one step cache
        context = make_context(settings, registry, ScriptedWriter(["SELECT SUM(amount) AS total FROM orders"]))
        question = {"question": "total amount", "datasource_id": "cache_probe", "locale": "en"}

        first = await collect(graph, question, context)
        second = await collect(graph, question, context)
        check_invariants(first)
        check_invariants(second)
        assert not connect_result(first).get("cached")
        assert connect_result(second)["cached"] is True
        assert connect_result(second)["data"]["tables"] == ["orders"]

        registry.connect("cache_probe").close()  # let another writer at the file, as an ETL job would
        registry.close()
        with duckdb.connect(str(path)) as conn:
            conn.execute("CREATE TABLE customers AS SELECT 1 AS id, 'Ada' AS name")
        third = await collect(graph, question, context)
        check_invariants(third)
        assert not connect_result(third).get("cached"), "the file changed: its fingerprint, and so the key, changed"
        assert sorted(connect_result(third)["data"]["tables"]) == ["customers", "orders"]
        assert connect_result(third)["data"]["schemaVersion"] != connect_result(first)["data"]["schemaVersion"]
    finally:
        registry.remove("cache_probe")
