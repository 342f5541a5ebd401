"""A scripted SQL writer for graph tests: answers from a list, streams like a model, can fail on cue.

It implements ``llm.base.SQLWriter`` exactly as the real writers do (streaming through ``emit``), so the
graph, the event mapper and the repair loop are exercised for real; only the words are scripted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from llm.base import Chunk, Emit, ExplainRequest, SQLDraft, SQLRequest, WriterError

Script = str | WriterError | BaseException


@dataclass
class ScriptedWriter:
    """Answers ``write_sql`` calls with ``answers`` in order (the last one repeats)."""

    answers: Sequence[Script]
    explanation: str | BaseException = "Done."
    chunk_size: int = 8
    delay_s: float = 0.0
    name: str = "scripted"
    requests: list[SQLRequest] = field(default_factory=list)

    async def write_sql(self, request: SQLRequest, emit: Emit) -> SQLDraft:
        index = min(len(self.requests), len(self.answers) - 1)
        self.requests.append(request)
        answer = self.answers[index]
        if isinstance(answer, BaseException):
            raise answer
        emit(Chunk(reasoning=f"attempt {len(self.requests)}\n"))
        for start in range(0, len(answer), self.chunk_size):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            emit(Chunk(text=answer[start : start + self.chunk_size]))
        return SQLDraft(sql=answer, reasoning=f"attempt {len(self.requests)}", model_calls=1)

    async def explain(self, request: ExplainRequest, emit: Emit) -> str:
        if isinstance(self.explanation, BaseException):
            raise self.explanation
        emit(Chunk(text=self.explanation))
        return self.explanation
