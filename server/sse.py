"""SSE responses over a run's event log: the enhanced step protocol and the legacy SQLBot frames.

Both are listeners of the same run (:meth:`server.runs.Run.follow`), so a run is computed once whichever
way it is watched. Framing and client-disconnect handling come from sse-starlette; each enhanced event is
encoded once (``id:`` sequence, ``event:`` type, ``data:`` JSON) and shared by every listener. A heartbeat
comment goes out when the run has been silent for ``heartbeat_s``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse

from server.legacy import LegacyAdapter, encode, preamble
from server.runs import Run, RunManager, RunView

HEARTBEAT = b": ping\n\n"

_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
}


def _response(body: AsyncIterator[bytes], run: RunView) -> EventSourceResponse:
    headers = {**_HEADERS, "X-Run-Id": run.id, "X-Chat-Id": run.chat_id}
    # ping=0: the generators send their own heartbeat only when the run is silent.
    return EventSourceResponse(body, ping=0, headers=headers, sep="\n")


def enhanced_stream(runs: RunManager, run: RunView, *, after: int = 0, heartbeat_s: float) -> EventSourceResponse:
    """The step protocol from the event after ``after`` (a ``Last-Event-ID``), then live to the end.

    A run another worker owns is followed through the shared event log; only this worker's own runs count
    their listeners here (for the disconnect grace rule).
    """

    async def body() -> AsyncIterator[bytes]:
        local = run if isinstance(run, Run) else None
        if local is not None:
            runs.attach(local)
        try:
            async for item in run.follow(after, heartbeat_s):
                yield HEARTBEAT if item is None else item.sse
        finally:
            if local is not None:
                runs.detach(local)

    return _response(body(), run)


def legacy_stream(runs: RunManager, run: Run, *, title: str | None, heartbeat_s: float) -> EventSourceResponse:
    """SQLBot's simple stream: ``data:{json}`` frames only."""

    async def body() -> AsyncIterator[bytes]:
        runs.attach(run)
        try:
            for frame in preamble(run.id, run.record.question, title=title):
                yield encode(frame)
            adapter = LegacyAdapter()
            async for item in run.follow(0, heartbeat_s):
                if item is None:
                    yield HEARTBEAT
                    continue
                # A run is compacted only once every listener has left, so a legacy listener sees events.
                assert item.event is not None
                for frame in adapter.frames(item.event):
                    yield encode(frame)
        finally:
            runs.detach(run)

    return _response(body(), run)
