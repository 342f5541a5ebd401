"""Running SQL the person edited: the same guard, limits and steps as written SQL, recorded in the chat."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from server.access import ensure_own_record, ensure_still_granted
from server.deps import ServicesDep, UserDep
from server.errors import ERROR_RESPONSES
from server.sse import enhanced_stream

router = APIRouter(prefix="/api/chat", tags=["chat"])

_STREAM = {200: {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}, **ERROR_RESPONSES}


class EditSqlRequest(BaseModel):
    """The statement to run instead of the one the answer wrote."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=20_000, description="One read-only SQL statement.")


@router.post("/runs/{run_id}/sql", operation_id="run_edited_sql", response_class=EventSourceResponse,
             responses=_STREAM)
async def run_edited_sql(services: ServicesDep, user: UserDep, run_id: str, body: EditSqlRequest) -> EventSourceResponse:
    """Run edited SQL for the run's question: a new record in the same chat, streaming the step protocol.

    The steps before writing are re-announced as reused and the writing step completes with the edited
    SQL; the statement is then checked and run like any other (a refused or failing statement is a
    ``step_error``, and is not sent to the model for repair).
    """
    await ensure_own_record(services.runs, services.store, user, run_id)
    await ensure_still_granted(services.store, user, run_id, services.settings.auth_default_grant)
    run = await services.runs.edit_sql(run_id, body.sql.strip())
    return enhanced_stream(services.runs, run, heartbeat_s=services.heartbeat_s)
