"""A query past its memory bound ends the run with RESOURCE_LIMIT_EXCEEDED and a suggestion; the next one runs."""

from pathlib import Path

from datasources.registry import Registry
from datasources.sandbox import SandboxLimits
from graph.builder import build_graph
from graph.settings import Settings
from tests.graph.conftest import by_type, collect, make_context
from tests.graph.invariants import check_invariants
from tests.graph.test_workflow import QUESTION
from tests.support.scripted_writer import ScriptedWriter

GREEDY = "SELECT length(string_agg(a.tailnum, ',')) AS n FROM flights a, flights b"


async def test_memory_bound_becomes_resource_limit_exceeded(settings: Settings, tmp_path: Path) -> None:
    limits = SandboxLimits(memory_mb=128, threads=1, spill_mb=0, kill_grace_s=0.5)
    registry = Registry(settings.data_dir, max_rows=settings.max_rows, limits=limits)
    try:
        events = await collect(build_graph(settings=settings), QUESTION,
                               make_context(settings, registry, ScriptedWriter([GREEDY])))
        check_invariants(events)
        (error,) = by_type(events, "step_error")
        assert error["stepId"] == "step_005" and error["error"]["code"] == "RESOURCE_LIMIT_EXCEEDED"
        assert "memory" in error["error"]["message"]
        assert error["error"]["suggestion"].startswith("Aggregate or filter before sorting")
        assert events[-1]["type"] == "stream_error"
        result = await registry.connect("flights").run("SELECT count(*) FROM airlines", max_rows=1, timeout_s=10)
        assert result.rows == [[16]]
    finally:
        registry.close()
