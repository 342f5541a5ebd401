"""The protocol models: camelCase on the wire, millisecond UTC timestamps, a JSON Schema for every event."""

import json
import re
from pathlib import Path

from graph.protocol import (
    ContentPiece,
    ErrorCode,
    ErrorInfo,
    StepContentEvent,
    StepErrorEvent,
    parse_event,
    protocol_json_schema,
)

SNAPSHOT = Path(__file__).parent / "snapshots" / "protocol.schema.json"


def test_wire_format_is_camel_case_with_ms_timestamps() -> None:
    event = StepErrorEvent(
        sequence=3, session_id="s", step_id="step_005",
        error=ErrorInfo(code=ErrorCode.SQL_SYNTAX_ERROR, title="t", message="m", suggestion="s", can_retry=True),
    )
    wire = event.wire()
    assert set(wire) == {"type", "timestamp", "sequence", "sessionId", "stepId", "error"}
    assert wire["error"]["canRetry"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", wire["timestamp"])
    assert parse_event(json.loads(json.dumps(wire))) == event


def test_content_event_round_trip() -> None:
    event = StepContentEvent(sequence=1, session_id="s", step_id="step_004", content=ContentPiece(text="SELECT", metadata={"kind": "sql"}))
    assert parse_event(event.wire()) == event


def test_json_schema_snapshot() -> None:
    schema = protocol_json_schema()
    names = {d["properties"]["type"]["const"] for d in schema["$defs"].values() if "type" in d.get("properties", {}) and "const" in d["properties"]["type"]}
    assert names == {"step_start", "step_progress", "step_content", "step_complete", "step_error", "final_complete", "stream_error"}
    text = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if not SNAPSHOT.exists():
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text(), "protocol changed: regenerate the snapshot and the web client's types"
