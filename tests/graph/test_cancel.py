"""Cancelling a run stops the running node and the database query itself, and ends the stream cleanly."""

import asyncio
import time

from graph.builder import build_graph
from graph.events import start_run
from graph.settings import Settings
from tests.graph.conftest import make_context
from tests.graph.invariants import check_invariants
from tests.graph.test_workflow import QUESTION
from tests.support.scripted_writer import ScriptedWriter

HEAVY = "SELECT COUNT(*) AS n FROM flights a, flights b WHERE a.dep_delay * b.arr_delay > a.distance + b.distance"


async def test_cancel_interrupts_a_running_query(settings: Settings, registry) -> None:
    context = make_context(settings, registry, ScriptedWriter([HEAVY]))
    stream = start_run(build_graph(settings=settings), inputs=QUESTION, context=context, session_id="c")
    events = []
    cancelled_at = None
    async for event in stream:
        events.append(event.wire())
        # the database's own progress figure: the join (minutes if nobody stops it) is running in its worker
        if event.type == "step_progress" and event.step_id == "step_005" and event.progress is not None:
            if cancelled_at is None:
                await asyncio.sleep(0.2)
                cancelled_at = time.perf_counter()
                await stream.cancel()
    ended = time.perf_counter()
    check_invariants(events)
    assert cancelled_at is not None
    assert events[-1]["type"] == "stream_error" and events[-1]["error"]["code"] == "CANCELLED"
    assert events[-2]["type"] == "step_error" and events[-2]["stepId"] == "step_005"
    assert ended - cancelled_at < 1.0
    # the connection is usable at once: the interrupted query is not still running on it
    started = time.perf_counter()
    result = await registry.connect("flights").run("SELECT COUNT(*) FROM airlines", max_rows=5, timeout_s=5)
    assert result.rows == [[16]] and time.perf_counter() - started < 1.0
