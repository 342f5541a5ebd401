"""Where a run's events are kept for its listeners: the :class:`EventLog` interface and the in-process log.

The worker that owns a run always keeps its events in memory (:class:`server.runs.Run`), so its own
listeners never wait on a network hop. An :class:`EventLog` decides whether anyone else can see them:

* :class:`LocalEventLog` (the default): nobody else — one process, nothing shared, no extra service;
* ``server.eventlog_redis.RedisEventLog`` (``SQLBOT_REDIS_URL``): every event is appended once to a Redis
  stream, so any worker can replay and follow the run (:class:`RemoteRun`), forward a cancel to the owner,
  and tell from the owner's lease that it died.

:func:`open_event_log` in ``server.backends`` chooses one at start-up.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from graph.protocol import Event


class EventLogUnavailable(Exception):
    """The shared event log cannot be reached (the run cannot be shown to anyone else)."""


class ChatBusy(Exception):
    """Another worker is answering in the chat (one question at a time per chat, across workers)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One event of a run, serialised once for every listener."""

    seq: int
    type: str
    event: Event | None
    """The event itself, for live listeners (the legacy adapter, the record); None once a finished run's
    log is compacted, or when the frame came from another worker: a replay needs only the frame."""
    sse: bytes
    """The complete SSE frame: ``id:`` sequence, ``event:`` type, ``data:`` JSON."""

    def wire(self) -> dict[str, Any]:
        """The event's JSON form (read back from the frame when the model is gone)."""
        if self.event is not None:
            return self.event.wire()
        data: dict[str, Any] = json.loads(self.sse.split(b"\ndata: ", 1)[1])
        return data


def frame(event: Event) -> LoggedEvent:
    """Serialise ``event`` once as an SSE frame."""
    data = json.dumps(event.wire(), ensure_ascii=False, separators=(",", ":"))
    sse = f"id: {event.sequence}\nevent: {event.type}\ndata: {data}\n\n".encode()
    return LoggedEvent(event.sequence, event.type, event, sse)


class RemoteRun(Protocol):
    """A run owned by another worker, as a listener here sees it (a snapshot plus a live follow)."""

    id: str
    chat_id: str
    status: str
    """The record status the owner last published (``running`` until it ends)."""
    done: bool
    last_sequence: int
    terminal: LoggedEvent | None
    listeners: int
    """Listeners on this worker (always 0: remote listeners are not counted here)."""

    def follow(self, after: int = 0, heartbeat: float | None = None) -> AsyncIterator[LoggedEvent | None]:
        """Every event after ``after``, then live ones until the terminal event; ``None`` = heartbeat due."""
        ...

    async def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait until the run has ended; False on timeout."""
        ...


CancelHandler = Callable[[str], None]
"""Called on the owner with a run id when another worker asks to cancel that run."""
LostHandler = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Called once with a run id and its terminal error when its owner was found dead."""
DownHandler = Callable[[], None]
"""Called when this worker lost the shared log for longer than its lease (its runs cannot be seen)."""


class EventLog(Protocol):
    """What the run manager needs to share runs beyond this process."""

    shared: bool
    """Whether other processes see the runs (False: the in-memory log)."""
    kind: Literal["memory", "redis"]
    """Which log this is, as ``/healthz`` reports it."""

    async def start(self, *, on_cancel: CancelHandler, on_lost: LostHandler, on_down: DownHandler) -> None:
        """Begin serving this worker (lease, cancel channel)."""
        ...

    async def close(self) -> None:
        """Stop serving this worker."""
        ...

    async def begin(self, run_id: str, chat_id: str, locale: str | None) -> None:
        """Announce a run (or a new attempt of it) owned by this worker.

        Raises:
            ChatBusy: another worker's live run is answering in ``chat_id``.
            EventLogUnavailable: the log cannot be reached.
        """
        ...

    async def append(self, run_id: str, item: LoggedEvent) -> None:
        """Append one event, in sequence order; raises :class:`EventLogUnavailable`."""
        ...

    async def end(self, run_id: str, terminal: LoggedEvent, status: str) -> None:
        """Append the terminal event and start the finished run's retention; raises :class:`EventLogUnavailable`."""
        ...

    async def remote(self, run_id: str) -> RemoteRun | None:
        """The run as owned by another worker, or None when no other worker has it."""
        ...

    async def request_cancel(self, run_id: str) -> bool:
        """Ask the run's owner to cancel it; False when no owner took the request."""
        ...

    async def alive(self, run_id: str) -> bool:
        """Whether a worker is still running ``run_id`` (its owner holds its lease)."""
        ...

    async def followed_elsewhere(self, run_id: str) -> bool:
        """Whether a listener on another worker is following ``run_id`` (it keeps the run from its grace cancel)."""
        ...

    async def healthy(self) -> bool:
        """Whether the log answers now."""
        ...


class LocalEventLog:
    """The in-process log: a run's events live only in its :class:`server.runs.Run`; nothing is shared."""

    shared = False
    kind: Literal["memory", "redis"] = "memory"

    async def start(self, *, on_cancel: CancelHandler, on_lost: LostHandler, on_down: DownHandler) -> None:
        """Nothing to serve."""

    async def close(self) -> None:
        """Nothing to close."""

    async def begin(self, run_id: str, chat_id: str, locale: str | None) -> None:
        """The run's own memory is the log."""

    async def append(self, run_id: str, item: LoggedEvent) -> None:
        """The run's own memory is the log."""

    async def end(self, run_id: str, terminal: LoggedEvent, status: str) -> None:
        """The run manager's replay cache keeps finished runs."""

    async def remote(self, run_id: str) -> RemoteRun | None:
        """No other worker exists."""
        return None

    async def request_cancel(self, run_id: str) -> bool:
        """No other worker to ask."""
        return False

    async def alive(self, run_id: str) -> bool:
        """A run not in this process's memory is not running anywhere."""
        return False

    async def followed_elsewhere(self, run_id: str) -> bool:
        """There is no elsewhere."""
        return False

    async def healthy(self) -> bool:
        """Memory always answers."""
        return True
