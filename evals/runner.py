"""Run a dataset through the whole graph and measure what a person would see, question by question.

:func:`evals.accuracy.run_eval` measures the SQL writer alone; this runs every question through
``graph.builder.build_graph`` and ``graph.events.start_run`` exactly as the server does, and records per
question: execution accuracy (with :func:`evals.accuracy.compare_results` against every gold statement),
whether the final SQL ran, repairs attempted and whether the run then succeeded, each step's duration, the
time to the first event and to the answer, and the model calls and tokens the run cost.

Model calls and tokens are counted with a LangChain callback installed for the duration of each run, so any
LangChain chat model the writer uses is metered, whatever endpoint it talks to.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from evals.accuracy import Example, compare_results, gold_is_ordered
from graph.context import Context

# ------------------------------------------------------------------------------------------ model meter


class ModelMeter(BaseCallbackHandler):
    """Counts chat-model calls, prompt characters and reported tokens."""

    def __init__(self) -> None:
        self.calls = 0
        self.prompt_chars = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._lock = threading.Lock()

    def on_chat_model_start(self, serialized: Any, messages: list[list[Any]], **kwargs: Any) -> None:
        chars = sum(len(str(m.content)) for batch in messages for m in batch)
        with self._lock:
            self.calls += 1
            self.prompt_chars += chars

    def on_llm_start(self, serialized: Any, prompts: list[str], **kwargs: Any) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_chars += sum(len(p) for p in prompts)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        prompt = completion = 0
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None) or {}
                prompt += int(usage.get("input_tokens", 0))
                completion += int(usage.get("output_tokens", 0))
        if not (prompt or completion) and response.llm_output:
            usage = response.llm_output.get("token_usage") or {}
            prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        with self._lock:
            self.prompt_tokens += prompt
            self.completion_tokens += completion


_METER: ContextVar[ModelMeter | None] = ContextVar("sqlbot_eval_meter", default=None)
register_configure_hook(_METER, inheritable=True)


class metered:  # noqa: N801 - used as a context manager, like LangChain's get_usage_metadata_callback
    """``with metered() as meter:`` counts every LangChain model call made inside (and in tasks started there)."""

    def __enter__(self) -> ModelMeter:
        self.meter = ModelMeter()
        self._token = _METER.set(self.meter)
        return self.meter

    def __exit__(self, *exc: object) -> None:
        _METER.reset(self._token)


# ------------------------------------------------------------------------------------------ one question

REFUSALS = frozenset({"INVALID_QUESTION", "SQL_GENERATION_FAILED"})
"""Error codes that mean the writer declined to answer. Any other failure (SQL that did not run after its
repairs, a lost connection) counts as an answer that was wrong, so precision is not flattered by it."""


@dataclass
class CaseResult:
    """What happened to one question run through the graph."""

    id: str
    datasource: str
    question: str
    locale: str
    tags: list[str]
    correct: bool = False
    valid_sql: bool = False
    """The final SQL ran (the run produced a result)."""
    answered: bool = True
    """Not refused: the run did not end in INVALID_QUESTION or SQL_GENERATION_FAILED (see :data:`REFUSALS`)."""
    predicted_sql: str | None = None
    error: str = ""
    """The stream_error code and message, or why the result was judged wrong."""
    repairs: int = 0
    """How many times failed SQL was sent back to the writer."""
    repair_succeeded: bool = False
    """A repair was attempted and the run then produced a result."""
    step_ms: dict[str, int] = field(default_factory=dict)
    """Duration per step (summed over repeats), from the step_complete events."""
    first_event_ms: float = 0.0
    """From starting the run to the first protocol event."""
    first_content_ms: float | None = None
    """From starting the run to the first step_content event."""
    total_ms: float = 0.0
    events: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_chars: int = 0
    trace: list[dict[str, Any]] | None = None
    """The run's protocol events (kept for failures, rows trimmed)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form."""
        return asdict(self)


def _trim(event: dict[str, Any], rows: int = 5) -> dict[str, Any]:
    if event.get("type") != "final_complete":
        return event
    output = dict(event["summary"].get("output") or {})
    if output.get("data") and len(output["data"]) > rows:
        output["data"] = output["data"][:rows] + [{"…": f"{len(output['data']) - rows} more rows"}]
    return {**event, "summary": {**event["summary"], "output": output}}


async def run_case(
    graph: Any,
    context: Context,
    example: Example,
    *,
    gold_results: Callable[[Example], Any],
    gold_dialect: str | None = None,
    ordered: Callable[[Example, str, str], bool] | None = None,
    keep_trace: bool | None = None,
) -> CaseResult:
    """Ask one question through the graph (datasource pinned) and judge the answer."""
    from graph.events import start_run

    case = CaseResult(example.id, example.datasource, example.question, example.locale, list(example.tags))
    events: list[dict[str, Any]] = []
    with metered() as meter:
        started = time.perf_counter()
        stream = start_run(
            graph,
            inputs={"question": example.question, "datasource_id": example.datasource, "locale": example.locale},  # type: ignore[typeddict-item]
            context=context,
            session_id=f"eval-{example.id}-{uuid.uuid4().hex[:6]}",
        )
        async for event in stream:
            now = (time.perf_counter() - started) * 1000
            wire = event.wire()
            if not events:
                case.first_event_ms = now
            if wire["type"] == "step_content" and case.first_content_ms is None:
                case.first_content_ms = now
            events.append(wire)
        case.total_ms = (time.perf_counter() - started) * 1000
    case.events = len(events)
    case.model_calls, case.prompt_chars = meter.calls, meter.prompt_chars
    case.prompt_tokens, case.completion_tokens = meter.prompt_tokens, meter.completion_tokens
    names = {}
    for e in events:
        if e["type"] == "step_start":
            names[e["step"]["id"]] = e["step"]["name"]
            if e["step"]["name"] == "generate_sql" and e["step"]["metadata"].get("attempt", 1) > 1:
                case.repairs += 1
        elif e["type"] == "step_complete" and not e["result"].get("skipped"):
            name = names.get(e["stepId"], e["stepId"])
            case.step_ms[name] = case.step_ms.get(name, 0) + int(e["result"]["duration"])
    final = events[-1] if events else {}
    state = stream.state
    case.predicted_sql = state.get("sql")
    result = state.get("result")
    if final.get("type") == "final_complete" and result is not None:
        case.valid_sql = True
        case.repair_succeeded = case.repairs > 0
        try:
            dialect = gold_dialect or context.registry.get(example.datasource).dialect
            case.correct, case.error = await _judge(example, result, gold_results, dialect, ordered or _ordered)
        except Exception as exc:  # a gold statement that does not run is the dataset's fault: report it
            case.error = f"gold failed: {exc}"
    else:
        error = final.get("error") or {}
        case.error = f"{error.get('code', 'NO_EVENTS')}: {error.get('message', '')}"
        case.answered = error.get("code") not in REFUSALS
    if keep_trace if keep_trace is not None else not case.correct:
        case.trace = [_trim(e) for e in events]
    return case


async def _judge(
    example: Example,
    result: dict[str, Any],
    gold_results: Callable[[Example], Any],
    dialect: str,
    ordered: Callable[[Example, str, str], bool],
) -> tuple[bool, str]:
    if result.get("truncated"):
        return False, f"result truncated at {result['row_count']} rows (raise max_rows)"
    golds = await gold_results(example)
    errors = []
    for sql, outcome in golds:
        if isinstance(outcome, Exception):
            errors.append(str(outcome))
            continue
        columns, rows = outcome
        if compare_results(columns, rows, result["columns"], result["rows"], ordered(example, sql, dialect)):
            return True, ""
    if errors and len(errors) == len(golds):
        raise RuntimeError(errors[0])
    return False, f"wrong result ({result['row_count']} rows × {len(result['columns'])} columns)"


def _ordered(example: Example, sql: str, dialect: str) -> bool:
    """The project's rule: row order matters exactly when the gold has a top-level ORDER BY."""
    try:
        return gold_is_ordered(sql, dialect)
    except Exception:
        return "order by" in sql.lower()


def registry_gold(registry: Any, *, transform: Callable[[str], str] = lambda s: s, max_rows: int = 100_000) -> Callable[[Example], Any]:
    """Gold results run through the registry's connection for the example's datasource, cached per statement."""
    cache: dict[tuple[str, str], Any] = {}

    async def gold(example: Example) -> list[tuple[str, Any]]:
        out = []
        conn = await asyncio.to_thread(registry.connect, example.datasource)
        for sql in example.gold_sql:
            key = (example.datasource, sql)
            if key not in cache:
                try:
                    run = await conn.run(transform(sql), max_rows=max_rows, timeout_s=60.0)
                    cache[key] = (list(run.columns), [list(r) for r in run.rows])
                except Exception as exc:
                    cache[key] = exc
            out.append((sql, cache[key]))
        return out

    return gold


async def run_cases(
    graph: Any,
    context: Context,
    examples: Sequence[Example],
    *,
    gold_results: Callable[[Example], Any],
    gold_dialect: str | None = None,
    ordered: Callable[[Example, str, str], bool] | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run every example in order (one at a time, so timings are not contended)."""
    results = []
    for example in examples:
        case = await run_case(
            graph, context, example, gold_results=gold_results, gold_dialect=gold_dialect, ordered=ordered
        )
        results.append(case)
        if on_case:
            on_case(case)
    return results
