"""The follow-up dev set through the chat path: each chat runs turn by turn in one thread, the last turn is judged."""

from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from evals.followups import FOLLOWUPS, Chat, load_chats, run_chats
from graph.builder import build_graph
from graph.context import Context, StepTimings
from graph.events import start_run
from graph.settings import Settings
from llm.offline import OfflineWriter

TARGET = 0.80


@pytest.fixture(scope="module")
def settings(demo_data_dir: Path) -> Settings:
    return Settings(data_dir=demo_data_dir, retry_delay_scale=0.0, content_batch_ms=0)


def test_followup_set_shape() -> None:
    chats = load_chats(FOLLOWUPS)
    assert len(chats) >= 30
    assert sum(c.locale == "zh" for c in chats) >= len(chats) / 3
    assert all(2 <= len(c.turns) <= 3 for c in chats)
    assert {c.datasource for c in chats} == {"flights", "superstore", "movies"}


@pytest.mark.slow
async def test_followup_chats_meet_target(registry: Any, settings: Settings) -> None:
    report = await run_chats(load_chats(FOLLOWUPS), registry, settings)
    print(report.format())
    assert report.accuracy >= TARGET, report.format()
    assert report.precision >= 0.9, report.format()


async def test_readback_says_what_was_carried_over(registry: Any, settings: Settings) -> None:
    chat = Chat("x", "superstore", "zh", ("各地区的总销售额", "那利润呢"), ("SELECT region, SUM(profit) FROM superstore GROUP BY region",))
    report = await run_chats([chat], registry, settings)
    outcome = report.outcomes[0]
    assert outcome.correct, report.format()
    assert outcome.interpretation is not None and "沿用上一问" in outcome.interpretation and "profit" in outcome.interpretation


async def test_a_follow_up_it_cannot_tie_is_refused_not_answered_alone(registry: Any, settings: Settings) -> None:
    graph = build_graph(settings=settings, checkpointer=InMemorySaver())
    context = Context(settings=settings, registry=registry, writer=OfflineWriter(), timings=StepTimings())
    config = {"configurable": {"thread_id": "fu-refuse"}}
    for question in ("total sales by region", "what about the weather on Mars?"):
        events = [e.wire() async for e in start_run(graph, inputs={"question": question, "datasource_id": "superstore"}, context=context, config=config, session_id="r")]  # type: ignore[arg-type]
    last = events[-1]
    assert last["type"] == "stream_error" and last["error"]["code"] in ("SQL_GENERATION_FAILED", "INVALID_QUESTION")
    assert last["error"]["suggestion"]
