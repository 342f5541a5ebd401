"""Routing decisions, shared by the graph's conditional edges and the event mapper's ``nextStep``."""

from __future__ import annotations

from typing import Any, Literal

from graph.settings import Settings
from graph.state import State

AfterExecute = Literal["generate_sql", "configure_chart", "present_result"]

_LINEAR: dict[str, str | None] = {
    "analyzing_question": "select_datasource",
    "select_datasource": "connect_db",
    "connect_db": "generate_sql",
    "generate_sql": "execute_query",
    "configure_chart": "present_result",
    "present_result": None,
}


def needs_repair(state: State | dict[str, Any]) -> bool:
    """True when the current SQL failed in a way a rewrite can fix."""
    return bool(state.get("needs_repair"))


def chart_skip_reason(state: State | dict[str, Any], settings: Settings) -> str | None:
    """Why the chart step should not run for this result, or None when it should."""
    if not settings.enable_charts:
        return "disabled"
    result = state.get("result")
    if not result or result["row_count"] == 0:
        return "empty"
    if result["row_count"] == 1 and len(result["columns"]) == 1:
        return "single_value"
    return None


def route_after_execute(state: State, settings: Settings) -> AfterExecute:
    """Failed SQL goes back for repair; a result worth charting goes to the chart; anything else is presented."""
    if needs_repair(state):
        return "generate_sql"
    return "present_result" if chart_skip_reason(state, settings) else "configure_chart"


def next_step(node: str, state: State | dict[str, Any], settings: Settings) -> str | None:
    """The node that runs after ``node`` given ``state`` (None after the last)."""
    if node == "execute_query":
        return route_after_execute(state, settings)  # type: ignore[arg-type]
    return _LINEAR.get(node)


# A retry of a failed step normally runs that step again from the checkpoint. A failed query is the
# exception: running the same statement again fails the same way, so its retry goes back through writing
# the SQL. Keys are failed nodes; values are the node whose completion the retry replays (the thread is
# rewound as if that node had just finished, so the next one runs).
_RETRY_AFTER: dict[str, str] = {"execute_query": "connect_db"}


def retry_rewind(failed_node: str | None) -> str | None:
    """The node to rewind the thread to before retrying ``failed_node``, or None to re-run it in place."""
    return _RETRY_AFTER.get(failed_node or "")


RETRY_RESET: dict[str, Any] = {"needs_repair": False, "sql_attempts": 0, "result": None}
"""State written with a rewind: a fresh statement with the full repair budget, no stale result."""
