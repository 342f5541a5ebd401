"""The protocol's stream invariants, checked on a list of wire events."""

from typing import Any

from graph.protocol import parse_event

TERMINAL = {"final_complete", "stream_error"}


def check_invariants(events: list[dict[str, Any]]) -> None:
    assert events, "a stream has at least its terminal event"
    for event in events:
        parse_event(event)  # every event validates against the protocol models
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1)), "sequence increases by one from 1"
    assert len({e["sessionId"] for e in events}) == 1
    terminals = [e for e in events if e["type"] in TERMINAL]
    assert len(terminals) == 1 and events[-1] is terminals[0], "exactly one terminal event, and it is last"
    open_steps: set[str] = set()
    for event in events:
        kind = event["type"]
        if kind == "step_start":
            assert event["step"]["id"] not in open_steps, "a step starts again only after it ended"
            open_steps.add(event["step"]["id"])
        elif kind in ("step_progress", "step_content"):
            assert event["stepId"] in open_steps, f"{kind} only for a running step"
        elif kind in ("step_complete", "step_error"):
            assert event["stepId"] in open_steps, f"{kind} ends a started step exactly once"
            open_steps.remove(event["stepId"])
    assert not open_steps, f"steps never ended: {open_steps}"
    if terminals[0]["type"] == "final_complete":
        assert not [e for e in events if e["type"] == "step_error"], "a successful run leaves no failed step"
