"""Asking questions and following, cancelling, retrying and regenerating runs."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query
from sse_starlette import EventSourceResponse

from datasources.errors import DatasourceNotFound
from server.access import ensure_own_record, ensure_still_granted, run_access
from server.deps import ServicesDep, UserDep
from server.errors import ERROR_RESPONSES, conflict, not_found
from server.runs import Run, RunView
from server.schemas import MAX_INT, CancelResult, QuestionRequest, RecordData, RetryRequest, RunStatus
from server.sse import enhanced_stream, legacy_stream

router = APIRouter(prefix="/api/chat", tags=["chat"])

_STREAM = {200: {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}, **ERROR_RESPONSES}
_DATA_WAIT_S = 30.0


async def _check_datasource(services: ServicesDep, datasource_id: str | None) -> None:
    if datasource_id is None:
        return
    try:
        await asyncio.to_thread(services.registry.get, datasource_id)
    except DatasourceNotFound as exc:
        raise not_found("datasource", datasource_id) from exc


async def _access(services: ServicesDep, user: UserDep) -> dict[str, Any] | None:
    return await run_access(services.store, services.registry, user, services.settings.auth_default_grant)


async def _answer(services: ServicesDep, user: UserDep, body: QuestionRequest, *, enhanced: bool) -> EventSourceResponse:
    # A datasource that exists but is not granted is the graph's refusal (INSUFFICIENT_PERMISSIONS), not a 404.
    await _check_datasource(services, body.datasource_id)
    run, new_chat = await services.runs.ask(
        question=body.question, chat_id=body.chat_id, datasource_id=body.datasource_id, locale=body.locale,
        owner=user.name if user is not None else None, access=await _access(services, user),
    )
    return _stream(services, run, enhanced=enhanced, title=body.question[:20] if new_chat else None)


def _stream(services: ServicesDep, run: Run, *, enhanced: bool, title: str | None = None) -> EventSourceResponse:
    if enhanced and services.settings.enable_detailed_streaming:
        return enhanced_stream(services.runs, run, heartbeat_s=services.heartbeat_s)
    return legacy_stream(services.runs, run, title=title, heartbeat_s=services.heartbeat_s)


@router.post("/question", operation_id="ask_question", response_class=EventSourceResponse, responses=_STREAM)
async def ask_question(services: ServicesDep, user: UserDep, body: QuestionRequest) -> EventSourceResponse:
    """Ask a question. Streams SQLBot's legacy frames unless ``enhanced_streaming`` is true."""
    return await _answer(services, user, body, enhanced=body.enhanced_streaming)


@router.post(
    "/enhanced-question", operation_id="ask_question_enhanced", response_class=EventSourceResponse, responses=_STREAM
)
async def ask_question_enhanced(services: ServicesDep, user: UserDep, body: QuestionRequest) -> EventSourceResponse:
    """Ask a question and stream the step protocol (legacy frames when it is disabled server-wide)."""
    return await _answer(services, user, body, enhanced=True)


async def _run(services: ServicesDep, user: UserDep, run_id: str) -> RunView:
    """The run, owned here or (with the shared event log) by another worker; another user's run is not found."""
    await ensure_own_record(services.runs, services.store, user, run_id)
    run = await services.runs.find(run_id)
    if run is None:
        raise not_found("run", run_id)
    return run


@router.get("/runs/{run_id}", operation_id="get_run", responses=ERROR_RESPONSES)
async def get_run(services: ServicesDep, user: UserDep, run_id: str) -> RunStatus:
    """Where a live or recently finished run stands (on whichever worker runs it)."""
    run = await _run(services, user, run_id)
    return RunStatus(run_id=run.id, chat_id=run.chat_id, status=run.status,
                     last_sequence=run.last_sequence, listeners=run.listeners, done=run.done)


@router.get("/runs/{run_id}/stream", operation_id="stream_run", response_class=EventSourceResponse, responses=_STREAM)
async def stream_run(
    services: ServicesDep,
    user: UserDep,
    run_id: str,
    last_event_id: Annotated[int | None, Header(ge=0, le=MAX_INT)] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_INT, description="Same as the Last-Event-ID header.")] = None,
) -> EventSourceResponse:
    """Reconnect: replay every event after ``Last-Event-ID`` and continue live; the stream ends with the terminal event.

    A finished run asked for what comes after its terminal event answers 409 ``RUN_FINISHED`` (with the
    terminal event in ``detail``): a 200 with nothing in it would make an ``EventSource`` reconnect forever,
    an error status makes it stop.
    """
    run = await _run(services, user, run_id)
    start = last_event_id if last_event_id is not None else after or 0
    terminal = run.terminal
    if terminal is not None and start >= terminal.seq:
        raise conflict("RUN_FINISHED", f"The run has finished; its last event is {terminal.seq}, nothing comes after it.",
                       {"lastSequence": terminal.seq, "status": run.status, "terminal": terminal.wire()})
    return enhanced_stream(services.runs, run, after=start, heartbeat_s=services.heartbeat_s)


@router.post("/runs/{run_id}/cancel", operation_id="cancel_run", responses=ERROR_RESPONSES)
async def cancel_run(services: ServicesDep, user: UserDep, run_id: str) -> CancelResult:
    """Stop a run now: the running step, its model request and its database query (on whichever worker runs it)."""
    run = await _run(services, user, run_id)
    status = await services.runs.cancel_any(run)
    return CancelResult(run_id=run.id, status=status)


@router.post("/runs/{run_id}/retry", operation_id="retry_run", response_class=EventSourceResponse, responses=_STREAM)
async def retry_run(
    services: ServicesDep, user: UserDep, run_id: str, body: Annotated[RetryRequest | None, Body()] = None
) -> EventSourceResponse:
    """Resume the run's chat from the checkpoint where it failed: completed steps are reused, not re-run."""
    await ensure_own_record(services.runs, services.store, user, run_id)
    await ensure_still_granted(services.store, user, run_id, services.settings.auth_default_grant)
    run = await services.runs.retry(run_id, body.step_id if body else None)
    return _stream(services, run, enhanced=True)


@router.post(
    "/runs/{run_id}/regenerate", operation_id="regenerate_run", response_class=EventSourceResponse, responses=_STREAM
)
async def regenerate_run(services: ServicesDep, user: UserDep, run_id: str) -> EventSourceResponse:
    """Ask the run's question again from the start, as a new record in the same chat."""
    run = await services.runs.regenerate(run_id, owner=user.name if user is not None else None,
                                         access=await _access(services, user))
    return _stream(services, run, enhanced=True)


async def _record_data(services: ServicesDep, user: UserDep, record_id: str) -> RecordData:
    await ensure_own_record(services.runs, services.store, user, record_id, "record")
    live = await services.runs.find(record_id)
    if live is not None and not live.done:
        await live.wait_finished(_DATA_WAIT_S)
    record = await services.store.get_record(record_id)
    if record is None:
        raise not_found("record", record_id)
    columns = record.columns or []
    rows: list[dict[str, Any]] = [dict(zip(columns, row, strict=False)) for row in record.rows or []]
    return RecordData(fields=columns, data=rows)


@router.get("/records/{record_id}/data", operation_id="get_record_data", responses=ERROR_RESPONSES)
async def get_record_data(services: ServicesDep, user: UserDep, record_id: str) -> RecordData:
    """The result rows of a record, as ``{fields, data}`` (what the legacy ``sql-data`` frame announces)."""
    return await _record_data(services, user, record_id)


@router.get("/record/{record_id}/data", include_in_schema=False)
async def get_record_data_sqlbot(services: ServicesDep, user: UserDep, record_id: str) -> RecordData:
    """SQLBot's own path for the same data."""
    return await _record_data(services, user, record_id)
