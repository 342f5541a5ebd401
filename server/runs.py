"""Runs outlive HTTP connections: each run drains its event stream in its own task into an event log.

SSE responses are *listeners*: they replay the log from ``Last-Event-ID`` and then follow it live. The SSE
generator never runs the graph (Starlette would not cancel a node when the client leaves), so:

* an explicit cancel calls ``RunStream.cancel()``, which interrupts the node, the model request and the
  database query, and the stream ends with ``stream_error`` (CANCELLED);
* a dropped connection is not a cancel: when the last listener leaves, a grace timer starts
  (``disconnect_grace_s``); a listener that re-attaches in time stops it, otherwise the run is cancelled;
* finished runs keep their log in a bounded LRU so a late reconnect still replays everything.

Each event is also appended to the :class:`server.eventlog.EventLog`. The default one shares nothing; the
Redis one lets listeners on other workers replay and follow the run (``find`` returns a
:class:`server.eventlog.RemoteRun` for those), forwards their cancel requests here, and ends the runs of
a worker that died. A worker that cannot reach the shared log ends its runs with EVENT_LOG_UNAVAILABLE.

The run's record is filled from the same events (:mod:`server.recorder`) and saved when it ends, before the
terminal event is published, so whoever sees ``finish`` can read the stored result.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

from graph.errors import SQLBotError
from graph.protocol import TERMINAL_TYPES, ErrorCode, ErrorInfo, StreamErrorEvent
from graph.routes import retry_rewind
from graph.steps import BY_ID
from server.engine import Engine, EventStream
from server.errors import ApiError, conflict, not_found
from server.eventlog import ChatBusy, EventLog, EventLogUnavailable, LocalEventLog, LoggedEvent, frame
from server.recorder import apply_event, audit_entry, start_attempt
from server.store import ChatStore, Record, interrupt

__all__ = ["LoggedEvent", "Run", "RunManager", "RunView", "listening"]

log = logging.getLogger(__name__)

ATTACH_WINDOW_S = 5.0
"""How long a new run waits for its first listener before the grace rule applies."""
CANCEL_WATCHDOG_S = 2.0
"""After a cancel, how long the stream may take to end before the run task is cancelled outright."""

CancelReason = Literal["request", "disconnect", "shutdown", "event_log"]


def new_id() -> str:
    """A fresh opaque id for chats and runs."""
    return uuid.uuid4().hex


class RunView(Protocol):
    """What a listener needs of a run, whether this worker owns it (:class:`Run`) or another does."""

    @property
    def id(self) -> str: ...  # noqa: D102
    @property
    def chat_id(self) -> str: ...  # noqa: D102
    @property
    def status(self) -> str: ...  # noqa: D102
    @property
    def done(self) -> bool: ...  # noqa: D102
    @property
    def last_sequence(self) -> int: ...  # noqa: D102
    @property
    def terminal(self) -> LoggedEvent | None: ...  # noqa: D102
    @property
    def listeners(self) -> int: ...  # noqa: D102

    def follow(self, after: int = 0, heartbeat: float | None = None) -> AsyncIterator[LoggedEvent | None]:
        """Every event after ``after``, then live ones until the terminal event; ``None`` = heartbeat due."""
        ...

    async def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait until the run has ended; False on timeout."""
        ...


class Run:
    """One attempt at answering a record's question: its stream, its event log and its listeners."""

    def __init__(self, record: Record, stream: EventStream) -> None:
        self.id = record.id
        self.chat_id = record.chat_id
        self.record = record
        self.stream = stream
        self.log: list[LoggedEvent] = []
        self.done = False
        self.listeners = 0
        self.attached = False
        """Whether a listener has ever followed the run."""
        self.cancel_reason: CancelReason | None = None
        self.started = time.monotonic()
        self.task: asyncio.Task[None] | None = None
        self.initial_save: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()
        self._finished = asyncio.Event()

    @property
    def status(self) -> str:
        """The record's status."""
        return self.record.status

    @property
    def log_bytes(self) -> int:
        """What the log's frames weigh (the replay cache is bounded by it)."""
        return sum(len(item.sse) for item in self.log)

    def compact(self) -> None:
        """Keep only the frames (and the terminal event) of a finished run nobody is following."""
        # Not before a first listener came and went: a legacy response may still be about to start on it.
        if self.done and self.listeners == 0 and self.attached and self.log and self.log[0].event is not None:
            *rest, last = self.log
            self.log = [LoggedEvent(i.seq, i.type, None, i.sse) for i in rest] + [last]

    @property
    def terminal(self) -> LoggedEvent | None:
        """The terminal event, once the run has finished."""
        return self.log[-1] if self.done and self.log else None

    @property
    def last_sequence(self) -> int:
        """The sequence of the newest event (0 before the first)."""
        return self.log[-1].seq if self.log else 0

    def publish(self, item: LoggedEvent) -> None:
        """Append to the log and wake every listener."""
        self.log.append(item)
        self._changed.set()
        self._changed = asyncio.Event()

    def finish(self) -> None:
        """Mark the log complete and wake every listener."""
        self.done = True
        self._changed.set()
        self._finished.set()

    async def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait until the run has ended; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._finished.wait()
        except TimeoutError:
            return False
        return True

    async def follow(self, after: int = 0, heartbeat: float | None = None) -> AsyncIterator[LoggedEvent | None]:
        """Every event with a sequence above ``after``, then live ones until the end; ``None`` = heartbeat due.

        The stream always ends with the terminal event, even when ``after`` is at or past it (an id from a
        previous attempt of a retried run): a stream without one makes clients reconnect forever.
        """
        index = bisect.bisect_right(self.log, after, key=lambda e: e.seq)
        ended = False
        while True:
            while index < len(self.log):
                item = self.log[index]
                index += 1
                ended = item.type in TERMINAL_TYPES
                if item.seq > after or ended:
                    yield item
            if self.done:
                if not ended and self.log:
                    yield self.log[-1]
                return
            changed = self._changed
            try:
                async with asyncio.timeout(heartbeat):
                    await changed.wait()
            except TimeoutError:
                yield None


class RunManager:
    """Starts runs, keeps their logs, attaches listeners and enforces the disconnect grace period."""

    def __init__(
        self, engine: Engine, store: ChatStore, *, grace_s: float, keep_finished: int = 512,
        keep_finished_bytes: int = 32 << 20, event_log: EventLog | None = None, default_locale: str = "zh",
    ) -> None:
        self.engine = engine
        self.store = store
        self.log: EventLog = event_log or LocalEventLog()
        self.grace_s = grace_s
        self.default_locale = default_locale
        self.keep_finished = keep_finished
        """How many finished runs keep their log for late reconnects..."""
        self.keep_finished_bytes = keep_finished_bytes
        """...and how many bytes of frames they may hold together (a result-heavy run weighs far more)."""
        self._finished_bytes = 0
        self._active: dict[str, Run] = {}
        self._by_chat: dict[str, Run] = {}
        self._finished: OrderedDict[str, Run] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()

    # lookup

    def get(self, run_id: str) -> Run | None:
        """The live or recently finished run with ``run_id``."""
        run = self._active.get(run_id)
        if run is None and (run := self._finished.get(run_id)) is not None:
            self._finished.move_to_end(run_id)
        return run

    async def find(self, run_id: str) -> RunView | None:
        """The run with ``run_id``: this worker's own, or one another worker owns (through the shared log)."""
        run = self.get(run_id)
        if run is not None:
            return run
        try:
            return await self.log.remote(run_id)
        except Exception as exc:  # the shared log is down: the run cannot be seen from here
            raise _log_unavailable(exc) from exc

    def active_in_chat(self, chat_id: str) -> Run | None:
        """The run currently answering in ``chat_id``, if any."""
        return self._by_chat.get(chat_id)

    @property
    def active_count(self) -> int:
        """How many runs are in progress."""
        return len(self._active)

    # starting runs

    async def ask(
        self,
        *,
        question: str,
        chat_id: str | None,
        datasource_id: str | None,
        locale: str | None,
        kind: Literal["ask", "regenerate"] = "ask",
        owner: str | None = None,
        access: dict[str, Any] | None = None,
    ) -> tuple[Run, bool]:
        """Start answering ``question`` in a chat (a new one when ``chat_id`` is None); True = new chat.

        ``locale=None`` lets the graph detect the question's language. ``owner`` is the signed-in user (None:
        the API is open and every chat is everyone's); another user's chat is "not found". ``access`` adds the
        user's ``principal`` and ``allowed_datasources`` to the graph's input.
        """
        new_chat = chat_id is None
        if chat_id is not None:
            chat = await self.store.get_chat(chat_id)
            if chat is None or (owner is not None and chat.owner != owner):
                raise not_found("chat", chat_id)
            self._ensure_idle(chat_id)
            datasource_id = datasource_id or chat.datasource_id
        cid = chat_id or new_id()
        record = Record(id=new_id(), chat_id=cid, question=question, locale=locale,
                        datasource_id=datasource_id, kind=kind, owner=owner or "")
        if not new_chat:
            record.checkpoint_before = (await self.engine.head(cid)).checkpoint_id
        inputs: dict[str, Any] = {"question": question}
        if locale:
            inputs["locale"] = locale
        if datasource_id:
            inputs["datasource_id"] = datasource_id
        inputs.update(access or {})
        await self._begin(record)
        stream = self.engine.start(chat_id=cid, run_id=record.id, inputs=inputs, locale=locale)
        run = self._launch(record, stream)
        # The rows are written beside the run rather than before it, so they do not delay the first event.
        run.initial_save = self._save_soon(record, create_chat=new_chat, title=question)
        return run, new_chat

    async def retry(self, run_id: str, step_id: str | None = None) -> Run:
        """Resume the record's thread from the checkpoint where it failed; completed steps are reused.

        Where it restarts is the graph's decision (:func:`graph.routes.retry_rewind`): a failed query goes
        back through writing the SQL rather than running the same statement again.
        """
        record = await self.store.get_record(run_id)
        if record is None:
            raise not_found("run", run_id)
        self._ensure_idle(record.chat_id)
        if record.status == "running" and not await self._alive(record.id):
            interrupt(record)  # its worker died and nobody was following to say so
        if record.status not in ("failed", "cancelled", "interrupted"):
            raise conflict("NOT_RETRYABLE", f"The run {record.status}; only a failed or cancelled run can be retried.",
                           {"status": record.status})
        if step_id is not None and record.failed_step is not None and step_id != record.failed_step:
            raise conflict("STEP_MISMATCH", f"Step {step_id} did not fail; {record.failed_step} did.",
                           {"failedStep": record.failed_step})
        head = await self.engine.head(record.chat_id)
        latest = (await self.store.list_records(record.chat_id))[-1]
        moved = latest.id != record.id or (
            record.checkpoint_after is not None and head.checkpoint_id != record.checkpoint_after
        )
        if moved:
            raise conflict("CHAT_MOVED_ON", "The chat has moved on since this run; regenerate the question instead.",
                           {"checkpointId": head.checkpoint_id})
        if not head.next:
            raise conflict("NOTHING_TO_RESUME", "The chat has no failed step to resume; regenerate the question instead.")
        failed = BY_ID.get(record.failed_step or "")
        rewind_to = retry_rewind(failed.name if failed else None) if record.status == "failed" else None
        if rewind_to is not None:
            head = await self.engine.rewind(record.chat_id, rewind_to)
        start_attempt(record)
        record.attempts += 1
        record.checkpoint_before = head.checkpoint_id
        await self._begin(record)
        stream = self.engine.start(chat_id=record.chat_id, run_id=record.id, inputs=None, locale=record.locale)
        if (previous := self._finished.pop(record.id, None)) is not None:
            self._finished_bytes -= previous.log_bytes
        run = self._launch(record, stream)
        run.initial_save = self._save_soon(record)
        return run

    async def edit_sql(self, run_id: str, sql: str) -> Run:
        """Run SQL the person edited for the record's question, as a new record of the same chat.

        The thread is put just after writing the SQL (:meth:`Engine.prepare_edit`), so the statement goes
        through the same guard, limits and later steps as written SQL; only the chat's latest record can
        be edited, since the thread's state (datasource, schema) is that record's.
        """
        record = await self.store.get_record(run_id)
        if record is None:
            raise not_found("run", run_id)
        self._ensure_idle(record.chat_id)
        latest = (await self.store.list_records(record.chat_id))[-1]
        if latest.id != record.id:
            raise conflict("CHAT_MOVED_ON", "Only the chat's latest answer can be edited; ask the question again.",
                           {"latest": latest.id})
        head = await self.engine.prepare_edit(record.chat_id, sql)
        if head is None:
            raise conflict("NOT_EDITABLE", "This answer never chose a datasource; ask the question again instead.")
        edited = Record(id=new_id(), chat_id=record.chat_id, question=record.question, locale=record.locale,
                        datasource_id=record.datasource_id, kind="edit", owner=record.owner)
        edited.checkpoint_before = head.checkpoint_id
        await self._begin(edited)
        stream = self.engine.start(chat_id=record.chat_id, run_id=edited.id, inputs=None, locale=record.locale)
        run = self._launch(edited, stream)
        run.initial_save = self._save_soon(edited)
        return run

    async def regenerate(self, run_id: str, owner: str | None = None, access: dict[str, Any] | None = None) -> Run:
        """Ask the record's question again, from the start, as a new record in the same chat."""
        record = await self.store.get_record(run_id)
        if record is None or (owner is not None and record.owner != owner):
            raise not_found("run", run_id)
        run, _ = await self.ask(question=record.question, chat_id=record.chat_id,
                                datasource_id=record.datasource_id, locale=record.locale, kind="regenerate",
                                owner=owner, access=access)
        return run

    async def _alive(self, run_id: str) -> bool:
        return run_id in self._active or await self.log.alive(run_id)

    async def _begin(self, record: Record) -> None:
        try:
            await self.log.begin(record.id, record.chat_id, record.locale)
        except ChatBusy as exc:
            raise conflict("CHAT_BUSY", "A question is still being answered in this chat; cancel it or wait.",
                           {"runId": exc.run_id}) from exc
        except EventLogUnavailable as exc:
            raise _log_unavailable(exc) from exc

    def _ensure_idle(self, chat_id: str) -> None:
        busy = self._by_chat.get(chat_id)
        if busy is not None:
            raise conflict("CHAT_BUSY", "A question is still being answered in this chat; cancel it or wait.",
                           {"runId": busy.id})

    def _launch(self, record: Record, stream: EventStream) -> Run:
        run = Run(record, stream)
        self._active[run.id] = run
        self._by_chat[run.chat_id] = run
        run.task = asyncio.create_task(self._drive(run), name=f"run-{run.id}")
        self._arm(run, max(self.grace_s, ATTACH_WINDOW_S))
        return run

    def _save_soon(self, record: Record, *, create_chat: bool = False, title: str = "") -> asyncio.Task[None]:
        async def save() -> None:
            if create_chat:
                await self.store.create_chat(record.chat_id, title, record.datasource_id, record.owner)
            await self.store.save_record(record)

        return self._background_task(save())

    def _background_task(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # the run task

    async def _drive(self, run: Run) -> None:
        terminal: LoggedEvent | None = None
        shared = True
        try:
            async for event in run.stream:
                apply_event(run.record, event)
                item = frame(event)
                if event.type in TERMINAL_TYPES:
                    terminal = item  # published once the record is saved
                    continue
                run.publish(item)
                if shared:
                    try:
                        await self.log.append(run.id, item)
                    except EventLogUnavailable:
                        log.error("run %s: the shared event log is unreachable; stopping the run", run.id)
                        shared = False
                        self._spawn_cancel(run, "event_log")
        except asyncio.CancelledError:
            if terminal is None:
                terminal = self._synthetic_end(run, ErrorCode.CANCELLED, "The run was stopped.")
        except Exception as exc:  # the graph's own errors are events; this is a bug below us
            log.exception("run %s: event stream failed", run.id)
            if terminal is None:
                terminal = self._synthetic_end(run, ErrorCode.INTERNAL_ERROR, f"The run failed unexpectedly: {exc}")
        if terminal is None:
            terminal = self._synthetic_end(run, ErrorCode.INTERNAL_ERROR, "The run ended without a result.")
        if run.cancel_reason == "event_log" and terminal.type == "stream_error":
            terminal = self._coded_end(run, ErrorCode.EVENT_LOG_UNAVAILABLE)
        try:
            await self._persist_end(run)
        except Exception:
            log.exception("run %s: could not save its record", run.id)
        finally:
            run.publish(terminal)
            self._retire(run)
        # Even after a failed append: listeners elsewhere must see the run end, or they follow it forever.
        await self._end_shared(run, terminal)

    async def _end_shared(self, run: Run, terminal: LoggedEvent, attempts: int = 6) -> None:
        """Write the terminal event to the shared log, retrying for a few seconds while it is unreachable."""
        for attempt in range(attempts):
            try:
                await self.log.end(run.id, terminal, run.record.status)
                return
            except EventLogUnavailable:
                if attempt == attempts - 1:
                    log.error("run %s: its end could not be written to the shared event log", run.id)
                    return
                await asyncio.sleep(min(0.25 * 2**attempt, 2.0))

    def _synthetic_end(self, run: Run, code: ErrorCode, message: str) -> LoggedEvent:
        """The terminal event for a stream that ended without one (a bug below, or a forced cancel)."""
        cancelled = code is ErrorCode.CANCELLED
        title = "Cancelled" if cancelled else "Internal error"
        info = ErrorInfo(code=code, title=title, message=message, can_retry=True, detail=None)
        event = StreamErrorEvent(sequence=run.last_sequence + 1, session_id=run.id, error=info, step_id=None)
        apply_event(run.record, event)
        return frame(event)

    def _coded_end(self, run: Run, code: ErrorCode) -> LoggedEvent:
        """A terminal ``stream_error`` with ``code``'s catalogue texts in the run's locale."""
        locale = run.record.locale or self.default_locale
        info = SQLBotError(code).info("en" if locale == "en" else "zh")
        failed = BY_ID.get(run.record.failed_step or "")
        event = StreamErrorEvent(sequence=run.last_sequence + 1, session_id=run.id, error=info,
                                 step_id=failed.id if failed else None)
        apply_event(run.record, event)
        return frame(event)

    async def _persist_end(self, run: Run) -> None:
        if run.initial_save is not None:
            await asyncio.gather(run.initial_save, return_exceptions=True)
        record = run.record
        record.timings.setdefault("total", int((time.monotonic() - run.started) * 1000))
        if record.status != "succeeded":
            head = await self.engine.head(run.chat_id)
            record.checkpoint_after = head.checkpoint_id
            record.pending = list(head.next)
        await self.store.save_record(record)
        try:
            await self.store.add_audit(audit_entry(record))
        except Exception:  # the answer stands; a lost audit row is logged, not a failed run
            log.exception("run %s: could not write its audit entry", run.id)

    def _retire(self, run: Run) -> None:
        run.finish()
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        if self._active.get(run.id) is run:
            del self._active[run.id]
        if self._by_chat.get(run.chat_id) is run:
            del self._by_chat[run.chat_id]
        run.compact()
        self._finished[run.id] = run
        self._finished.move_to_end(run.id)
        self._finished_bytes += run.log_bytes
        while len(self._finished) > 1 and (
            len(self._finished) > self.keep_finished or self._finished_bytes > self.keep_finished_bytes
        ):
            _, evicted = self._finished.popitem(last=False)
            self._finished_bytes -= evicted.log_bytes

    # listeners and cancellation

    def attach(self, run: Run) -> None:
        """A listener (an SSE response) starts following ``run``."""
        run.listeners += 1
        run.attached = True
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None

    def detach(self, run: Run) -> None:
        """A listener left; the last one leaving starts the grace period."""
        run.listeners -= 1
        if run.done:
            run.compact()
        elif run.listeners == 0:
            if self.grace_s == 0:
                self._spawn_cancel(run, "disconnect")
            else:
                self._arm(run, self.grace_s)

    def _arm(self, run: Run, delay: float) -> None:
        if run.timer is not None:
            run.timer.cancel()
        run.timer = asyncio.get_running_loop().call_later(delay, self._grace_expired, run)

    def _grace_expired(self, run: Run) -> None:
        run.timer = None
        if run.listeners == 0 and not run.done:
            self._background_task(self._grace_check(run))

    async def _grace_check(self, run: Run) -> None:
        if await self.log.followed_elsewhere(run.id):
            if run.listeners == 0 and not run.done:
                self._arm(run, max(self.grace_s, ATTACH_WINDOW_S))  # a listener on another worker follows it
            return
        if run.listeners == 0 and not run.done:
            log.info("run %s: nobody listening for %.1fs, cancelling", run.id, self.grace_s)
            await self.cancel(run, "disconnect")

    def _spawn_cancel(self, run: Run, reason: CancelReason) -> None:
        self._background_task(self.cancel(run, reason))

    async def cancel_any(self, run: RunView) -> str:
        """Stop a run wherever it runs; returns its status afterwards.

        Another worker's run is cancelled by that worker (the request goes through the shared log); if its
        worker is gone, the run ends as lost.
        """
        if isinstance(run, Run):
            await self.cancel(run, "request")
            return run.status
        if not run.done:
            try:
                await self.log.request_cancel(run.id)
                await run.wait_finished(2 * CANCEL_WATCHDOG_S + 1)
            except Exception as exc:
                raise _log_unavailable(exc) from exc
        return run.status

    def on_cancel_request(self, run_id: str) -> None:
        """Another worker asked to cancel one of this worker's runs."""
        run = self._active.get(run_id)
        if run is not None:
            self._spawn_cancel(run, "request")

    def on_log_down(self) -> None:
        """The shared log has been unreachable for a lease: nobody else can see these runs; end them."""
        for run in list(self._active.values()):
            self._spawn_cancel(run, "event_log")

    async def on_worker_lost(self, run_id: str, error: dict[str, Any]) -> None:
        """A run whose worker died was ended in the shared log: its record becomes ``interrupted`` (retryable)."""
        record = await self.store.get_record(run_id)
        if record is not None and record.status == "running":
            record.status = "interrupted"
            record.error = error
            await self.store.save_record(record)

    async def cancel(self, run: Run, reason: CancelReason = "request") -> None:
        """Stop ``run`` now. If its stream does not end promptly, the run task itself is cancelled."""
        if run.done:
            return
        run.cancel_reason = run.cancel_reason or reason
        try:
            await run.stream.cancel()
        except Exception:
            log.exception("run %s: cancel failed", run.id)
        if not await run.wait_finished(CANCEL_WATCHDOG_S) and run.task is not None:
            log.warning("run %s: stream did not end after cancel; cancelling its task", run.id)
            run.task.cancel()
            await run.wait_finished(CANCEL_WATCHDOG_S)

    async def shutdown(self) -> None:
        """Cancel every run (their records stay retryable) and wait for the records to be saved."""
        runs = list(self._active.values())
        await asyncio.gather(*(self.cancel(r, "shutdown") for r in runs), return_exceptions=True)
        pending = list(self._background)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def start(self) -> None:
        """Serve this worker in the event log (lease, cancel requests)."""
        await self.log.start(on_cancel=self.on_cancel_request, on_lost=self.on_worker_lost, on_down=self.on_log_down)

    def forget_chat(self, chat_id: str) -> None:
        """Drop finished runs of a deleted chat from the replay cache."""
        for run_id in [r.id for r in self._finished.values() if r.chat_id == chat_id]:
            self._finished_bytes -= self._finished.pop(run_id).log_bytes


def _log_unavailable(exc: BaseException) -> ApiError:
    return ApiError(503, "EVENT_LOG_UNAVAILABLE", "The shared event log (Redis) cannot be reached; try again shortly.",
                    {"reason": str(exc)[:200]})


@contextlib.asynccontextmanager
async def listening(manager: RunManager, run: Run) -> AsyncIterator[Run]:
    """Attach a listener for the duration of the block."""
    manager.attach(run)
    try:
        yield run
    finally:
        manager.detach(run)
