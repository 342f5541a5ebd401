"""Who is asking: API keys, the users they belong to, and the middleware that demands one on ``/api``.

Users come from two places: ``SQLBOT_AUTH_KEYS`` (``name:key[:role+role]``, comma-separated) and the users
table in the chat store's database (``sqlbot users add|list|revoke``). Keys are never stored: only
``hash_key(key)``, an HMAC-SHA256 of the key under a fixed label. The keys SQLBot issues carry 256 random
bits, so a fast keyed hash is enough (nothing to brute-force, and lookups stay an indexed equality); a
hand-written key in ``SQLBOT_AUTH_KEYS`` should be just as long.

With no users at all the API is open, as it always was (one anonymous owner of every chat). With users,
every request under ``/api`` and ``/mcp`` needs ``Authorization: Bearer KEY``, or, for clients that cannot
set headers (a browser ``EventSource``), ``?access_token=`` with a short-lived stream token from
``POST /api/auth/stream-token``; a token is signed with the user's key hash, so revoking the key ends it too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from graph.state import Principal
from server.errors import envelope
from server.store import ChatStore, StoredUser

log = logging.getLogger(__name__)

ADMIN = "admin"
"""The role that manages datasources, grants and users, and reads the audit log."""
USER_SCOPE_KEY = "sqlbot.user"
"""Where the middleware leaves the signed-in :class:`User` in the ASGI scope."""
STREAM_TOKEN_TTL_S = 300
"""How long a stream token (``?access_token=``) is valid."""
ENABLED_TTL_S = 2.0
"""How long "are there any users?" is cached (a user added by the CLI counts within this time)."""
_KEY_LABEL = b"sqlbot-api-key-v1"
_PROTECTED = ("/api/", "/mcp")


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hmac.new(_KEY_LABEL, key.encode(), hashlib.sha256).hexdigest()


def new_key() -> str:
    """A fresh API key (256 random bits)."""
    return "sqlbot_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class User:
    """A signed-in user."""

    name: str
    roles: tuple[str, ...] = ()
    attrs: dict[str, str] = field(default_factory=dict, hash=False)
    key_hash: str = field(default="", repr=False)
    """Signs this user's stream tokens."""
    source: str = "env"
    """``env`` (``SQLBOT_AUTH_KEYS``) or ``store`` (the users table)."""

    @property
    def is_admin(self) -> bool:
        """Whether the user holds the admin role."""
        return ADMIN in self.roles

    def principal(self) -> Principal:
        """The user as the graph's input state knows it."""
        return {"name": self.name, "roles": list(self.roles), "attrs": dict(self.attrs)}

    @classmethod
    def of(cls, stored: StoredUser) -> User:
        """A user of the users table."""
        return cls(stored.name, tuple(stored.roles), dict(stored.attrs), stored.key_hash, "store")


def parse_keys(text: str | None) -> dict[str, User]:
    """``SQLBOT_AUTH_KEYS`` as users by key hash.

    Raises:
        ValueError: an entry is not ``name:key`` or ``name:key:role+role`` (a configuration mistake stops
            the start-up rather than leaving a user locked out or a key silently ignored).
    """
    users: dict[str, User] = {}
    for entry in (text or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) not in (2, 3) or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"SQLBOT_AUTH_KEYS: {parts[0]!r}… is not name:key or name:key:role+role")
        name, key = parts[0].strip(), parts[1].strip()
        roles = tuple(r for r in (parts[2].split("+") if len(parts) == 3 else ()) if r)
        if any(u.name == name for u in users.values()):
            raise ValueError(f"SQLBOT_AUTH_KEYS: user {name!r} appears twice")
        digest = hash_key(key)
        users[digest] = User(name, roles, {}, digest, "env")
    return users


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authenticator:
    """Finds the user a key or a stream token belongs to, in ``SQLBOT_AUTH_KEYS`` and the users table."""

    def __init__(self, env_users: dict[str, User], store: ChatStore) -> None:
        self.env_users = env_users
        self.store = store
        self._enabled: tuple[float, bool] = (0.0, False)

    async def enabled(self) -> bool:
        """Whether any user is configured (otherwise the API is open)."""
        if self.env_users:
            return True
        checked_at, value = self._enabled
        now = time.monotonic()
        if now - checked_at > ENABLED_TTL_S:
            value = await self.store.count_users() > 0
            self._enabled = (now, value)
        return value

    def forget(self) -> None:
        """Drop the cached answer of :meth:`enabled` (a user was added or revoked here)."""
        self._enabled = (0.0, False)

    async def by_key(self, key: str) -> User | None:
        """The user holding ``key``."""
        digest = hash_key(key)
        if (user := self.env_users.get(digest)) is not None:
            return user
        stored = await self.store.user_by_key(digest)
        return User.of(stored) if stored is not None else None

    async def by_name(self, name: str) -> User | None:
        """The active user called ``name``."""
        for user in self.env_users.values():
            if user.name == name:
                return user
        for stored in await self.store.list_users():
            if stored.name == name and stored.revoked_at is None:
                return User.of(stored)
        return None

    @staticmethod
    def stream_token(user: User, ttl_s: float = STREAM_TOKEN_TTL_S) -> tuple[str, int]:
        """A token for ``?access_token=`` and its expiry (Unix seconds)."""
        expires = int(time.time() + ttl_s)
        payload = f"{_b64(user.name.encode())}.{expires}"
        signature = hmac.new(user.key_hash.encode(), payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(signature)}", expires

    async def by_stream_token(self, token: str) -> User | None:
        """The user a valid, unexpired stream token was issued to."""
        try:
            name_part, expires_part, signature = token.split(".")
            name = _unb64(name_part).decode()
            expires = int(expires_part)
            given = _unb64(signature)
        except (ValueError, UnicodeDecodeError):
            return None
        if expires < time.time():
            return None
        user = await self.by_name(name)
        if user is None:
            return None
        expected = hmac.new(user.key_hash.encode(), f"{name_part}.{expires_part}".encode(), hashlib.sha256).digest()
        return user if hmac.compare_digest(expected, given) else None


def current_user(scope: Scope) -> User | None:
    """The user the middleware signed in for this request (None: the API is open)."""
    user: User | None = scope.get(USER_SCOPE_KEY)
    return user


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            scheme, _, credentials = bytes(value).decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else ""
    return None


def _access_token(scope: Scope) -> str | None:
    if scope.get("method") != "GET":
        return None
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("access_token")
    return values[0] if values else None


_SUGGESTION = ("Send the header 'Authorization: Bearer <your key>' (an administrator creates keys with "
               "'sqlbot users add NAME'); an EventSource may pass a stream token as ?access_token=.")


class AuthGate:
    """Pure ASGI middleware: requests under ``/api`` and ``/mcp`` need a valid key once any user exists."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Sign the request in, or answer 401 in the error envelope."""
        path: str = scope.get("path", "")
        services = _services(scope)
        if scope["type"] != "http" or services is None or not path.startswith(_PROTECTED):
            await self.app(scope, receive, send)
            return
        auth: Authenticator = services.auth
        if not await auth.enabled():
            await self.app(scope, receive, send)
            return
        key = _bearer(scope)
        token = _access_token(scope) if not key else None
        if not key and not token:
            await _unauthorized(scope, receive, send, "AUTH_REQUIRED", "This server needs an API key.")
            return
        user = await auth.by_key(key) if key else await auth.by_stream_token(token or "")
        if user is None:
            message = "The API key is not valid (or was revoked)." if key else "The stream token is not valid or has expired."
            await _unauthorized(scope, receive, send, "INVALID_API_KEY", message)
            return
        scope[USER_SCOPE_KEY] = user
        await self.app(scope, receive, send)


def _services(scope: Scope) -> Any:
    app = scope.get("app")
    state = getattr(app, "state", None)
    return getattr(state, "services", None)


async def _unauthorized(scope: Scope, receive: Receive, send: Send, code: str, message: str) -> None:
    response = envelope(401, code, message, {"suggestion": _SUGGESTION})
    response.headers["WWW-Authenticate"] = 'Bearer realm="sqlbot"'
    await response(scope, receive, send)
