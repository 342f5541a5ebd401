"""Users and what they may do: who am I, stream tokens, users (admin), datasource grants (admin), audit (admin)."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from datasources.errors import DatasourceNotFound
from server.access import require_admin
from server.auth import Authenticator, hash_key, new_key
from server.deps import ServicesDep, UserDep
from server.errors import ERROR_RESPONSES, ApiError, conflict, not_found
from server.schemas import MAX_INT, Deleted, _Out
from server.store import AuditEntry, Grant, StoredUser

router = APIRouter(tags=["users"])

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
"""User names and roles: letters, digits and ``_.@-``, up to 64 characters."""


class Me(_Out):
    """The signed-in user."""

    name: str = Field(description='The user\'s name ("" when the API is open).')
    roles: list[str]
    admin: bool = Field(description="Whether the user may manage datasources, grants and users.")
    auth_required: bool = Field(description="False when no users are configured and the API is open.")


class StreamToken(_Out):
    """A short-lived token for ``?access_token=`` on a GET that cannot send headers (EventSource)."""

    token: str | None = Field(description="None when the API is open (no token is needed).")
    expires_at: int | None = Field(description="Unix seconds.")


class UserOut(_Out):
    """A user (never its key)."""

    name: str
    roles: list[str]
    attrs: dict[str, str]
    source: Literal["env", "store"] = Field(description="SQLBOT_AUTH_KEYS (env) or the users table (store).")
    created_at: float | None = None
    revoked: bool = False


class UserCreate(BaseModel):
    """A new user of the users table."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME.pattern)
    roles: list[Annotated[str, Field(pattern=NAME.pattern)]] = Field(default_factory=list, max_length=20)
    attrs: dict[str, Annotated[str, Field(max_length=200)]] = Field(default_factory=dict, max_length=20)


class UserCreated(UserOut):
    """A new user and its key, shown this once."""

    key: str = Field(description="The API key; only its hash is stored, so it cannot be shown again.")


class Grants(BaseModel):
    """Who may query a datasource: users by name and/or roles. Both empty = the default policy applies."""

    model_config = ConfigDict(extra="forbid")

    users: list[Annotated[str, Field(pattern=NAME.pattern)]] = Field(default_factory=list, max_length=1000)
    roles: list[Annotated[str, Field(pattern=NAME.pattern)]] = Field(default_factory=list, max_length=100)
    default: Literal["all", "none"] | None = Field(
        None, description="SQLBOT_AUTH_DEFAULT_GRANT, which applies while both lists are empty (read only)."
    )


class AuditOut(_Out):
    """One run in the audit log."""

    id: int | None
    at: float
    user: str
    chat_id: str
    record_id: str
    question: str
    datasource_id: str | None
    sql: str | None
    row_count: int | None
    outcome: str = Field(description="ok, error, refusal, cancelled or interrupted.")
    code: str | None = Field(description="The error code when the run did not succeed.")

    @classmethod
    def of(cls, e: AuditEntry) -> AuditOut:
        """The API view of an audit entry."""
        return cls(id=e.id, at=e.at, user=e.user, chat_id=e.chat_id, record_id=e.record_id, question=e.question,
                   datasource_id=e.datasource_id, sql=e.sql, row_count=e.row_count, outcome=e.outcome, code=e.code)


@router.get("/api/auth/me", operation_id="get_me")
async def get_me(services: ServicesDep, user: UserDep) -> Me:
    """Who the key belongs to (in open mode: nobody, with every right)."""
    if user is None:
        return Me(name="", roles=[], admin=True, auth_required=False)
    return Me(name=user.name, roles=list(user.roles), admin=user.is_admin, auth_required=True)


@router.post("/api/auth/stream-token", operation_id="issue_stream_token")
async def issue_stream_token(user: UserDep) -> StreamToken:
    """A token valid for five minutes, for ``GET .../stream?access_token=`` (an ``EventSource`` sends no headers)."""
    if user is None:
        return StreamToken(token=None, expires_at=None)
    token, expires = Authenticator.stream_token(user)
    return StreamToken(token=token, expires_at=expires)


@router.get("/api/users", operation_id="list_users")
async def list_users(services: ServicesDep, user: UserDep) -> list[UserOut]:
    """Every user: those of ``SQLBOT_AUTH_KEYS`` and those of the users table (revoked ones flagged). Admin only."""
    require_admin(user)
    env = [UserOut(name=u.name, roles=list(u.roles), attrs={}, source="env") for u in services.auth.env_users.values()]
    stored = [UserOut(name=u.name, roles=u.roles, attrs=u.attrs, source="store", created_at=u.created_at,
                      revoked=u.revoked_at is not None) for u in await services.store.list_users()]
    return sorted(env, key=lambda u: u.name) + stored


@router.post("/api/users", operation_id="create_user", status_code=201, responses=ERROR_RESPONSES)
async def create_user(services: ServicesDep, user: UserDep, body: UserCreate) -> UserCreated:
    """Add a user to the users table and return its new key, once. Admin only.

    Not in open mode: whoever reached an open server could otherwise lock everyone else out. The first user
    comes from ``sqlbot users add NAME --role admin`` or ``SQLBOT_AUTH_KEYS``.
    """
    require_admin(user)
    if user is None:
        raise conflict("AUTH_NOT_ENABLED", "No users are configured, so users cannot be added over the API.",
                       {"suggestion": "Create the first user on the server: 'sqlbot users add NAME --role admin'."})
    if any(u.name == body.name for u in services.auth.env_users.values()):
        raise conflict("USER_EXISTS", f"The user {body.name!r} is defined in SQLBOT_AUTH_KEYS.")
    key = new_key()
    stored = StoredUser(body.name, hash_key(key), body.roles, body.attrs, time.time())
    try:
        await services.store.add_user(stored)
    except ValueError as exc:
        raise conflict("USER_EXISTS", f"The user {body.name!r} exists; revoke it first to issue a new key.") from exc
    services.auth.forget()
    return UserCreated(name=stored.name, roles=stored.roles, attrs=stored.attrs, source="store",
                       created_at=stored.created_at, key=key)


@router.delete("/api/users/{name}", operation_id="revoke_user", responses=ERROR_RESPONSES)
async def revoke_user(services: ServicesDep, user: UserDep, name: str) -> Deleted:
    """Revoke a user of the users table: its key stops working at once. Admin only."""
    require_admin(user)
    if not await services.store.revoke_user(name):
        raise not_found("user", name)
    services.auth.forget()
    return Deleted(id=name)


async def _datasource(services: ServicesDep, datasource_id: str) -> None:
    try:
        await asyncio.to_thread(services.registry.get, datasource_id)
    except DatasourceNotFound as exc:
        raise not_found("datasource", datasource_id) from exc


def _grants_out(grants: list[Grant], default: Literal["all", "none"]) -> Grants:
    return Grants(users=[g.subject for g in grants if g.kind == "user"],
                  roles=[g.subject for g in grants if g.kind == "role"], default=default)


@router.get("/api/datasources/{datasource_id}/grants", operation_id="get_grants", responses=ERROR_RESPONSES)
async def get_grants(services: ServicesDep, user: UserDep, datasource_id: str) -> Grants:
    """Who may query the datasource. Admin only."""
    require_admin(user)
    await _datasource(services, datasource_id)
    grants = await services.store.list_grants(datasource_id)
    return _grants_out(grants, services.settings.auth_default_grant)


@router.put("/api/datasources/{datasource_id}/grants", operation_id="set_grants", responses=ERROR_RESPONSES)
async def set_grants(services: ServicesDep, user: UserDep, datasource_id: str, body: Grants) -> Grants:
    """Replace who may query the datasource (admins always may). Empty lists restore the default policy."""
    require_admin(user)
    await _datasource(services, datasource_id)
    grants = [Grant(datasource_id, "user", u) for u in dict.fromkeys(body.users)]
    grants += [Grant(datasource_id, "role", r) for r in dict.fromkeys(body.roles)]
    await services.store.set_grants(datasource_id, grants)
    return _grants_out(grants, services.settings.auth_default_grant)


@router.get("/api/audit", operation_id="list_audit")
async def list_audit(
    services: ServicesDep,
    user: UserDep,
    of: Annotated[str | None, Query(alias="user", max_length=64, description="Only this user's runs.")] = None,
    since: Annotated[float | None, Query(ge=0, le=MAX_INT, description="Only runs from this Unix time on.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """Who asked what, which SQL ran on which datasource, rows returned and how it ended; newest first. Admin only."""
    require_admin(user)
    if of is not None and not of:
        raise ApiError(422, "INVALID_REQUEST", "user must not be empty.")
    return [AuditOut.of(e) for e in await services.store.list_audit(of, since, limit)]
