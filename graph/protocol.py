"""The step-streaming protocol: one Pydantic model per event type, the single source of truth.

Field names are snake_case in Python and camelCase on the wire (``stepId``, ``canRetry``, ...). The JSON
Schema served at ``/api/protocol/schema`` and the web client's TypeScript types are generated from these
models (see :func:`protocol_json_schema`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel


def utc_now() -> str:
    """UTC ISO 8601 timestamp with milliseconds and a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ErrorCode(StrEnum):
    """The proposal's error codes, plus CANCELLED for a run the user stopped and the scale-out codes."""

    NETWORK_ERROR = "NETWORK_ERROR"
    TIMEOUT_ERROR = "TIMEOUT_ERROR"
    INVALID_QUESTION = "INVALID_QUESTION"
    DATASOURCE_NOT_FOUND = "DATASOURCE_NOT_FOUND"
    DATABASE_CONNECTION_FAILED = "DATABASE_CONNECTION_FAILED"
    SQL_GENERATION_FAILED = "SQL_GENERATION_FAILED"
    SQL_SYNTAX_ERROR = "SQL_SYNTAX_ERROR"
    SQL_EXECUTION_FAILED = "SQL_EXECUTION_FAILED"
    NO_DATA_RETURNED = "NO_DATA_RETURNED"
    CHART_CONFIG_FAILED = "CHART_CONFIG_FAILED"
    CHART_RENDER_FAILED = "CHART_RENDER_FAILED"
    LLM_SERVICE_ERROR = "LLM_SERVICE_ERROR"
    INSUFFICIENT_PERMISSIONS = "INSUFFICIENT_PERMISSIONS"
    RESOURCE_LIMIT_EXCEEDED = "RESOURCE_LIMIT_EXCEEDED"
    CANCELLED = "CANCELLED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    WORKER_LOST = "WORKER_LOST"
    EVENT_LOG_UNAVAILABLE = "EVENT_LOG_UNAVAILABLE"
    COLUMN_NOT_PERMITTED = "COLUMN_NOT_PERMITTED"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        """The event as sent: camelCase keys, ``None`` fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StepInfo(_Model):
    """The step that is starting."""

    id: str = Field(description="Protocol step id, step_001 ... step_007 in workflow order.")
    name: str = Field(description="The graph node name, e.g. generate_sql.")
    title: str = Field(description="Title in the run's locale.")
    description: str = Field(description="What the step is doing, in the run's locale.")
    status: Literal["running"] = "running"
    start_time: str = Field(default_factory=utc_now, description="UTC ISO 8601 start time.")
    estimated_duration: int | None = Field(None, description="Expected duration in ms, from recent measurements.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="attempt, repair, optional, reused ...")


class NextStep(_Model):
    """The step that will run after the one that completed."""

    id: str
    name: str
    title: str
    estimated_delay: int | None = Field(None, description="Expected ms until it starts.")


class StepResult(_Model):
    """What a completed step produced."""

    summary: str = Field(description="One line a person can read, in the run's locale.")
    data: Any = Field(None, description="Step-specific output (SQL, datasource, row count, chart ...).")
    duration: int = Field(description="Measured duration in ms.")
    skipped: bool | None = Field(None, description="True when an optional step decided not to run.")
    cached: bool | None = Field(None, description="True when the result came from the step cache.")
    reused: bool | None = Field(None, description="True when a retry reused the result of an earlier run.")


class ContentPiece(_Model):
    """A piece of streamed output."""

    text: str = Field("", description="New visible text (SQL or explanation).")
    reasoning: str | None = Field(None, description="New reasoning text.")
    metadata: dict[str, Any] | None = Field(None, description="kind: sql | explanation | trace.")


class ErrorInfo(_Model):
    """A failure, written for the person who asked."""

    code: ErrorCode
    title: str
    message: str
    suggestion: str | None = None
    can_retry: bool
    level: Literal["warning", "error", "critical"] = "error"
    detail: str | None = Field(None, description="Technical detail (database message, exception).")


class FinalOutput(_Model):
    """The answer."""

    sql: str | None = None
    columns: list[str] | None = None
    data: list[dict[str, Any]] | None = Field(None, description="Result rows as objects keyed by column.")
    row_count: int | None = None
    truncated: bool | None = None
    chart: dict[str, Any] | None = None
    explanation: str | None = None
    interpretation: str | None = Field(
        None,
        description="What the question was understood as, in the run's locale (filters, grouping, order, limit), "
        "so a person can catch a wrong reading. None when the writer gives no readback.",
    )
    datasource: dict[str, Any] | None = None


class FinalSummary(_Model):
    """Totals for the run."""

    total_duration: int = Field(description="Wall time of the run in ms.")
    completed_steps: int
    failed_steps: int
    skipped_steps: int = 0
    output: FinalOutput


class _Event(_Model):
    timestamp: str = Field(default_factory=utc_now)
    sequence: int = Field(description="Strictly increasing from 1 within one stream.")
    session_id: str = Field(description="The run this event belongs to.")


class StepStartEvent(_Event):
    """A step started."""

    type: Literal["step_start"] = "step_start"
    step: StepInfo


class StepProgressEvent(_Event):
    """A step made measurable progress, or says what it is doing."""

    type: Literal["step_progress"] = "step_progress"
    step_id: str
    progress: int | None = Field(None, ge=0, le=100, description="0-100 when measurable; absent otherwise.")
    message: str | None = None


class StepContentEvent(_Event):
    """A step streamed output."""

    type: Literal["step_content"] = "step_content"
    step_id: str
    content: ContentPiece


class StepCompleteEvent(_Event):
    """A step finished successfully (or was skipped, or reused)."""

    type: Literal["step_complete"] = "step_complete"
    step_id: str
    result: StepResult
    next_step: NextStep | None = None


class StepErrorEvent(_Event):
    """A step failed."""

    type: Literal["step_error"] = "step_error"
    step_id: str
    error: ErrorInfo


class FinalCompleteEvent(_Event):
    """The run finished with an answer. Always the last event of a successful stream."""

    type: Literal["final_complete"] = "final_complete"
    summary: FinalSummary


class StreamErrorEvent(_Event):
    """The run ended without an answer. Always the last event of a failed or cancelled stream."""

    type: Literal["stream_error"] = "stream_error"
    error: ErrorInfo
    step_id: str | None = Field(None, description="The step that failed, when one did.")


Event = Annotated[
    StepStartEvent
    | StepProgressEvent
    | StepContentEvent
    | StepCompleteEvent
    | StepErrorEvent
    | FinalCompleteEvent
    | StreamErrorEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
TERMINAL_TYPES = frozenset({"final_complete", "stream_error"})


def parse_event(data: dict[str, Any]) -> Event:
    """Validate a wire-format event back into its model."""
    return EVENT_ADAPTER.validate_python(data)


def protocol_json_schema() -> dict[str, Any]:
    """JSON Schema of every event, in wire (camelCase) form."""
    return EVENT_ADAPTER.json_schema(by_alias=True, mode="serialization")
