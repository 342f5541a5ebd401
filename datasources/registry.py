"""The catalogue of datasources: the three demos, user files inside the data directory, database servers.

The registry owns every open connection and caches introspection per ``(id, fingerprint)``: a file that
changes on disk gets a new fingerprint, so stale schemas and value indexes are never served. A database
server (PostgreSQL, MySQL/MariaDB) has no file to watch: its fingerprint is its connection identity plus a
refresh generation, so :meth:`Registry.refresh` (API ``POST /api/datasources/{id}/refresh``) re-introspects
it and invalidates everything cached for it. Server passwords live in the
:class:`~datasources.secrets.SecretStore`, never in ``datasources.json``. Methods are synchronous and may
block (first use builds a demo, introspection scans tables): call them through ``asyncio.to_thread`` from
async code. They are thread-safe.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args

from datasources.connection import Connection, open_connection
from datasources.demo import demo_path, ensure_demo
from datasources.demo_metadata import DEMOS
from datasources.errors import AppFileRefused, ConnectionFailed, DatasourceNotFound, InvalidDatasource
from datasources.introspect import introspect
from datasources.layout import REGISTRY_FILE, app_file_owning
from datasources.sandbox import SPILL_DIR, SandboxLimits, WorkerPool
from datasources.schema import Dialect, Schema
from datasources.secrets import Secret, SecretStore
from datasources.server import SERVER_TYPES, ServerConnection, ServerSpec
from datasources.values import ValueIndex

DatasourceType = Literal["duckdb", "sqlite", "postgresql", "mysql"]
"""Connector types: database files (``duckdb``, ``sqlite``) and servers (``postgresql``, ``mysql`` incl. MariaDB)."""

_SUPPORTED: tuple[DatasourceType, ...] = ("duckdb", "sqlite", "postgresql", "mysql")
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class DatasourceConfig:
    """One registered datasource."""

    id: str
    """Stable identifier used in URLs and requests (lower-case letters, digits, ``_`` and ``-``)."""
    name: str
    """Display name (English)."""
    type: DatasourceType
    """Connector type (the SQL dialect is :attr:`dialect`)."""
    path: Path = Path()
    """The database file (database servers have none)."""
    description_en: str = ""
    """What the data is about, in English."""
    description_zh: str = ""
    """What the data is about, in Chinese."""
    is_demo: bool = False
    """True for the built-in demo datasources (which cannot be removed)."""
    name_zh: str = ""
    """Display name in Chinese (falls back to ``name``)."""
    server: ServerSpec | None = None
    """Where the database server is, for ``postgresql`` and ``mysql`` datasources."""

    @property
    def dialect(self) -> Dialect:
        """The sqlglot dialect of SQL written for this datasource."""
        return "postgres" if self.type == "postgresql" else self.type

    @property
    def is_server(self) -> bool:
        """True for a database server (PostgreSQL, MySQL/MariaDB) rather than a file."""
        return self.type in SERVER_TYPES

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form."""
        return {
            "id": self.id,
            "name": self.name,
            "name_zh": self.name_zh,
            "type": self.type,
            "path": str(self.path),
            "description_en": self.description_en,
            "description_zh": self.description_zh,
            "is_demo": self.is_demo,
            **({"server": self.server.to_dict()} if self.server is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasourceConfig:
        """Rebuild a config from :meth:`to_dict` output."""
        return cls(
            id=data["id"],
            name=data.get("name", data["id"]),
            name_zh=data.get("name_zh", ""),
            type="postgresql" if data["type"] == "postgres" else data["type"],
            path=Path(data.get("path", "")),
            description_en=data.get("description_en", ""),
            description_zh=data.get("description_zh", ""),
            is_demo=bool(data.get("is_demo", False)),
            server=ServerSpec.from_dict(data["server"]) if data.get("server") else None,
        )


class Registry:
    """Datasources by id, with pooled connections and cached schemas and value indexes."""

    def __init__(
        self,
        data_dir: Path,
        *,
        max_rows: int = 1000,
        query_timeout_s: float = 30.0,
        enable_caching: bool = True,
        limits: SandboxLimits | None = None,
        app_files: tuple[Path, ...] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.limits = limits or SandboxLimits(temp_root=self.data_dir / SPILL_DIR)
        """Resource bounds of user queries on every connection this registry opens."""
        self.app_files = app_files
        """App state kept outside the data directory's usual names (a moved checkpoint DB): never a datasource."""
        self.max_rows = max_rows
        """Default row cap callers should pass to :meth:`Connection.run`."""
        self.query_timeout_s = query_timeout_s
        """Default timeout callers should pass to :meth:`Connection.run`."""
        self.enable_caching = enable_caching
        self._lock = threading.RLock()
        self._id_locks: dict[str, threading.Lock] = {}
        self._connections: dict[str, tuple[str, Connection]] = {}
        self._unpooled: list[tuple[float, Connection]] = []
        """Connections no longer handed out (superseded by a new file version, or unpooled), with when they
        were retired: closed once no query can still be running on them."""
        self.retire_after_s = 2 * query_timeout_s + 5
        """How long a retired connection stays open (a query on it is interrupted at the timeout)."""
        self._pools: dict[str, tuple[str, WorkerPool]] = {}
        self._retired_pools: list[tuple[float, WorkerPool]] = []
        self._schemas: dict[tuple[str, str], Schema] = {}
        self._values: dict[tuple[str, str], ValueIndex] = {}
        self._generations: dict[str, int] = {}
        self.secrets = SecretStore(self.data_dir)
        """Passwords of database-server datasources (``secrets.json``, mode 0600)."""

    # ------------------------------------------------------------------------------------------ catalogue

    def list(self) -> builtins.list[DatasourceConfig]:
        """Every datasource, demos first; cheap (nothing is built or opened)."""
        return [*self._demos(), *self._load_user()]

    def get(self, datasource_id: str) -> DatasourceConfig:
        """The datasource registered as ``datasource_id``.

        Raises:
            DatasourceNotFound: no such id.
        """
        for config in self.list():
            if config.id == datasource_id:
                return config
        raise DatasourceNotFound(
            f"There is no datasource called {datasource_id!r}; choose one of: "
            + ", ".join(c.id for c in self.list())
            + "."
        )

    def add(self, config: DatasourceConfig, password: Secret | None = None) -> DatasourceConfig:
        """Register a user database file inside the data directory, or a database server; returns the stored config.

        A server is connected to once first (with ``password``, which goes to the secret store, never to
        ``datasources.json``).

        Raises:
            InvalidDatasource: bad id, id taken, unsupported type, a path outside the data directory,
                a missing file, or a file the connector cannot open; a server config without a server.
            ConnectionFailed: the database server refused the login or cannot be reached.
        """
        if not _ID_PATTERN.match(config.id):
            raise InvalidDatasource(
                f"The datasource id {config.id!r} is not valid: use 1-64 lower-case letters, digits, '_' or '-'."
            )
        if config.type not in _SUPPORTED:
            raise InvalidDatasource(
                f"Datasources of type {config.type!r} are not supported yet; use one of {', '.join(_SUPPORTED)}."
            )
        if config.is_server:
            return self._add_server(config, password)
        path = self._checked_path(config.path, config.id)
        stored = replace(config, path=path, is_demo=False, name=config.name or config.id)
        try:
            open_connection(stored.dialect, path, limits=replace(self.limits, prestart=False)).close()
        except ConnectionFailed as exc:
            raise InvalidDatasource(
                f"{path.name} could not be opened as a {config.type} database: {exc.message}",
                detail=exc.detail,
            ) from exc
        with self._lock:
            users = self._load_user()
            if config.id in DEMOS or any(u.id == config.id for u in users):
                raise InvalidDatasource(
                    f"A datasource called {config.id!r} already exists; choose another id."
                )
            self._save_user([*users, stored])
        return stored

    def _add_server(self, config: DatasourceConfig, password: Secret | None) -> DatasourceConfig:
        stored = self._checked_server(config)
        if stored.server is not None and stored.server.password_env:
            password = None
        self.probe_config(stored, password)
        with self._lock:
            users = self._load_user()
            if config.id in DEMOS or any(u.id == config.id for u in users):
                raise InvalidDatasource(
                    f"A datasource called {config.id!r} already exists; choose another id."
                )
            if password:
                self.secrets.put(stored.id, password)
            else:
                self.secrets.delete(stored.id)
            self._save_user([*users, stored])
        return stored

    def update(self, config: DatasourceConfig, password: Secret | None = None) -> DatasourceConfig:
        """Edit a database-server datasource; ``password=None`` (or empty) keeps the stored password.

        The new settings are connected to before they are saved; the datasource's pool and caches are
        dropped, so the next question uses the new connection and a fresh schema.

        Raises:
            DatasourceNotFound: no such id.
            InvalidDatasource: a demo or a file datasource, or an invalid server config.
            ConnectionFailed: the server refused the login or cannot be reached.
        """
        current = self.get(config.id)
        if current.is_demo or not current.is_server:
            raise InvalidDatasource(
                f"{config.id!r} is not a database connection; only PostgreSQL/MySQL datasources can be edited."
            )
        stored = self._checked_server(config)
        assert stored.server is not None
        keep = not password
        effective = None if stored.server.password_env else (password or self.secrets.get(config.id))
        self.probe_config(stored, effective)
        with self._lock:
            users = self._load_user()
            if stored.server.password_env:
                self.secrets.delete(stored.id)
            elif not keep and password:
                self.secrets.put(stored.id, password)
            self._save_user([stored if u.id == stored.id else u for u in users])
            self._forget(stored.id)
            self._generations[stored.id] = self._generations.get(stored.id, 0) + 1
        return stored

    def has_password(self, datasource_id: str) -> bool:
        """Whether a database-server datasource has a password (stored, or an environment reference)."""
        config = self.get(datasource_id)
        if config.server is not None and config.server.password_env:
            return True
        return self.secrets.has(datasource_id)

    def probe_config(self, config: DatasourceConfig, password: Secret | None = None) -> tuple[float, str]:
        """Connect to a server config that need not be saved; returns (latency in ms, server version).

        Testing an edit of a registered connection without typing the password again uses the stored one, but
        only for the same server and user: a stored password is never sent to a host it was not saved for.

        Raises:
            ConnectionFailed: the server refused the login or cannot be reached.
            InvalidDatasource: not a server config.
        """
        stored = self._checked_server(config)
        use_store = False
        if password is None and stored.server is not None and not stored.server.password_env:
            with contextlib.suppress(DatasourceNotFound):
                saved = self.get(config.id).server
                use_store = saved is not None and (saved.type, saved.host, saved.port, saved.user) == (
                    stored.server.type, stored.server.host, stored.server.port, stored.server.user)
        conn = self._open_server(stored, password, use_store=use_store)
        try:
            latency = conn.test()
            return latency, conn.server_version()
        finally:
            conn.close()

    def probe(self, datasource_id: str) -> tuple[float, str]:
        """Connect to a registered datasource and run a trivial query; returns (latency in ms, version)."""
        conn = self.connect(datasource_id)
        latency = conn.test()
        if isinstance(conn, ServerConnection):
            return latency, conn.server_version()
        if conn.dialect == "duckdb":
            import duckdb

            return latency, f"DuckDB {duckdb.__version__}"
        import sqlite3

        return latency, f"SQLite {sqlite3.sqlite_version}"

    def refresh(self, datasource_id: str) -> Schema:
        """Drop the cached schema and value index of a datasource and introspect it again.

        For a database server the fingerprint changes too (the refresh generation is part of it), so
        every cache keyed by it, the graph's step cache included, is bypassed.
        """
        self.get(datasource_id)
        with self._lock:
            self._generations[datasource_id] = self._generations.get(datasource_id, 0) + 1
            self._schemas = {k: v for k, v in self._schemas.items() if k[0] != datasource_id}
            self._values = {k: v for k, v in self._values.items() if k[0] != datasource_id}
        return self.schema(datasource_id)

    def remove(self, datasource_id: str) -> None:
        """Unregister a user datasource (the file itself is left alone) and drop its connections and caches.

        Raises:
            InvalidDatasource: the datasource is a demo.
            DatasourceNotFound: no such id.
        """
        if datasource_id in DEMOS:
            raise InvalidDatasource(f"{datasource_id!r} is a demo datasource and cannot be removed.")
        with self._lock:
            users = self._load_user()
            if not any(u.id == datasource_id for u in users):
                self.get(datasource_id)  # raises DatasourceNotFound with the list of ids
            self._save_user([u for u in users if u.id != datasource_id])
            self.secrets.delete(datasource_id)
            self._forget(datasource_id)

    # ------------------------------------------------------------------------------------------ access

    def fingerprint(self, datasource_id: str) -> str:
        """A short digest of the file's identity, size and mtime: it changes whenever the data may have.

        A database server's is its connection identity and refresh generation (no round trip).
        """
        config = self.get(datasource_id)
        if config.server is not None:
            token = f"{config.server.identity()}|{self._generations.get(datasource_id, 0)}"
            return hashlib.sha256(token.encode()).hexdigest()[:16]
        path = self._file(config)
        try:
            stat = path.stat()
        except OSError as exc:
            raise ConnectionFailed(f"The database file of {datasource_id!r} is missing: {exc}") from exc
        token = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
        return hashlib.sha256(token.encode()).hexdigest()[:16]

    def connect(self, datasource_id: str) -> Connection:
        """An open read-only connection, reused across calls while caching is enabled.

        Raises:
            DatasourceNotFound: no such id.
            ConnectionFailed: the file is missing or not a database.
        """
        config = self.get(datasource_id)
        if config.server is not None:
            return self._connect_server(config)
        fingerprint = self.fingerprint(datasource_id)
        self._close_retired()
        if not self.enable_caching:
            path = self._file(config)
            conn = open_connection(config.dialect, path, pool=self._pool(datasource_id, fingerprint, config.dialect, path))
            with self._lock:
                self._unpooled.append((time.monotonic(), conn))
            return conn
        with self._lock:
            pooled = self._connections.get(datasource_id)
            if pooled is not None and pooled[0] == fingerprint:
                return pooled[1]
            path = self._file(config)
            conn = open_connection(config.dialect, path, pool=self._pool(datasource_id, fingerprint, config.dialect, path))
            if pooled is not None:
                self._unpooled.append((time.monotonic(), pooled[1]))  # may still run a query: closed later
            self._connections[datasource_id] = (fingerprint, conn)
            return conn

    def _pool(self, datasource_id: str, fingerprint: str, dialect: str, path: Path) -> WorkerPool:
        """The query workers of one file version, shared by every connection to it (caching or not)."""
        with self._lock:
            current = self._pools.get(datasource_id)
            if current is not None and current[0] == fingerprint:
                return current[1]
            pool = WorkerPool(dialect, path, self.limits)
            if current is not None:
                self._retired_pools.append((time.monotonic(), current[1]))  # may still run a query: closed later
            self._pools[datasource_id] = (fingerprint, pool)
            return pool

    def _close_retired(self) -> None:
        """Close retired connections old enough that nothing can still be running on them.

        Without this, a datasource whose file changes often (one written by another program) kept one
        open connection, and its file descriptors, per version for the life of the process.
        """
        cutoff = time.monotonic() - self.retire_after_s
        with self._lock:
            old = [c for t, c in self._unpooled if t <= cutoff]
            self._unpooled = [(t, c) for t, c in self._unpooled if t > cutoff]
            old_pools = [p for t, p in self._retired_pools if t <= cutoff]
            self._retired_pools = [(t, p) for t, p in self._retired_pools if t > cutoff]
        for conn in old:
            with contextlib.suppress(Exception):
                conn.close()
        for pool in old_pools:  # the query workers of a superseded file version
            with contextlib.suppress(Exception):
                pool.close()

    def schema(self, datasource_id: str) -> Schema:
        """The introspected schema, cached by (id, fingerprint) while caching is enabled."""
        config = self.get(datasource_id)
        key = (datasource_id, self.fingerprint(datasource_id))
        with self._id_lock(datasource_id):
            cached = self._schemas.get(key)
            if cached is not None:
                return cached
            schema = introspect(
                self.connect(datasource_id),
                datasource_id,
                description=(config.description_en, config.description_zh),
                doc=DEMOS.get(datasource_id) if config.is_demo else None,
            )
            if self.enable_caching:
                self._schemas = {k: v for k, v in self._schemas.items() if k[0] != datasource_id}
                self._schemas[key] = schema
            return schema

    def values(self, datasource_id: str) -> ValueIndex:
        """The value index of the datasource's text columns, cached like :meth:`schema`."""
        config = self.get(datasource_id)
        schema = self.schema(datasource_id)
        key = (datasource_id, self.fingerprint(datasource_id))
        with self._id_lock(datasource_id):
            cached = self._values.get(key)
            if cached is not None:
                return cached
            doc = DEMOS.get(datasource_id) if config.is_demo else None
            index = ValueIndex.build(
                self.connect(datasource_id), schema, list_columns=doc.list_columns if doc else frozenset()
            )
            if self.enable_caching:
                self._values = {k: v for k, v in self._values.items() if k[0] != datasource_id}
                self._values[key] = index
            return index

    def test(self, datasource_id: str) -> float:
        """Connect and run a trivial query; returns the round-trip latency in milliseconds."""
        return self.connect(datasource_id).test()

    def close(self) -> None:
        """Close every connection this registry opened and forget cached schemas."""
        with self._lock:
            conns = [c for _, c in self._connections.values()] + [c for _, c in self._unpooled]
            pools = [p for _, p in self._pools.values()] + [p for _, p in self._retired_pools]
            self._connections.clear()
            self._unpooled = []
            self._pools.clear()
            self._retired_pools = []
            self._schemas.clear()
            self._values.clear()
        for conn in conns:
            conn.close()
        for pool in pools:
            pool.close()

    # ------------------------------------------------------------------------------------------ internals

    def _demos(self) -> builtins.list[DatasourceConfig]:
        return [
            DatasourceConfig(
                id=doc.id,
                name=doc.name[0],
                name_zh=doc.name[1],
                type="sqlite" if doc.id == "movies" else "duckdb",
                path=demo_path(self.data_dir, doc.id),
                description_en=doc.description[0],
                description_zh=doc.description[1],
                is_demo=True,
            )
            for doc in DEMOS.values()
        ]

    def _connect_server(self, config: DatasourceConfig) -> Connection:
        """The datasource's pool, shared by every caller while its connection settings are unchanged."""
        assert config.server is not None
        key = config.server.identity()
        with self._lock:
            pooled = self._connections.get(config.id)
            if self.enable_caching and pooled is not None and pooled[0] == key:
                return pooled[1]
            conn = self._open_server(config)
            if not self.enable_caching:
                self._unpooled.append((time.monotonic(), conn))
                return conn
            if pooled is not None:
                self._unpooled.append((time.monotonic(), pooled[1]))
            self._connections[config.id] = (key, conn)
            return conn

    def _open_server(
        self, config: DatasourceConfig, password: Secret | None = None, *, use_store: bool = True
    ) -> ServerConnection:
        spec = config.server
        assert spec is not None
        secret = password
        if secret is None and use_store and not spec.password_env:
            secret = self.secrets.get(config.id)
        # the drivers are imported on first use: the embedded default never loads them
        if spec.type == "postgresql":
            from datasources.postgres import PostgresConnection

            return PostgresConnection(spec, secret)
        from datasources.mysql import MySQLConnection

        return MySQLConnection(spec, secret)

    def _checked_server(self, config: DatasourceConfig) -> DatasourceConfig:
        spec = config.server
        if spec is None or not config.is_server:
            raise InvalidDatasource("A database connection needs a server: give a URL, or host and database.")
        if spec.type != config.type:
            raise InvalidDatasource(f"The connection is a {spec.type} server, but the datasource type is {config.type}.")
        if not spec.host or not spec.database:
            raise InvalidDatasource("A database connection needs a host and a database.")
        if not 0 < spec.port < 65536:
            raise InvalidDatasource(f"The port {spec.port} is not valid (1-65535).")
        if spec.schemas and spec.type != "postgresql":
            raise InvalidDatasource("Schemas can only be chosen for PostgreSQL; a MySQL database is one schema.")
        return replace(config, path=Path(), is_demo=False, name=config.name or config.id)

    def _file(self, config: DatasourceConfig) -> Path:
        """The file to open: builds a demo on first use; re-checks a user path (it may have become a symlink)."""
        if config.is_demo:
            return ensure_demo(self.data_dir, config.id)
        return self._checked_path(config.path, config.id)

    def _checked_path(self, path: Path, datasource_id: str) -> Path:
        root = self.data_dir.resolve()
        candidate = Path(path) if Path(path).is_absolute() else root / path
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise InvalidDatasource(
                f"The database file {candidate} does not exist.", detail=str(exc)
            ) from exc
        if not resolved.is_relative_to(root):
            raise InvalidDatasource(
                f"The database file must be inside the data directory {root}; {path} is not "
                "(copy or upload the file there first)."
            )
        if not resolved.is_file():
            raise InvalidDatasource(f"{path} is not a file.")
        owner = app_file_owning(resolved, self.data_dir, datasource_id=datasource_id, extra=self.app_files)
        if owner is not None:
            raise AppFileRefused(
                f"{path} is SQLBot's own state ({owner.what}), not user data, and cannot be a datasource; "
                "register or upload your own database instead."
            )
        return resolved

    def _user_file(self) -> Path:
        return self.data_dir / REGISTRY_FILE

    def _load_user(self) -> builtins.list[DatasourceConfig]:
        try:
            data = json.loads(self._user_file().read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise InvalidDatasource(
                f"{self._user_file()} is not valid JSON; fix or delete it.", detail=str(exc)
            ) from exc
        return [DatasourceConfig.from_dict(item) for item in data.get("datasources", [])]

    def _save_user(self, configs: builtins.list[DatasourceConfig]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        target = self._user_file()
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(
            json.dumps({"datasources": [c.to_dict() for c in configs]}, indent=2, ensure_ascii=False)
        )
        os.replace(tmp, target)

    def _forget(self, datasource_id: str) -> None:
        pooled = self._connections.pop(datasource_id, None)
        if pooled is not None:
            with contextlib.suppress(Exception):
                pooled[1].close()
        workers = self._pools.pop(datasource_id, None)
        if workers is not None:
            workers[1].close()
        self._schemas = {k: v for k, v in self._schemas.items() if k[0] != datasource_id}
        self._values = {k: v for k, v in self._values.items() if k[0] != datasource_id}

    def _id_lock(self, datasource_id: str) -> threading.Lock:
        with self._lock:
            return self._id_locks.setdefault(datasource_id, threading.Lock())


def supported_types() -> tuple[str, ...]:
    """Every connector type name."""
    return get_args(DatasourceType)
