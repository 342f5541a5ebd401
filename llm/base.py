"""The one interface both SQL writers implement: the LLM writer and the offline writer.

A writer turns a question plus a schema into one SQL statement and, separately, turns a query result into
a short explanation. Both stream what they produce through an ``emit`` callback so the graph can show it
live; the callback receives :class:`Chunk` objects and must not block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from datasources.schema import Schema
from knowledge.models import KnowledgeBundle

Locale = Literal["zh", "en"]


@dataclass(frozen=True)
class Chunk:
    """A piece of streamed writer output."""

    text: str = ""
    """Visible output (SQL being written, or explanation text)."""
    reasoning: str = ""
    """Reasoning/thinking output shown separately from the answer."""


Emit = Callable[[Chunk], None]


@dataclass(frozen=True)
class Turn:
    """A previous question in the same chat, so follow-ups can refer to it."""

    question: str
    sql: str | None = None
    columns: tuple[str, ...] = ()
    row_count: int | None = None


@dataclass(frozen=True)
class SQLRequest:
    """Everything a writer needs to write (or repair) one SQL statement."""

    question: str
    schema: Schema
    locale: Locale = "en"
    history: Sequence[Turn] = ()
    failed_sql: str | None = None
    """For a repair: the statement that failed."""
    error: str | None = None
    """For a repair: the database's (or the guard's) error message for ``failed_sql``."""
    values: Any = None
    """Optional value index (``datasources.values.ValueIndex``) for matching literals like 'JFK'."""
    knowledge: KnowledgeBundle | None = None
    """Glossary entries, similar examples and the datasource instruction for this question (issue 13)."""
    retrieved_from: int | None = None
    """Set when ``schema`` is the part of a larger schema retrieved for this question: the whole schema's
    table count. The prompt then shows every table given, without cutting further."""


@dataclass(frozen=True)
class SQLDraft:
    """A writer's answer: the SQL and how it got there."""

    sql: str
    """Exactly one SQL statement in the schema's dialect, without a trailing semicolon."""
    reasoning: str = ""
    """The full reasoning trace (already streamed chunk by chunk)."""
    model_calls: int = 0
    """How many model requests were made (0 for the offline writer)."""
    usage: dict[str, int] = field(default_factory=dict)
    """Token usage when the model reported it (prompt_tokens, completion_tokens)."""
    interpretation: str = ""
    """A short readback of what the question was understood as, in the request's locale (empty if none)."""


@dataclass(frozen=True)
class ExplainRequest:
    """A query result to be explained in a sentence or two."""

    question: str
    sql: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    """The (possibly truncated) result rows."""
    row_count: int
    truncated: bool
    locale: Locale = "en"


@runtime_checkable
class SQLWriter(Protocol):
    """What ``generate_sql`` and ``present_result`` call."""

    name: str
    """A short identifier shown to users: ``offline`` or the model's name."""

    async def write_sql(self, request: SQLRequest, emit: Emit) -> SQLDraft:
        """Write (or, with ``request.failed_sql``, repair) one statement, streaming it through ``emit``."""
        ...

    async def explain(self, request: ExplainRequest, emit: Emit) -> str:
        """Explain a result in the request's locale, streaming the text through ``emit``."""
        ...


class WriterError(Exception):
    """A writer could not produce SQL; ``kind`` tells the node which error code applies."""

    def __init__(
        self,
        message: str,
        kind: Literal["not_understood", "invalid_question", "model_unavailable", "model_timeout", "bad_output"],
        detail: str = "",
        suggestion: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.detail = detail
        self.suggestion = suggestion
        """How to say it so it is understood (already in the request's locale); empty for the default."""
