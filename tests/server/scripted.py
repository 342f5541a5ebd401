"""A scripted stand-in for the graph engine: protocol events decided by the question's text.

Markers in the question: ``FAIL@<node>`` fails that step (the thread then waits at it, like a checkpoint
after a failure); ``SLOW`` makes ``execute_query`` wait until cancelled; ``DELAY=<ms>`` sleeps that long in
each step. A resume (``inputs=None``) re-announces completed steps as reused and runs the rest.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasources.registry import Registry
from graph.protocol import (
    ContentPiece,
    ErrorCode,
    ErrorInfo,
    Event,
    FinalCompleteEvent,
    FinalOutput,
    FinalSummary,
    StepCompleteEvent,
    StepContentEvent,
    StepErrorEvent,
    StepInfo,
    StepResult,
    StepStartEvent,
    StreamErrorEvent,
)
from graph.settings import Settings
from graph.steps import STEPS
from server.engine import ThreadHead

SQL = "SELECT carrier, COUNT(*) AS flights FROM flights GROUP BY carrier"
COLUMNS = ["carrier", "flights"]
ROWS = [{"carrier": "AA", "flights": 10}, {"carrier": "UA", "flights": 7}]
CHART = {"type": "bar", "axis": {"x": {"name": "carrier", "value": "carrier"}, "y": {"name": "flights", "value": "flights"}}}


@dataclass
class Thread:
    checkpoint: int = 0
    next: tuple[str, ...] = ()
    done: list[str] = field(default_factory=list)
    question: str = ""
    turns: list[str] = field(default_factory=list)


class ScriptedStream:
    def __init__(self, engine: ScriptedEngine, chat_id: str, run_id: str, inputs: dict[str, Any] | None) -> None:
        self.engine = engine
        self.thread = engine.threads.setdefault(chat_id, Thread())
        self.run_id = run_id
        self.inputs = inputs
        self.seq = 0
        self._cancel = asyncio.Event()
        self.interrupted = False

    async def cancel(self) -> None:
        self._cancel.set()

    def _n(self) -> dict[str, Any]:
        self.seq += 1
        return {"sequence": self.seq, "session_id": self.run_id}

    def _start(self, i: int, **meta: Any) -> StepStartEvent:
        s = STEPS[i]
        return StepStartEvent(**self._n(), step=StepInfo(id=s.id, name=s.name, title=s.title_en,
                                                         description=s.description_en, metadata=meta))

    def _complete(self, i: int, data: Any = None, *, reused: bool = False) -> StepCompleteEvent:
        return StepCompleteEvent(**self._n(), step_id=STEPS[i].id,
                                 result=StepResult(summary=f"{STEPS[i].name} done", data=data, duration=1,
                                                   reused=reused or None))

    def _data(self, name: str) -> Any:
        return {
            "select_datasource": {"chosen": "flights", "scores": [{"id": "flights", "name": "NYC flights"}]},
            "generate_sql": {"sql": SQL, "attempt": 1},
            "execute_query": {"rowCount": 2, "columns": COLUMNS},
            "configure_chart": CHART,
        }.get(name)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless cancelled; True when cancelled."""
        try:
            await asyncio.wait_for(self._cancel.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _cancelled(self, i: int) -> list[Event]:
        info = ErrorInfo(code=ErrorCode.CANCELLED, title="Cancelled", message="Stopped.", can_retry=True)
        self.thread.next = (STEPS[i].name,)
        self.thread.checkpoint += 1
        return [StepErrorEvent(**self._n(), step_id=STEPS[i].id, error=info),
                StreamErrorEvent(**self._n(), step_id=STEPS[i].id, error=info)]

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        t = self.thread
        if self.inputs is None:
            question = t.question
            first = next(i for i, s in enumerate(STEPS) if s.name in t.next)
            for i in range(first):
                yield self._start(i, reused=True)
                yield self._complete(i, self._data(STEPS[i].name), reused=True)
            fail_at = None  # a retry succeeds
        else:
            question = self.inputs["question"]
            t.question, t.done, first = question, [], 0
            m = re.search(r"FAIL@(\w+)", question)
            fail_at = m.group(1) if m else None
        delay = int(m.group(1)) / 1000 if (m := re.search(r"DELAY=(\d+)", question)) else 0.0
        self.engine.started.append((self.run_id, self.inputs is None))
        for i in range(first, len(STEPS)):
            name = STEPS[i].name
            yield self._start(i)
            if self._cancel.is_set() or (delay and await self._sleep(delay)):
                for e in self._cancelled(i):
                    yield e
                return
            if name == "generate_sql":
                for piece in ("SELECT carrier, ", "COUNT(*) AS flights ", "FROM flights GROUP BY carrier"):
                    yield StepContentEvent(**self._n(), step_id=STEPS[i].id,
                                           content=ContentPiece(text=piece, reasoning="think", metadata={"kind": "sql"}))
            if name == "execute_query" and "SLOW" in question and await self._sleep(3600):
                self.interrupted = True
                self.engine.interrupted.append(self.run_id)
                for e in self._cancelled(i):
                    yield e
                return
            if name == fail_at:
                info = ErrorInfo(code=ErrorCode.SQL_EXECUTION_FAILED, title="Query failed",
                                 message="The database rejected the query.", can_retry=True, detail="boom")
                t.next, t.checkpoint = (name,), t.checkpoint + 1
                yield StepErrorEvent(**self._n(), step_id=STEPS[i].id, error=info)
                yield StreamErrorEvent(**self._n(), step_id=STEPS[i].id, error=info)
                return
            t.done.append(name)
            t.checkpoint += 1
            yield self._complete(i, self._data(name))
        t.next = ()
        t.turns.append(question)
        yield FinalCompleteEvent(**self._n(), summary=FinalSummary(
            total_duration=5, completed_steps=7, failed_steps=0,
            output=FinalOutput(sql=SQL, columns=COLUMNS, data=ROWS, row_count=2, truncated=False, chart=CHART,
                               explanation="AA flew most.", datasource={"id": "flights", "name": "NYC flights"})))


class ScriptedEngine:
    writer_name = "scripted"

    def __init__(self) -> None:
        self.threads: dict[str, Thread] = {}
        self.streams: list[ScriptedStream] = []
        self.started: list[tuple[str, bool]] = []
        self.interrupted: list[str] = []

    def start(self, *, chat_id: str, run_id: str, inputs: dict[str, Any] | None, locale: str | None) -> ScriptedStream:
        stream = ScriptedStream(self, chat_id, run_id, inputs)
        self.streams.append(stream)
        return stream

    async def head(self, chat_id: str) -> ThreadHead:
        t = self.threads.get(chat_id)
        if t is None:
            return ThreadHead(None, ())
        return ThreadHead(f"cp-{t.checkpoint}", t.next)

    async def delete_thread(self, chat_id: str) -> None:
        self.threads.pop(chat_id, None)

    async def prepare_edit(self, chat_id: str, sql: str) -> ThreadHead | None:
        return None

    async def rewind(self, chat_id: str, as_node: str) -> ThreadHead:
        self.rewound = [*getattr(self, "rewound", []), (chat_id, as_node)]
        return await self.head(chat_id)


def scripted_factory(engine: ScriptedEngine):  # type: ignore[no-untyped-def]
    async def factory(settings: Settings, stack: AsyncExitStack) -> tuple[ScriptedEngine, Registry]:
        registry = Registry(Path(settings.data_dir))
        stack.callback(registry.close)
        return engine, registry

    return factory
