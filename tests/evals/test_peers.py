"""The stand-in model answers the peers' real prompts, so every system finishes the same question."""

import warnings
from pathlib import Path

from datasources.demo import ensure_demo
from evals.peers import ANSWER, LangChainSQLAgent, LangGraphReActAgent, StandIn, sql_database

QUESTION = "How many movies came out in 2010?"
GOLD = "SELECT COUNT(*) FROM omdb WHERE Year = 2010"


async def test_both_peers_finish_with_list_schema_query_answer(demo_data_dir: Path) -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    db = sql_database(ensure_demo(demo_data_dir, "movies"))
    with StandIn({QUESTION: GOLD}) as server:
        for agent in (LangChainSQLAgent(db, server.base_url), LangGraphReActAgent(db, server.base_url)):
            before = len(server.chat_requests)
            run = await agent.ask(QUESTION)
            assert run.finished and ANSWER in run.answer
            assert len(server.chat_requests) - before == 4  # list tables, schema, query, answer
        tool_request = server.chat_requests[-2].body
        assert any(m.get("role") == "tool" for m in tool_request["messages"])
