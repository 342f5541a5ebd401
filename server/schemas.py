"""Request and response bodies of the REST API (camelCase on the wire, like the event protocol)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from datasources.secrets import Secret, env_reference
from datasources.server import DEFAULT_PORTS, ServerSpec, parse_server_url
from server.store import Chat, Record

MAX_QUESTION = 2000
MAX_INT = 2**53 - 1
"""Upper bound of every integer a client sends (query parameters, headers): exact in JSON and in SQLite."""
PREVIEW_ROWS = 20


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class QuestionRequest(BaseModel):
    """A question for a chat. Accepts SQLBot's snake_case field names and camelCase ones."""

    model_config = ConfigDict(extra="ignore")

    question: str = Field(min_length=1, max_length=MAX_QUESTION, description="The question, 1-2000 characters.")
    chat_id: str | None = Field(
        None, validation_alias=AliasChoices("chat_id", "chatId"), description="Continue this chat; omit to start one."
    )
    datasource_id: str | None = Field(
        None,
        validation_alias=AliasChoices("datasource_id", "datasourceId", "datasource"),
        description="Ask this datasource; omit to let the graph choose (or keep the chat's).",
    )
    locale: Literal["zh", "en"] | None = Field(None, description="Language of titles and messages.")
    enhanced_streaming: bool = Field(
        False,
        validation_alias=AliasChoices("enhanced_streaming", "enhancedStreaming"),
        description="Stream the step protocol instead of the legacy frames.",
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped:
            raise ValueError("the question is empty")
        return stripped

    @field_validator("chat_id", "datasource_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # SQLBot clients send numeric ids.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class RetryRequest(BaseModel):
    """Optionally name the step to retry (it must be the one that failed)."""

    model_config = ConfigDict(extra="ignore")

    step_id: str | None = Field(None, validation_alias=AliasChoices("stepId", "step_id"), pattern=r"^step_\d{3}$")


class RunStatus(_Out):
    """Where a run stands."""

    run_id: str
    chat_id: str
    status: str
    last_sequence: int
    listeners: int
    done: bool


class CancelResult(_Out):
    """The outcome of a cancel request."""

    run_id: str
    status: str = Field(description="The run's status after the cancel (cancelled, or how it had already ended).")


class RecordData(BaseModel):
    """A record's result rows as SQLBot's ``/chat/record/{id}/data`` returns them."""

    fields: list[str]
    data: list[dict[str, Any]]


class StepOut(_Out):
    """One step of a record."""

    step_id: str
    name: str
    status: str
    duration: int | None = None
    reused: bool = False


class RecordOut(_Out):
    """One question of a chat and its outcome."""

    id: str
    chat_id: str
    question: str
    locale: str | None
    kind: str
    status: str
    datasource: dict[str, Any] | None
    sql: str | None
    columns: list[str] | None
    preview: list[list[Any]] | None = Field(description=f"The first {PREVIEW_ROWS} result rows.")
    row_count: int | None
    truncated: bool | None
    chart: dict[str, Any] | None
    explanation: str | None
    steps: list[StepOut]
    error: dict[str, Any] | None
    failed_step: str | None
    timings: dict[str, Any]
    attempts: int
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, r: Record) -> RecordOut:
        """The API view of a stored record."""
        return cls(
            id=r.id, chat_id=r.chat_id, question=r.question, locale=r.locale, kind=r.kind, status=r.status,
            datasource=r.datasource, sql=r.sql, columns=r.columns,
            preview=r.rows[:PREVIEW_ROWS] if r.rows is not None else None,
            row_count=r.row_count, truncated=r.truncated, chart=r.chart, explanation=r.explanation,
            steps=[StepOut(step_id=s.step_id, name=s.name, status=s.status, duration=s.duration, reused=s.reused)
                   for s in r.steps],
            error=r.error, failed_step=r.failed_step, timings=r.timings, attempts=r.attempts,
            created_at=r.created_at, updated_at=r.updated_at,
        )


class ChatOut(_Out):
    """A chat in a list."""

    id: str
    title: str
    datasource_id: str | None
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, c: Chat) -> ChatOut:
        """The API view of a stored chat."""
        return cls(id=c.id, title=c.title, datasource_id=c.datasource_id, created_at=c.created_at,
                   updated_at=c.updated_at)


class ChatDetail(ChatOut):
    """A chat with its records, oldest first."""

    records: list[RecordOut]


class Deleted(_Out):
    """What a delete removed."""

    id: str
    deleted: bool = True


class ConnectionOut(_Out):
    """Where a database-server datasource connects; the password is never included."""

    host: str
    port: int
    database: str
    user: str
    schemas: list[str]
    has_password: bool = Field(description="A password is stored, or referenced as ${NAME} in the URL.")
    url: str = Field(description="The connection URL with the password shown as *** (or its ${NAME} reference).")
    password_env: str | None = Field(None, description="The environment variable holding the password, if any.")


class DatasourceOut(_Out):
    """A registered datasource."""

    id: str
    name: str
    name_zh: str
    type: str
    description_en: str
    description_zh: str
    is_demo: bool
    connection: ConnectionOut | None = Field(None, description="Database servers only: the connection settings.")


class DatasourceDetail(DatasourceOut):
    """A datasource with its schema (tables, columns, descriptions)."""

    db_schema: dict[str, Any] = Field(serialization_alias="schema", alias="schema")
    instruction: str = Field("", description="The datasource's instruction for the SQL writers (knowledge).")


class DatasourceCreate(BaseModel):
    """Register a DuckDB or SQLite file that lives inside the data directory."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="1-64 lower-case letters, digits, _ or -.")
    type: Literal["duckdb", "sqlite"]
    path: str = Field(min_length=1, max_length=1024, description="File path, relative to the data directory.")
    name: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)

    @field_validator("path")
    @classmethod
    def _plain_path(cls, value: str) -> str:
        # A NUL makes every os call raise ValueError; other control characters are never part of a real name.
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("the path contains a NUL or another control character")
        return value


class DatabaseCreate(BaseModel):
    """Register (or test, or edit) a PostgreSQL or MySQL/MariaDB database: a URL or discrete fields.

    Discrete fields override the matching parts of the URL. A password written as ``${NAME}`` is read from
    that environment variable when connecting; any other password goes to the 0600 secret store.
    """

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="1-64 lower-case letters, digits, _ or -.")
    type: Literal["postgresql", "mysql"]
    name: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)
    url: str | None = Field(None, max_length=2048, description="postgresql://user:password@host:5432/db or mysql://...")
    host: str | None = Field(None, max_length=255)
    port: int | None = Field(None, ge=1, le=65535)
    database: str | None = Field(None, max_length=255)
    user: str | None = Field(None, max_length=255)
    password: str | None = Field(None, max_length=1024, description="Empty or missing on an edit: keep the stored one.")
    schemas: list[str] | None = Field(None, max_length=32, description="PostgreSQL schemas (default: public).")

    @field_validator("schemas")
    @classmethod
    def _schema_names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = [v.strip() for v in value if v.strip()]
        if any(len(n) > 63 for n in names):
            raise ValueError("a schema name is at most 63 characters")
        return names

    def __repr__(self) -> str:  # a traceback or log line that shows the body must not show the password
        return f"DatabaseCreate(id={self.id!r}, type={self.type!r}, host={self.host!r}, password=***)"

    __str__ = __repr__

    def to_spec(self) -> tuple[ServerSpec, Secret | None]:
        """The server spec and the typed password (None when none was typed or it is an env reference).

        Raises:
            InvalidDatasource: the URL is not valid, or neither a URL nor host and database were given.
        """
        from datasources.errors import InvalidDatasource

        if self.url:
            spec, secret = parse_server_url(self.url, self.type)
        else:
            if not self.host or not self.database:
                raise InvalidDatasource("Give a connection URL, or at least host and database.")
            spec, secret = ServerSpec(self.type, self.host, DEFAULT_PORTS[self.type], self.database, self.user or ""), None
        env = env_reference(self.password)
        if self.password and env:
            spec, secret = ServerSpec(**{**spec.__dict__, "password_env": env}), None
        elif self.password:
            spec, secret = ServerSpec(**{**spec.__dict__, "password_env": ""}), Secret(self.password)
        overrides: dict[str, Any] = {k: v for k, v in (("host", self.host), ("port", self.port), ("database", self.database),
                                        ("user", self.user)) if v not in (None, "")}
        if self.schemas is not None:
            overrides["schemas"] = tuple(self.schemas)
        return ServerSpec(**{**spec.__dict__, **overrides}), secret


class TestResult(_Out):
    """The outcome of a connection test."""

    id: str
    ok: bool
    latency_ms: float | None = None
    server_version: str | None = Field(None, description="e.g. PostgreSQL 15.20, MariaDB 10.11.19, DuckDB 1.4.0.")
    message: str | None = None
    code: str | None = Field(None, description="DATABASE_CONNECTION_FAILED (or INVALID_DATASOURCE) when not ok.")
    suggestion: str | None = Field(None, description="What to check when not ok.")


class Health(_Out):
    """Liveness and load."""

    status: Literal["ok"] = "ok"
    version: str
    active_runs: int
    writer: str
    ready: bool = True
    """False while the start-up warm-up (demo builds, schemas, value indexes) is still running."""
    event_log: Literal["memory", "redis"] = "memory"
    """Where run events live: this process's memory (the embedded default) or Redis shared by the workers."""
    event_log_ok: bool = True
    """False while Redis cannot be reached: runs in progress end with EVENT_LOG_UNAVAILABLE, new questions get 503."""
    chat_store: Literal["sqlite", "postgres"] = "sqlite"
    """Where chats and records are kept."""
