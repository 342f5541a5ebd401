"""How a node reports progress and content: custom stream payloads tagged with the step's name.

LangGraph's ``custom`` stream does not say which node wrote a payload, so every payload carries it. Start
and completion are never reported here: they come from the graph's own task events (``graph.events``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from langgraph.types import StreamWriter

from graph.state import StepRecord

MARK = "sqlbot"
ContentKind = Literal["sql", "explanation", "trace"]


@dataclass
class StepReporter:
    """A node's handle on the event stream."""

    step: str
    writer: StreamWriter
    started: float = field(default_factory=time.perf_counter)

    def progress(self, progress: float | None, message: str | None = None) -> None:
        """Report measurable progress (0-100) and/or what the step is doing now."""
        pct = None if progress is None else max(0, min(100, int(progress)))
        self.writer({MARK: "progress", "step": self.step, "progress": pct, "message": message})

    def content(self, text: str = "", reasoning: str = "", kind: ContentKind = "sql") -> None:
        """Stream a piece of output (``text``) and/or reasoning."""
        if text or reasoning:
            self.writer({MARK: "content", "step": self.step, "text": text, "reasoning": reasoning, "kind": kind})

    def record(self, summary: str, data: Any = None) -> dict[str, StepRecord]:
        """The ``steps`` state update announcing this step's result (also used to re-announce it on retry)."""
        duration = int((time.perf_counter() - self.started) * 1000)
        return {self.step: StepRecord(summary=summary, data=data, duration=duration)}
