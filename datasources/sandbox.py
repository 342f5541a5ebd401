"""User queries run in separate worker processes with hard resource limits.

A thread cannot be killed, and DuckDB cannot interrupt some functions (``list_sort`` over a huge list,
a plan with thousands of ``UNION`` branches), so a query that must stop is run where it *can* be stopped:
a small pool of pre-started worker processes per database file (:mod:`datasources._worker`, started with
``subprocess`` — fork + exec, never a bare fork of a threaded server). Each worker:

* limits its own address space (``RLIMIT_AS``) and opens the file read-only with DuckDB's ``memory_limit``,
  ``threads``, spill directory and size, external access off and ``lock_configuration`` on (SQLite:
  ``hard_heap_limit``, ``setlimit`` bounds and a progress handler that enforces the deadline);
* runs exactly one ``SELECT`` statement (DuckDB ``extract_statements``) and ships at most ``max_rows`` rows
  and about ``max_result_bytes`` of JSON, each cell cut at ``max_cell_chars``.

The parent samples every worker's resident memory from ``/proc`` and kills a worker past its limit. A
timeout or a cancellation first interrupts the query; if the worker has not answered after
``kill_grace_s`` it is killed. A dead worker is replaced, so the next query is served.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from datasources.errors import ConnectionFailed
from datasources.sql_functions import second_line_rules

SPILL_DIR = ".spill"
"""The data directory's sub-directory where DuckDB query workers spill (one directory per worker)."""
_WORKER_SCRIPT = Path(__file__).with_name("_worker.py")
_STARTUP_TIMEOUT_S = 30.0
_WATCH_INTERVAL_S = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class SandboxLimits:
    """Resource bounds of user queries (one set per datasource connection)."""

    workers: int = 2
    """Worker processes per datasource: the number of its queries that can run at once."""
    memory_mb: int = 1024
    """DuckDB ``memory_limit`` / SQLite ``hard_heap_limit``; the worker is killed at this + 512 MB RSS."""
    threads: int = 2
    """DuckDB threads per query."""
    spill_mb: int = 2048
    """DuckDB ``max_temp_directory_size``: how much a query may spill to disk (0 = no spilling)."""
    temp_root: Path | None = None
    """Where spill directories are created (one per worker); ``None`` disables spilling."""
    max_result_bytes: int = 8 * 2**20
    """About how many bytes of JSON rows one result may carry; further rows are dropped (truncated)."""
    max_cell_chars: int = 32_768
    """Text longer than this (blobs: half of it in bytes, lists: their elements) is cut with a marker."""
    kill_grace_s: float = 1.0
    """After a timeout or cancel, how long an interrupted query may take to stop before its worker dies."""
    max_value_bytes: int = 32 * 2**20
    """SQLite ``SQLITE_LIMIT_LENGTH``: no string or blob may grow past this while the query runs."""
    max_sql_bytes: int = 1 * 2**20
    """SQLite ``SQLITE_LIMIT_SQL_LENGTH``."""
    prestart: bool = True
    """Start one worker with the connection, so the first query does not wait for it."""

    @property
    def rss_limit_bytes(self) -> int:
        """Resident memory at which the parent kills a worker (interpreter and untracked allocations on top)."""
        return (self.memory_mb + 512) * 2**20

    @property
    def address_space_mb(self) -> int:
        """``RLIMIT_AS`` of a worker: DuckDB reserves ~0.8 GB of address space before any query runs."""
        return 2 * self.memory_mb + 2048


class WorkerDied(Exception):
    """The worker process ended while running a query; ``reason`` says why (or ``crash``)."""

    def __init__(self, reason: str, returncode: int | None) -> None:
        super().__init__(f"worker ended ({reason}, exit code {returncode})")
        self.reason = reason
        self.returncode = returncode


class _Worker:
    """One worker process and the query it is running (``qid``), if any."""

    def __init__(self, pool: WorkerPool, number: int) -> None:
        self.lock = threading.Lock()
        self.qid: int | None = None
        self.kill_reason: str | None = None
        self.ready = False
        limits = pool.limits
        self.temp_dir: Path | None = None
        if limits.temp_root is not None and limits.spill_mb > 0:
            self.temp_dir = limits.temp_root / f"w{os.getpid()}-{id(pool):x}-{number}"
        config = {
            "dialect": pool.dialect,
            "path": str(pool.path),
            "memory_mb": limits.memory_mb,
            "threads": limits.threads,
            "spill_mb": limits.spill_mb,
            "temp_dir": str(self.temp_dir) if self.temp_dir else "",
            "address_space_mb": limits.address_space_mb,
            "max_value_bytes": limits.max_value_bytes,
            "max_sql_bytes": limits.max_sql_bytes,
            "rules": dict(second_line_rules("duckdb" if pool.dialect == "duckdb" else "sqlite")),
        }
        req_parent, req_child = socket.socketpair()
        ctl_parent, ctl_child = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(_WORKER_SCRIPT), str(req_child.fileno()), str(ctl_child.fileno()),
                 json.dumps(config)],
                pass_fds=(req_child.fileno(), ctl_child.fileno()),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            for sock in (req_parent, req_child, ctl_parent, ctl_child):
                sock.close()
            raise ConnectionFailed(f"Could not start a query worker: {exc}", detail=str(exc)) from exc
        req_child.close()
        ctl_child.close()
        self.requests = Pipe(req_parent.detach())
        self.control = Pipe(ctl_parent.detach(), readable=False)
        self.pid = self.proc.pid

    def wait_ready(self) -> None:
        """Block until the worker has opened the database.

        Raises:
            ConnectionFailed: it could not (the message is the worker's).
        """
        if self.ready:
            return
        try:
            if not self.requests.poll(_STARTUP_TIMEOUT_S):
                raise ConnectionFailed("A query worker did not start in time; retry.")
            message = self.requests.recv()
        except (EOFError, OSError) as exc:
            raise ConnectionFailed(
                f"A query worker ended while starting (exit code {self.proc.poll()}).", detail=str(exc)
            ) from exc
        if message[0] != "ready":
            raise ConnectionFailed(f"Could not open the database: {message[1]}", detail=str(message[1]))
        self.ready = True

    def interrupt(self, qid: int) -> None:
        """Ask the worker to interrupt query ``qid`` (a no-op once it has finished)."""
        with self.lock:
            if self.qid == qid:
                with contextlib.suppress(OSError):
                    self.control.send(("interrupt", qid))

    def kill(self, reason: str, qid: int | None = None) -> None:
        """Kill the process (only if it is still running ``qid``, when given)."""
        with self.lock:
            if qid is not None and self.qid != qid:
                return
            if self.kill_reason is None:
                self.kill_reason = reason
            with contextlib.suppress(OSError):
                self.proc.send_signal(signal.SIGKILL)

    def rss_bytes(self) -> int:
        """Resident memory of the process, 0 when it is gone."""
        try:
            with open(f"/proc/{self.pid}/statm", "rb") as statm:
                return int(statm.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return 0

    def reap(self) -> None:
        """Wait for the dead process, close the pipes and remove its spill directory."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        for pipe in (self.requests, self.control):
            with contextlib.suppress(OSError):
                pipe.close()
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


class Job:
    """One query's claim on a worker; :meth:`WorkerPool.stop` may act on it from another thread."""

    _ids = itertools.count(1)

    def __init__(self) -> None:
        self.qid = next(self._ids)
        self.lock = threading.Lock()
        self.worker: _Worker | None = None
        self.stopped = False


class WorkerPool:
    """Worker processes for one database file, started on demand up to ``limits.workers`` (one at once)."""

    def __init__(self, dialect: str, path: Path, limits: SandboxLimits) -> None:
        self.dialect = dialect
        self.path = path
        self.limits = limits
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._numbers = itertools.count()
        self._closed = False
        if limits.temp_root is not None and limits.spill_mb > 0:
            limits.temp_root.mkdir(parents=True, exist_ok=True)
        if limits.prestart:
            with self._cond:
                self._idle.append(self._spawn())
        self._watcher = threading.Thread(target=self._watch, name="sqlbot-sandbox-watch", daemon=True)
        self._watcher.start()
        _POOLS.add(self)

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        with self._cond:
            return sorted(w.pid for w in self._workers)

    def _spawn(self) -> _Worker:
        worker = _Worker(self, next(self._numbers))
        self._workers.add(worker)
        return worker

    def acquire(self, job: Job) -> _Worker | None:
        """Claim a ready worker for ``job`` (blocking while all are busy); ``None`` if the job was stopped.

        Raises:
            ConnectionFailed: the pool is closed or a worker could not open the database.
        """
        with self._cond:
            while True:
                if self._closed:
                    raise ConnectionFailed("The connection is closed; reconnect to the datasource.")
                if job.stopped:
                    return None
                if self._idle:
                    worker = self._idle.pop()
                    break
                if len(self._workers) < self.limits.workers:
                    worker = self._spawn()
                    break
                self._cond.wait(0.5)
        try:
            worker.wait_ready()
        except ConnectionFailed:
            worker.kill("failed")
            self._discard(worker, respawn=False)
            raise
        with job.lock, worker.lock:
            if job.stopped:
                stopped = True
            else:
                stopped = False
                job.worker = worker
                worker.qid = job.qid
        if stopped:
            self._release(worker)
            return None
        return worker

    def execute(
        self,
        job: Job,
        request: tuple[Any, ...],
        on_progress: Callable[[float], None] | None,
    ) -> tuple[Any, ...] | None:
        """Run ``request`` for ``job`` on a worker (blocking) and return the worker's reply.

        Returns ``None`` when the job was stopped before it got a worker.

        Raises:
            WorkerDied: the worker ended mid-query (killed for memory, after a timeout, or crashed).
            ConnectionFailed: see :meth:`acquire`.
        """
        worker = self.acquire(job)
        if worker is None:
            return None
        try:
            worker.requests.send(("run", job.qid, *request))
            while True:
                message: tuple[Any, ...] = worker.requests.recv()
                if message[0] == "progress":
                    if on_progress is not None and message[1] == job.qid:
                        on_progress(message[2])
                    continue
                if message[1] == job.qid:
                    break
        except (EOFError, OSError):
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(5)
            reason = worker.kill_reason or "crash"
            self._discard(worker)
            raise WorkerDied(reason, worker.proc.returncode) from None
        with worker.lock:
            worker.qid = None
        self._release(worker)
        return message

    def stop(self, job: Job) -> None:
        """Stop ``job``: interrupt its query now and kill its worker if it has not stopped in the grace time."""
        with job.lock:
            job.stopped = True
            worker = job.worker
        if worker is None:
            with self._cond:
                self._cond.notify_all()
            return
        worker.interrupt(job.qid)
        timer = threading.Timer(self.limits.kill_grace_s, worker.kill, ("timeout", job.qid))
        timer.daemon = True
        timer.start()

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if self._closed or worker.kill_reason is not None:
                discard = True
            else:
                discard = False
                self._idle.append(worker)
                self._cond.notify()
        if discard:
            self._discard(worker)

    def _discard(self, worker: _Worker, *, respawn: bool = True) -> None:
        """Forget a dead (or dying) worker and start a replacement so the next query finds one ready."""
        worker.kill(worker.kill_reason or "discarded")
        worker.reap()
        with self._cond:
            self._workers.discard(worker)
            with contextlib.suppress(ValueError):
                self._idle.remove(worker)
            if respawn and not self._closed and not self._workers:
                self._idle.append(self._spawn())
            self._cond.notify_all()

    def _watch(self) -> None:
        """Kill any worker whose resident memory passes the limit (DuckDB does not bound every allocation)."""
        limit = self.limits.rss_limit_bytes
        while True:
            time.sleep(_WATCH_INTERVAL_S)
            with self._cond:
                if self._closed:
                    return
                workers = list(self._workers)
            for worker in workers:
                if worker.rss_bytes() > limit:
                    worker.kill("memory")

    def close(self) -> None:
        """Stop every worker (running queries are killed) and wait for them, so no process is left behind."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
            idle = set(self._idle)
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            if worker in idle:
                with contextlib.suppress(OSError):
                    worker.requests.send(("close",))
            else:
                worker.kill("closed")
        deadline = time.monotonic() + 1.0
        for worker in workers:
            try:
                worker.proc.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                worker.kill("closed")
            worker.reap()
        with self._cond:
            self._workers.clear()
        _POOLS.discard(self)


_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_POOLS):
        with contextlib.suppress(Exception):
            pool.close()
