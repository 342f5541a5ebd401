"""Property-based: whatever step fails, and whenever the run is cancelled, the stream keeps its invariants."""

import asyncio
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from datasources.errors import ConnectionFailed
from graph.builder import build_graph
from graph.events import start_run
from graph.settings import Settings
from llm.base import WriterError
from tests.graph.conftest import make_context
from tests.graph.invariants import check_invariants
from tests.graph.test_cancel import HEAVY
from tests.graph.test_workflow import BAD_COLUMN, GOOD, QUESTION
from tests.support.scripted_writer import ScriptedWriter


class RefusingRegistry:
    """The real registry, except that connecting fails (an unreachable database)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def connect(self, datasource_id: str) -> Any:
        raise ConnectionFailed(f"{datasource_id}: connection refused")


FAULTS: dict[str, tuple[dict[str, Any], list[Any], Any, str | None]] = {
    # name: (question overrides, writer answers, explanation, expected error code or None for success)
    "none": ({}, [GOOD], "ok", None),
    "repaired": ({}, [BAD_COLUMN, GOOD], "ok", None),
    "empty_question": ({"question": ""}, [GOOD], "ok", "INVALID_QUESTION"),
    "unknown_datasource": ({"datasource_id": "missing"}, [GOOD], "ok", "DATASOURCE_NOT_FOUND"),
    "unreachable_database": ({}, [GOOD], "ok", "DATABASE_CONNECTION_FAILED"),
    "writer_gives_up": ({}, [WriterError("?", kind="not_understood")], "ok", "SQL_GENERATION_FAILED"),
    "writer_crashes": ({}, [RuntimeError("boom")], "ok", "INTERNAL_ERROR"),
    "model_down": ({}, [WriterError("down", kind="model_unavailable", detail="connection refused")], "ok", "NETWORK_ERROR"),
    "bad_sql_forever": ({}, [BAD_COLUMN], "ok", "SQL_EXECUTION_FAILED"),
    "query_too_slow": ({}, [HEAVY], "ok", "RESOURCE_LIMIT_EXCEEDED"),
    "explain_crashes": ({}, [GOOD], RuntimeError("boom"), "INTERNAL_ERROR"),
}


async def run_case(settings: Settings, registry: Any, fault: str, cancel_at: int | None) -> list[dict[str, Any]]:
    overrides, answers, explanation, _ = FAULTS[fault]
    if fault == "unreachable_database":
        registry = RefusingRegistry(registry)
    if fault == "query_too_slow":
        settings = settings.model_copy(update={"query_timeout_s": 0.3})
    context = make_context(settings, registry, ScriptedWriter(answers, explanation=explanation))
    stream = start_run(build_graph(settings=settings), inputs={**QUESTION, **overrides}, context=context, session_id="p")
    events = []
    async for event in stream:
        events.append(event.wire())
        if cancel_at is not None and len(events) == cancel_at:
            await stream.cancel()
    return events


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fault=st.sampled_from(sorted(FAULTS)), cancel_at=st.none() | st.integers(min_value=1, max_value=40))
def test_stream_invariants_hold_under_failures_and_cancels(settings: Settings, registry: Any, fault: str, cancel_at: int | None) -> None:
    events = asyncio.run(run_case(settings, registry, fault, cancel_at))
    check_invariants(events)
    expected = FAULTS[fault][3]
    last = events[-1]
    if last["type"] == "stream_error" and last["error"]["code"] == "CANCELLED":
        assert cancel_at is not None
    elif expected is None:
        assert last["type"] == "final_complete"
    else:
        assert last["type"] == "stream_error" and last["error"]["code"] == expected
        assert last["error"]["message"] and last["error"]["suggestion"]
