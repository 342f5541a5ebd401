"""What a signed-in user may see and do: their own chats, granted datasources, admin-only operations.

Every rule here is a no-op in open mode (no users configured, ``user is None``), so the embedded default
behaves as it always has.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from datasources.registry import Registry
from server.auth import User
from server.errors import ApiError, not_found
from server.runs import RunManager
from server.store import ChatStore, Grant


def can_see(owner: str, user: User | None) -> bool:
    """Whether ``user`` may see a chat (or its records and runs) owned by ``owner``.

    Another user's chat is reported as missing (404), never as forbidden, so its existence does not leak.
    """
    return user is None or owner == user.name


def require_admin(user: User | None) -> None:
    """Refuse a non-admin with 403 ``ADMIN_REQUIRED``.

    Raises:
        ApiError: the user is signed in without the admin role.
    """
    if user is not None and not user.is_admin:
        raise ApiError(403, "ADMIN_REQUIRED", "Only an administrator can do this.",
                       {"suggestion": "Ask an administrator (a user with the admin role) to do it for you."})


def granted(grants: Iterable[Grant], user: User, default: str) -> bool:
    """Whether ``user`` may query a datasource with these grants (none: ``default`` decides)."""
    grants = list(grants)
    if user.is_admin:
        return True
    if not grants:
        return default == "all"
    return any((g.kind == "user" and g.subject == user.name) or (g.kind == "role" and g.subject in user.roles)
               for g in grants)


async def allowed_datasources(store: ChatStore, datasource_ids: list[str], user: User | None,
                              default: str) -> list[str] | None:
    """The datasource ids ``user`` may query, or None for every one (open mode, or an admin)."""
    if user is None or user.is_admin:
        return None
    by_datasource: dict[str, list[Grant]] = {}
    for grant in await store.list_grants():
        by_datasource.setdefault(grant.datasource_id, []).append(grant)
    return [d for d in datasource_ids if granted(by_datasource.get(d, ()), user, default)]


async def datasource_ids(registry: Registry) -> list[str]:
    """Every datasource id of the registry (read in a thread: the registry may touch the disk)."""
    configs = await asyncio.to_thread(registry.list)
    return [c.id for c in configs]


async def ensure_own_record(runs: RunManager, store: ChatStore, user: User | None, record_id: str,
                            kind: str = "run") -> None:
    """404 unless ``user`` owns the run or record ``record_id`` (a no-op in open mode).

    A live run is asked first: its record may not be saved yet.

    Raises:
        ApiError: 404 ``RUN_NOT_FOUND`` / ``RECORD_NOT_FOUND`` for a missing or another user's record.
    """
    if user is None:
        return
    live = runs.get(record_id)
    owner: str | None = live.record.owner if live is not None else None
    if owner is None:
        record = await store.get_record(record_id)
        owner = record.owner if record is not None else None
    if owner != user.name:
        raise not_found(kind, record_id)


async def ensure_still_granted(store: ChatStore, user: User | None, record_id: str,
                               default: str) -> None:
    """403 when a record's datasource is no longer granted to ``user`` (before retrying or re-running its SQL).

    A retry or an edited statement resumes the chat's thread past ``select_datasource``, so the grant it
    was chosen under is checked again here.

    Raises:
        ApiError: 403 ``INSUFFICIENT_PERMISSIONS``.
    """
    if user is None or user.is_admin:
        return
    record = await store.get_record(record_id)
    datasource_id = ((record.datasource or {}).get("id") or record.datasource_id) if record is not None else None
    if not datasource_id:
        return
    allowed = await allowed_datasources(store, [str(datasource_id)], user, default)
    if allowed is not None and datasource_id not in allowed:
        raise ApiError(403, "INSUFFICIENT_PERMISSIONS", f"You may no longer query the datasource {datasource_id!r}.",
                       {"suggestion": "Ask an administrator to grant you this datasource, or ask about another one."})


async def run_access(store: ChatStore, registry: Registry, user: User | None, default: str) -> dict[str, Any] | None:
    """The graph input that tells the run who asks and what they may query (None in open mode)."""
    if user is None:
        return None
    allowed = await allowed_datasources(store, await datasource_ids(registry), user, default)
    return {"principal": user.principal(), "allowed_datasources": allowed}
