"""The server's view of the graph: start a run, read a thread's head, forget a thread.

The run manager talks to the :class:`Engine` protocol; :mod:`server.graph_engine` implements it over the
compiled LangGraph graph, and tests drive it with a scripted engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from graph.protocol import Event


class EventStream(Protocol):
    """One run of the graph as protocol events (``graph.events.RunStream``)."""

    def __aiter__(self) -> AsyncIterator[Event]:
        """The events, ending with exactly one terminal event."""
        ...

    async def cancel(self) -> None:
        """Stop the run now; the stream then ends with ``stream_error`` (CANCELLED)."""
        ...


@dataclass(frozen=True)
class ThreadHead:
    """Where a chat's thread stands."""

    checkpoint_id: str | None
    """The latest checkpoint's id (None for a thread that never ran)."""
    next: tuple[str, ...]
    """Nodes still to run from that checkpoint (non-empty after a failed or cancelled run)."""


class Engine(Protocol):
    """What the run manager needs from the graph."""

    def start(
        self, *, chat_id: str, run_id: str, inputs: dict[str, Any] | None, locale: str | None
    ) -> EventStream:
        """Start a run in ``chat_id``'s thread; ``inputs=None`` resumes it from its latest checkpoint."""
        ...

    async def head(self, chat_id: str) -> ThreadHead:
        """The thread's latest checkpoint."""
        ...

    async def delete_thread(self, chat_id: str) -> None:
        """Drop every checkpoint of the thread."""
        ...

    async def prepare_edit(self, chat_id: str, sql: str) -> ThreadHead | None:
        """Put the thread just after writing the SQL, with ``sql`` as what was written (None: nothing to edit)."""
        ...

    async def rewind(self, chat_id: str, as_node: str) -> ThreadHead:
        """Move the thread back to just after ``as_node`` completed, so a resume runs what follows it."""
        ...
