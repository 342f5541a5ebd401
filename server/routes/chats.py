"""Past chats: list, read (with every record), delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.access import can_see
from server.deps import ServicesDep, UserDep
from server.errors import ERROR_RESPONSES, not_found
from server.schemas import MAX_INT, ChatDetail, ChatOut, Deleted, RecordOut

router = APIRouter(prefix="/api/chats", tags=["chats"])


@router.get("", operation_id="list_chats")
async def list_chats(
    services: ServicesDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> list[ChatOut]:
    """Chats, most recently active first."""
    owner = user.name if user is not None else None
    return [ChatOut.of(c) for c in await services.store.list_chats(limit, offset, owner)]


@router.get("/{chat_id}", operation_id="get_chat", responses=ERROR_RESPONSES)
async def get_chat(services: ServicesDep, user: UserDep, chat_id: str) -> ChatDetail:
    """A chat with its records: question, datasource, SQL, result preview, chart, steps, error, timings."""
    chat = await services.store.get_chat(chat_id)
    if chat is None or not can_see(chat.owner, user):
        raise not_found("chat", chat_id)
    records = await services.store.list_records(chat_id)
    live = services.runs.active_in_chat(chat_id)
    views = [RecordOut.of(live.record if live is not None and live.id == r.id else r) for r in records]
    return ChatDetail(**ChatOut.of(chat).model_dump(), records=views)


@router.delete("/{chat_id}", operation_id="delete_chat", responses=ERROR_RESPONSES)
async def delete_chat(services: ServicesDep, user: UserDep, chat_id: str) -> Deleted:
    """Delete a chat, its records and its checkpoints (a run still answering in it is cancelled first)."""
    chat = await services.store.get_chat(chat_id)
    if chat is None or not can_see(chat.owner, user):
        raise not_found("chat", chat_id)
    live = services.runs.active_in_chat(chat_id)
    if live is not None:
        await services.runs.cancel(live, "request")
    await services.store.delete_chat(chat_id)
    await services.engine.delete_thread(chat_id)
    services.runs.forget_chat(chat_id)
    return Deleted(id=chat_id)
