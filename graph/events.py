"""Map one run of the graph onto the step protocol.

LangGraph's own streaming drives everything: ``tasks`` items say when a node starts, ``updates`` when it
finished (and carry its step record), ``custom`` items carry the progress and content nodes report.
The mapper adds what the graph cannot know: sequence numbers, durations and estimates, the skipped chart
step, content batching, errors in the run's locale, cancellation, and re-announcing reused steps on retry.

Invariants (tested property-based in ``tests/graph/test_invariants.py``): ``sequence`` increases by one
from 1; every ``step_start`` is followed by exactly one ``step_complete`` or ``step_error`` for that step;
exactly one terminal event (``final_complete`` or ``stream_error``) and it is the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamMode

from graph.context import Context
from graph.errors import SQLBotError, as_sqlbot_error
from graph.protocol import (
    ContentPiece,
    ErrorCode,
    Event,
    FinalCompleteEvent,
    FinalOutput,
    FinalSummary,
    NextStep,
    StepCompleteEvent,
    StepContentEvent,
    StepErrorEvent,
    StepInfo,
    StepProgressEvent,
    StepResult,
    StepStartEvent,
    StreamErrorEvent,
)
from graph.reporting import MARK
from graph.routes import chart_skip_reason, next_step
from graph.state import InputState, merge_steps
from graph.steps import BY_NAME, STEPS, Locale
from nodes.analyzing_question import detect_language

STREAM_MODES: list[StreamMode] = ["tasks", "updates", "custom"]
_SKIP_TEXT = {
    "disabled": ("图表已关闭", "Charts are turned off"),
    "empty": ("没有数据，无需图表", "No rows to chart"),
    "single_value": ("单个数值，无需图表", "A single value needs no chart"),
}


@dataclass
class _Batch:
    """Content waiting to be sent as one event."""

    step: str
    kind: str
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    progress: int | None = None
    """The latest bare progress figure reported while content was waiting (sent right after it)."""


class RunStream:
    """One run of the graph as an async iterator of protocol events; :meth:`cancel` stops it."""

    def __init__(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        *,
        inputs: InputState | None,
        context: Context,
        config: RunnableConfig | None,
        session_id: str,
        locale: Locale | None = None,
    ) -> None:
        self.graph = graph
        self.inputs = inputs
        self.context = context
        self.config: RunnableConfig = config or {}
        self.session_id = session_id
        self.locale: Locale = locale or ("zh" if inputs and detect_language(inputs["question"]) == "zh" else "en")
        self.state: dict[str, Any] = dict(inputs or {})
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._producer: asyncio.Task[None] | None = None
        self._sequence = 0
        self._open: dict[str, float] = {}  # started steps not yet ended -> perf_counter at start
        self._starts: dict[str, int] = {}  # how often each step started in this stream
        self._done: set[str] = set()  # steps completed (or skipped, or reused) in this stream
        self._skipped: set[str] = set()
        self._failed_node: str | None = None
        self._batch: _Batch | None = None
        self._last_content = 0.0
        self._last_content_step = ""
        self._started_at = time.perf_counter()
        self.cancelled = False

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def cancel(self) -> None:
        """Stop the run now: the running node is cancelled (its model request and query are interrupted)."""
        if self.cancelled:
            return
        self.cancelled = True
        if self._producer and not self._producer.done():
            self._producer.cancel()
        self._queue.put_nowait(("cancelled", None))

    # -- building events ---------------------------------------------------------------------------

    def _next(self) -> dict[str, Any]:
        self._sequence += 1
        return {"sequence": self._sequence, "session_id": self.session_id}

    @property
    def _locale(self) -> Locale:
        return self.state.get("locale") or self.locale

    def _start(self, name: str, **metadata: Any) -> StepStartEvent:
        step = BY_NAME[name]
        self._starts[name] = self._starts.get(name, 0) + 1
        attempt = self._starts[name]
        if attempt > 1:
            metadata |= {"attempt": attempt, "repair": name in ("generate_sql", "execute_query")}
        if step.optional:
            metadata["optional"] = True
        self._open[name] = time.perf_counter()
        return StepStartEvent(
            **self._next(),
            step=StepInfo(
                id=step.id,
                name=name,
                title=step.title(self._locale),
                description=step.description(self._locale),
                estimated_duration=self.context.timings.estimate(name),
                metadata=metadata,
            ),
        )

    def _complete(self, name: str, *, cached: bool = False, reused: bool = False, skipped: bool = False) -> StepCompleteEvent:
        started = self._open.pop(name, time.perf_counter())
        record = (self.state.get("steps") or {}).get(name) or {}
        duration = int(record.get("duration", 0)) if reused else int((time.perf_counter() - started) * 1000)
        if not (cached or reused or skipped):
            self.context.timings.record(name, duration)
        self._done.add(name)
        following = next_step(name, self.state, self.context.settings)
        nxt = None
        if following:
            step = BY_NAME[following]
            nxt = NextStep(id=step.id, name=following, title=step.title(self._locale), estimated_delay=0)
        return StepCompleteEvent(
            **self._next(),
            step_id=BY_NAME[name].id,
            result=StepResult(
                summary=record.get("summary", ""),
                data=record.get("data"),
                duration=duration,
                cached=cached or None,
                reused=reused or None,
                skipped=skipped or None,
            ),
            next_step=nxt,
        )

    def _skip_chart(self) -> list[Event]:
        reason = chart_skip_reason(self.state, self.context.settings) or "disabled"
        zh, en = _SKIP_TEXT[reason]
        start = self._start("configure_chart", skipped=True)
        self.state["steps"] = merge_steps(
            self.state.get("steps"),
            {"configure_chart": {"summary": zh if self._locale == "zh" else en, "data": {"reason": reason}, "duration": 0}},
        )
        self._skipped.add("configure_chart")
        return [start, self._complete("configure_chart", skipped=True)]

    def _flush(self) -> list[Event]:
        batch, self._batch = self._batch, None
        if not batch:
            return []
        self._last_content = time.perf_counter()
        self._last_content_step = batch.step
        out: list[Event] = [
            StepContentEvent(
                **self._next(),
                step_id=BY_NAME[batch.step].id,
                content=ContentPiece(
                    text="".join(batch.text),
                    reasoning="".join(batch.reasoning) or None,
                    metadata={"kind": batch.kind},
                ),
            )
        ]
        if batch.progress is not None:
            out.append(StepProgressEvent(**self._next(), step_id=BY_NAME[batch.step].id, progress=batch.progress))
        return out

    def _content(self, item: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        if self._batch and (self._batch.step != item["step"] or self._batch.kind != item["kind"]):
            out += self._flush()
        if not self._batch:
            self._batch = _Batch(item["step"], item["kind"])
        self._batch.text.append(item["text"])
        self._batch.reasoning.append(item["reasoning"])
        window = self.context.settings.content_batch_ms / 1000
        if item["step"] != self._last_content_step or time.perf_counter() - self._last_content >= window:
            out += self._flush()  # a step's first chunk, or the first after a quiet spell, is never delayed
        return out

    def _deadline(self) -> float | None:
        if not self._batch:
            return None
        window = self.context.settings.content_batch_ms / 1000
        return max(0.0, self._last_content + window - time.perf_counter())

    def _error(self, exc: BaseException | None, *, cancelled: bool = False) -> list[Event]:
        out = self._flush()
        error = SQLBotError(ErrorCode.CANCELLED) if cancelled or exc is None else as_sqlbot_error(exc)
        info = error.info(self._locale)
        failed = self._failed_node or (next(reversed(self._open)) if self._open else None)
        for name in list(self._open):  # every started step ends, exactly once
            self._open.pop(name)
            out.append(StepErrorEvent(**self._next(), step_id=BY_NAME[name].id, error=info))
        out.append(StreamErrorEvent(**self._next(), error=info, step_id=BY_NAME[failed].id if failed else None))
        return out

    def _final(self) -> FinalCompleteEvent:
        s = self.state
        result = s.get("result") or None
        rows = [dict(zip(result["columns"], row, strict=False)) for row in result["rows"]] if result else None
        source = s.get("datasource")
        output = FinalOutput(
            sql=s.get("sql"),
            columns=result["columns"] if result else None,
            data=rows,
            row_count=result["row_count"] if result else None,
            truncated=result["truncated"] if result else None,
            chart=s.get("chart"),
            explanation=s.get("explanation"),
            interpretation=s.get("interpretation"),
            datasource=dict(source) if source else None,
        )
        return FinalCompleteEvent(
            **self._next(),
            summary=FinalSummary(
                total_duration=int((time.perf_counter() - self._started_at) * 1000),
                completed_steps=len(self._done),
                failed_steps=0,
                skipped_steps=len(self._skipped),
                output=output,
            ),
        )

    # -- the loop ----------------------------------------------------------------------------------

    def _apply_update(self, node: str, update: dict[str, Any] | None) -> None:
        for key, value in (update or {}).items():
            if key == "steps":
                self.state["steps"] = merge_steps(self.state.get("steps"), value)
            elif key == "turns":
                self.state["turns"] = [*(self.state.get("turns") or []), *value]
            else:
                self.state[key] = value

    def _on_part(self, part: dict[str, Any]) -> list[Event]:
        if part.get("ns"):
            return []
        kind, data = part["type"], part["data"]
        out: list[Event] = []
        if kind == "custom" and isinstance(data, dict) and MARK in data:
            if data[MARK] == "content":
                return self._content(data)
            if self._batch and self._batch.step == data["step"] and data["progress"] is not None and not data["message"]:
                self._batch.progress = data["progress"]  # a bare figure rides with the waiting content
                return []
            out += self._flush()
            out.append(
                StepProgressEvent(
                    **self._next(), step_id=BY_NAME[data["step"]].id, progress=data["progress"], message=data["message"]
                )
            )
        elif kind == "tasks" and data.get("name") in BY_NAME:
            name = data["name"]
            if "triggers" in data:  # a task is starting
                out += self._flush()
                if name == "present_result" and "configure_chart" not in self._open and self._starts.get("configure_chart", 0) == 0:
                    out += self._skip_chart()
                if name not in self._open:  # the first step is announced before the graph is set up
                    out.append(self._start(name))
            elif data.get("error"):
                self._failed_node = name
            elif name in self._open:  # result without a preceding update (e.g. a node returning nothing)
                out += self._flush()
                out.append(self._complete(name))
        elif kind == "updates" and isinstance(data, dict):
            cached = bool((data.get("__metadata__") or {}).get("cached"))
            for node, update in data.items():
                if node in BY_NAME:
                    self._apply_update(node, update)
                    if node in self._open:
                        out += self._flush()
                        out.append(self._complete(node, cached=cached))
        return out

    async def _produce(self) -> None:
        try:
            async for part in self.graph.astream(
                self.inputs,
                self.config,
                context=self.context,
                stream_mode=STREAM_MODES,
                durability=self.context.settings.checkpoint_durability if self.graph.checkpointer else None,
                version="v2",
            ):
                self._queue.put_nowait(("part", part))
            self._queue.put_nowait(("done", None))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure must become events
            self._queue.put_nowait(("error", exc))

    async def _reused(self) -> list[Event]:
        """On resume, re-announce the steps the checkpoint says already completed."""
        snapshot = await self.graph.aget_state(self.config)
        if not snapshot.next:
            raise SQLBotError(ErrorCode.INTERNAL_ERROR, detail="nothing to resume: the run is not waiting at a failed step")
        self.state = dict(snapshot.values)
        pending = set(snapshot.next)
        out: list[Event] = []
        for step in STEPS:
            if step.name in pending:
                break
            if step.name in (self.state.get("steps") or {}):
                out += [self._start(step.name, reused=True), self._complete(step.name, reused=True)]
        return out

    async def _events(self) -> AsyncIterator[Event]:
        try:
            if self.inputs is None:
                try:
                    for event in await self._reused():
                        yield event
                except SQLBotError as exc:
                    for event in self._error(exc):
                        yield event
                    return
            self._producer = asyncio.create_task(self._produce(), name=f"run-{self.session_id}")
            if self.inputs is not None:
                # A fresh run always starts with the first step: say so before LangGraph's set-up (checkpoint
                # write, task preparation), so the person sees the run begin even on a busy server.
                yield self._start(STEPS[0].name)
            while True:
                try:
                    kind, payload = await asyncio.wait_for(self._queue.get(), self._deadline())
                except TimeoutError:
                    for event in self._flush():
                        yield event
                    continue
                if kind == "part":
                    for event in self._on_part(payload):
                        yield event
                    continue
                if kind == "done":
                    for event in self._flush():
                        yield event
                    yield self._final()
                else:
                    for event in self._error(payload, cancelled=kind == "cancelled"):
                        yield event
                return
        finally:
            if self._producer and not self._producer.done():
                self._producer.cancel()
                with contextlib.suppress(BaseException):
                    await self._producer


def start_run(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    *,
    inputs: InputState | None,
    context: Context,
    config: RunnableConfig | None = None,
    session_id: str,
    locale: Locale | None = None,
) -> RunStream:
    """Start streaming one run (``inputs=None`` resumes the configured thread at its failed step)."""
    return RunStream(graph, inputs=inputs, context=context, config=config, session_id=session_id, locale=locale)


async def stream_events(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    inputs: InputState | None,
    *,
    context: Context | None = None,
    config: RunnableConfig | None = None,
    session_id: str = "local",
    locale: Locale | None = None,
) -> AsyncIterator[Event]:
    """Convenience: the events of one run (for the CLI, notebooks and tests)."""
    async for event in start_run(graph, inputs=inputs, context=context or Context(), config=config, session_id=session_id, locale=locale):
        yield event
