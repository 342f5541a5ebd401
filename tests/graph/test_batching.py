"""Content chunks are coalesced within the batching window; the first chunk is never delayed."""

import time

from graph.builder import build_graph
from graph.events import start_run
from graph.settings import Settings
from tests.graph.conftest import make_context
from tests.graph.invariants import check_invariants
from tests.graph.test_workflow import GOOD, QUESTION
from tests.support.scripted_writer import ScriptedWriter


async def stream_sql(settings: Settings, registry, batch_ms: int) -> tuple[list[dict], list[float]]:
    settings = settings.model_copy(update={"content_batch_ms": batch_ms})
    writer = ScriptedWriter([GOOD], chunk_size=4, delay_s=0.005)  # ~40 chunks, one every 5 ms
    events, times = [], []
    stream = start_run(build_graph(settings=settings), inputs=QUESTION, context=make_context(settings, registry, writer), session_id="b")
    async for event in stream:
        events.append(event.wire())
        times.append(time.perf_counter())
    return events, times


async def test_batching_coalesces_and_keeps_every_character(settings: Settings, registry) -> None:
    raw, _ = await stream_sql(settings, registry, 0)
    batched, times = await stream_sql(settings, registry, 50)
    check_invariants(batched)

    def sql_events(events):
        return [e for e in events if e["type"] == "step_content" and e["content"]["metadata"]["kind"] == "sql" and e["content"]["text"]]

    assert "".join(e["content"]["text"] for e in sql_events(batched)) == GOOD
    assert len(sql_events(raw)) >= 30
    assert len(sql_events(batched)) <= len(sql_events(raw)) / 3
    # the first chunk after a quiet spell goes out alone, at once; what follows within the window is coalesced
    first = next(e for e in batched if e["type"] == "step_content" and e["stepId"] == "step_004")
    assert first["content"] == {"text": "", "reasoning": "attempt 1\n", "metadata": {"kind": "sql"}}
