"""Large schemas through the whole graph: retrieval at the connect step, both writers on the retrieved part.

* PostgreSQL: a generated warehouse of 400 tables (``evals/large_schema.py``) in its own database; a question
  is answered by the offline writer and the connect step's output names the tables considered and why.
* The LLM path: the real OpenAI client against the local scripted server, on the same warehouse in DuckDB;
  the prompt holds the retrieved tables only.
"""

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from datasources.registry import DatasourceConfig, Registry
from datasources.server import ServerSpec
from evals.large_schema import build, build_duckdb, drop
from graph.builder import build_graph
from graph.settings import Settings
from llm.offline.writer import OfflineWriter
from llm.openai_writer import OpenAIWriter
from tests.graph.conftest import by_type, collect, make_context
from tests.graph.invariants import check_invariants
from tests.support.databases import PG_HOST, PG_PORT, pg_available, require
from tests.support.openai_server import OpenAIServer, Reply

pytestmark = pytest.mark.slow


def connect_output(events: list[dict]) -> str:
    return "".join(e["content"]["text"] for e in by_type(events, "step_content") if e["stepId"] == "step_003")


def connect_result(events: list[dict]) -> dict:
    return next(e for e in by_type(events, "step_complete") if e["stepId"] == "step_003")["result"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, retry_delay_scale=0.0, content_batch_ms=0)


@pytest.fixture
def pg_warehouse(settings: Settings) -> Iterator[Registry]:
    require(pg_available(), f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}")
    name = f"sqlbot_large_t{secrets.token_hex(5)}"
    build(name, tables=400)
    registry = Registry(settings.data_dir)
    spec = ServerSpec(type="postgresql", host=PG_HOST, port=PG_PORT, database=name, user="postgres")
    registry.add(DatasourceConfig(id="warehouse", name="Warehouse", type="postgresql", server=spec))
    try:
        yield registry
    finally:
        registry.close()
        drop(name)


async def test_a_question_on_400_postgresql_tables_is_answered_from_the_retrieved_tables(
    settings: Settings, pg_warehouse: Registry
) -> None:
    context = make_context(settings, pg_warehouse, OfflineWriter())
    question = {"question": "How many customers do we have in each segment?", "datasource_id": "warehouse", "locale": "en"}
    events = await collect(build_graph(settings=settings), question, context)
    check_invariants(events)
    assert events[-1]["type"] == "final_complete", events[-1]
    output = events[-1]["summary"]["output"]
    assert "crm_customers" in output["sql"] and output["rowCount"] == 3  # Consumer, Corporate, Home Office

    shown = connect_output(events)
    assert re.search(r"The schema has 400 tables \(~\d+ tokens\), over the prompt budget of 6000; \d+ considered", shown)
    assert "- crm_customers: name matches 'customer'" in shown
    assert "hr_payslips" not in shown
    retrieval = connect_result(events)["data"]["retrieval"]
    assert retrieval["applied"] and "crm_customers" in retrieval["tables"] and retrieval["tokens"] <= 6000
    assert len(retrieval["tables"]) < 100 and retrieval["schemaTokens"] > 6000

    # in Chinese: the same step output, worded in Chinese
    question = {"question": "各细分市场的客户数量 customers by segment", "datasource_id": "warehouse", "locale": "zh"}
    events = await collect(build_graph(settings=settings), question, context)
    assert "超出提示预算 6000" in connect_output(events) and "表名匹配“customer”" in connect_output(events)


async def test_the_llm_prompt_holds_only_the_retrieved_tables(
    settings: Settings, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    path = build_duckdb(tmp_path / "warehouse.duckdb", tables=300)
    registry = Registry(settings.data_dir)
    registry.add(DatasourceConfig(id="warehouse", name="Warehouse", type="duckdb", path=path))
    sql = (
        "SELECT c.carrier_name, AVG(s.shipping_cost) AS avg_cost FROM logistics_shipments s "
        "JOIN logistics_carriers c ON s.carrier_id = c.id GROUP BY c.carrier_name"
    )
    openai_server.push(Reply(f"```sql\n{sql}\n```"), Reply("DHL ships cheapest."))
    writer = OpenAIWriter(base_url=openai_server.base_url, model="scripted-model", api_key="x", timeout_s=5)
    tight = settings.model_copy(update={"schema_token_budget": 2000})
    try:
        question = {"question": "Average shipping cost per carrier", "datasource_id": "warehouse", "locale": "en"}
        events = await collect(build_graph(settings=tight), question, make_context(tight, registry, writer))
    finally:
        registry.close()
    check_invariants(events)
    assert events[-1]["type"] == "final_complete", events[-1]
    retrieved = connect_result(events)["data"]["retrieval"]["tables"]
    prompt = openai_server.chat_requests[0].text()
    in_prompt = re.findall(r"CREATE TABLE (\w+) \(", prompt)
    assert sorted(in_prompt) == sorted(retrieved), "the prompt holds exactly the retrieved tables"
    assert {"logistics_shipments", "logistics_carriers"} <= set(in_prompt)
    assert f"Relevant tables ({len(retrieved)} of 300)" in prompt
    assert "CREATE TABLE hr_payslips" not in prompt
