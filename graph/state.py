"""The graph's shared state: a narrow input schema and the full state every node reads and updates.

Everything here is JSON-serialisable so it can be checkpointed; live objects (registry, connections,
the SQL writer) travel in :class:`graph.context.Context` instead.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired

from typing_extensions import TypedDict

Locale = Literal["zh", "en"]


class Turn(TypedDict):
    """One earlier question of the same chat, for follow-ups."""

    question: str
    sql: str | None
    columns: list[str]
    row_count: int | None


class QueryResult(TypedDict):
    """A query's (possibly truncated) result."""

    columns: list[str]
    column_types: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    elapsed_ms: float


class SQLFailure(TypedDict):
    """A statement the database (or the guard) refused, kept for the repair prompt."""

    sql: str
    message: str
    kind: str


class StepRecord(TypedDict):
    """What a completed step reported, so a retry can re-announce it without running it."""

    summary: str
    data: Any
    duration: int
    skipped: NotRequired[bool]


def merge_steps(left: dict[str, StepRecord] | None, right: dict[str, StepRecord] | None) -> dict[str, StepRecord]:
    """Reducer for ``steps``: later records replace earlier ones; ``{"__reset__": ...}`` starts over."""
    if right and "__reset__" in right:
        return {k: v for k, v in right.items() if k != "__reset__"}
    return {**(left or {}), **(right or {})}


class Principal(TypedDict):
    """Who is asking: the signed-in user, for datasource grants and row/column policies."""

    name: str
    """The user's name (unique)."""
    roles: list[str]
    """Roles such as ``admin`` or ``analyst``; policies and grants name users or roles."""
    attrs: dict[str, str]
    """User attributes that row filters may reference as ``:user.<attr>`` (e.g. ``region``)."""


class InputState(TypedDict):
    """What a caller provides to ask a question."""

    question: str
    """The question in plain language (Chinese or English)."""
    datasource_id: NotRequired[str | None]
    """A datasource chosen by the person; None lets ``select_datasource`` choose."""
    locale: NotRequired[Locale]
    """Language of titles, messages and the explanation; detected from the question when absent."""
    principal: NotRequired[Principal | None]
    """The signed-in user; None (the embedded default, no users configured) means no policies apply."""
    allowed_datasources: NotRequired[list[str] | None]
    """Datasource ids this user may query; None means every datasource (no grants configured)."""


class State(InputState):
    """The full state of one chat thread (a run adds to it; follow-ups see earlier turns)."""

    language: NotRequired[Locale]
    """The language the question is written in."""
    analysis: NotRequired[dict[str, Any]]
    """What ``analyzing_question`` found: intent, terms, language."""
    candidates: NotRequired[list[dict[str, Any]]]
    """Datasources ranked by how well the question links to them: ``[{id, name, score}]``."""
    datasource: NotRequired[dict[str, Any]]
    """The chosen datasource: ``{id, name, type, dialect}``."""
    schema_version: NotRequired[str]
    """Structural digest of the chosen datasource's schema (part of every cache key)."""
    fingerprint: NotRequired[str]
    """Cheap file-level fingerprint of the datasource, for the connect step's cache key."""
    tables: NotRequired[list[str]]
    """Tables of the chosen datasource."""
    retrieval: NotRequired[dict[str, Any] | None]
    """For a schema over the token budget: the tables retrieved for this question and why
    (``llm.retrieval.Retrieval.to_state``); None when the whole schema is used."""
    sql: NotRequired[str | None]
    """The current SQL statement."""
    sql_reasoning: NotRequired[str]
    """The writer's reasoning for the current statement."""
    interpretation: NotRequired[str | None]
    """The writer's readback of what the question was understood as (None when the writer gives none)."""
    sql_attempts: NotRequired[int]
    """How many times ``generate_sql`` has written SQL in this run (1 = first try, more = repairs)."""
    failures: NotRequired[list[SQLFailure]]
    """Statements that failed in this run, newest last."""
    needs_repair: NotRequired[bool]
    """True when the last statement failed in a way a rewrite may fix (routes back to ``generate_sql``)."""
    result: NotRequired[QueryResult | None]
    """The executed query's result."""
    chart: NotRequired[dict[str, Any] | None]
    """The chart configuration in SQLBot's JSON shape, or None when skipped."""
    explanation: NotRequired[str]
    """The short answer shown with the table and chart."""
    steps: NotRequired[Annotated[dict[str, StepRecord], merge_steps]]
    """Records of the steps completed in the current run, keyed by node name."""
    turns: NotRequired[Annotated[list[Turn], operator.add]]
    """Earlier questions of this chat (appended by ``present_result``)."""
    model_calls: NotRequired[int]
    """Model requests made in this run."""
