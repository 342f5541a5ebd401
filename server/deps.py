"""Dependencies built once in the app's ``lifespan`` and handed to routes as ``Annotated`` aliases.

Routes never import the app object: everything they need comes from ``request.app.state.services``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from datasources.registry import Registry
from graph.settings import Settings
from knowledge.store import KnowledgeStore
from server.access import require_admin
from server.auth import Authenticator, User, current_user
from server.engine import Engine
from server.runs import RunManager
from server.store import ChatStore


@dataclass
class Services:
    """The live objects of one app instance."""

    settings: Settings
    registry: Registry
    engine: Engine
    store: ChatStore
    runs: RunManager
    auth: Authenticator
    """Finds the user of an API key (the middleware and the user routes use it)."""
    heartbeat_s: float = 5.0
    """Seconds of silence after which an SSE stream sends a heartbeat comment."""
    knowledge: KnowledgeStore | None = None
    """Glossary, SQL examples and datasource instructions (in the chat store's database)."""


def get_services(request: Request) -> Services:
    """The services the lifespan put on the app state."""
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return get_services(request).settings


def get_registry(request: Request) -> Registry:
    """The datasource registry."""
    return get_services(request).registry


def get_store(request: Request) -> ChatStore:
    """The chat store."""
    return get_services(request).store


def get_runs(request: Request) -> RunManager:
    """The run manager."""
    return get_services(request).runs


def get_user(request: Request) -> User | None:
    """The signed-in user; None when no users are configured (the open, single-owner default)."""
    return current_user(request.scope)


def admin_only(request: Request) -> None:
    """A route dependency: 403 ``ADMIN_REQUIRED`` for a signed-in user without the admin role."""
    require_admin(current_user(request.scope))


ADMIN_ONLY = [Depends(admin_only)]
"""``dependencies=`` of the routes that manage datasources."""

ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
StoreDep = Annotated[ChatStore, Depends(get_store)]
RunsDep = Annotated[RunManager, Depends(get_runs)]
UserDep = Annotated[User | None, Depends(get_user)]
