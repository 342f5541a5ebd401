"""Datasources: list, inspect, register (file, upload, database server), test, edit, refresh, remove.

Database passwords never appear in a response (see ``datasources.secrets``).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from datasources.errors import (
    AppFileRefused,
    ConnectionFailed,
    DatasourceError,
    DatasourceNotFound,
    InvalidDatasource,
)
from datasources.registry import DatasourceConfig, Registry
from datasources.secrets import Secret
from server.access import allowed_datasources, datasource_ids
from server.deps import ADMIN_ONLY, ServicesDep, UserDep
from server.errors import ERROR_RESPONSES, ApiError, conflict, not_found
from server.schemas import (
    ConnectionOut,
    DatabaseCreate,
    DatasourceCreate,
    DatasourceDetail,
    DatasourceOut,
    Deleted,
    TestResult,
)
from server.uploads import UploadError, load_upload, upload_dir

router = APIRouter(prefix="/api/datasources", tags=["datasources"])

_UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "A .csv, .tsv or .parquet file."},
        "id": {"type": "string", "description": "Datasource id (default: from the file name)."},
        "name": {"type": "string"},
        "description": {"type": "string"},
    },
}
_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DatasourceCreate.model_json_schema()},
            "multipart/form-data": {"schema": _UPLOAD_FORM},
        },
    }
}


_SERVER_TYPES = ("postgresql", "mysql")
_CONNECTION_SUGGESTION = (
    "Check the host, port, database name, user and password (or the ${NAME} environment variable), and that "
    "the server is running and accepts connections from this machine; then test again."
)


def _out(config: DatasourceConfig, registry: Registry | None = None) -> DatasourceOut:
    connection = None
    if config.server is not None:
        spec = config.server
        has_password = bool(spec.password_env) or (registry is not None and registry.secrets.has(config.id))
        connection = ConnectionOut(host=spec.host, port=spec.port, database=spec.database, user=spec.user,
                                   schemas=list(spec.search_path if spec.type == "postgresql" else ()),
                                   has_password=has_password, url=spec.url(has_password=has_password),
                                   password_env=spec.password_env or None)
    return DatasourceOut(id=config.id, name=config.name, name_zh=config.name_zh or config.name, type=config.type,
                         description_en=config.description_en, description_zh=config.description_zh,
                         is_demo=config.is_demo, connection=connection)


def _connection_error(exc: DatasourceError, status: int = 422) -> ApiError:
    """DATABASE_CONNECTION_FAILED with the suggestion and the automatic-retry strategy a run would use."""
    return ApiError(status, "DATABASE_CONNECTION_FAILED", exc.message,
                    {"suggestion": _CONNECTION_SUGGESTION, "reason": exc.detail or exc.message,
                     "retry": {"maxRetries": 2, "backoff": "linear", "baseDelayS": 2.0}})


async def _database_body(request: Request, payload: Any | None = None) -> DatabaseCreate:
    if payload is None:
        try:
            payload = await request.json()
        except ValueError as exc:
            raise ApiError(400, "INVALID_JSON", "The request body is not valid JSON.") from exc
    try:
        return DatabaseCreate.model_validate(payload)
    except ValidationError as exc:
        # never echo the input: it may hold the password
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ApiError(422, "INVALID_REQUEST", f"Invalid database connection: {errors[0]['msg']}.", errors) from None


def _database_config(body: DatabaseCreate, datasource_id: str) -> tuple[DatasourceConfig, Secret | None]:
    try:
        spec, secret = body.to_spec()
    except InvalidDatasource as exc:
        raise ApiError(422, "INVALID_DATASOURCE", exc.message) from None
    return DatasourceConfig(id=datasource_id, name=body.name or datasource_id, type=body.type, server=spec,
                            description_en=body.description), secret


async def _allowed(services: ServicesDep, user: UserDep) -> list[str] | None:
    """The datasource ids the user may query (None: all of them)."""
    ids = await datasource_ids(services.registry) if user is not None else []
    return await allowed_datasources(services.store, ids, user, services.settings.auth_default_grant)


async def _get_granted(services: ServicesDep, user: UserDep, datasource_id: str) -> DatasourceConfig:
    """The datasource, or 404 when it does not exist or the user has no grant on it."""
    allowed = await _allowed(services, user)
    if allowed is not None and datasource_id not in allowed:
        raise not_found("datasource", datasource_id)
    return await _get(services, datasource_id)


async def _get(services: ServicesDep, datasource_id: str) -> DatasourceConfig:
    try:
        return await asyncio.to_thread(services.registry.get, datasource_id)
    except DatasourceNotFound as exc:
        raise not_found("datasource", datasource_id) from exc


def _refusal(exc: InvalidDatasource) -> ApiError:
    """The HTTP answer to a registration the registry refused: SQLBot's own files are a 403, like paths outside."""
    if isinstance(exc, AppFileRefused):
        return ApiError(403, "APP_FILE_REFUSED", exc.message, exc.detail or None)
    status = 409 if "already exists" in exc.message else 422
    return ApiError(status, "INVALID_DATASOURCE", exc.message, exc.detail or None)


def _inside(data_dir: Path, path: str) -> Path:
    root = data_dir.resolve()
    candidate = Path(path) if Path(path).is_absolute() else root / path
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root):
        raise ApiError(403, "PATH_OUTSIDE_DATA_DIR",
                       "Only files inside the data directory can be registered; upload the file instead.",
                       {"path": path})
    return resolved


@router.get("", operation_id="list_datasources")
async def list_datasources(services: ServicesDep, user: UserDep) -> list[DatasourceOut]:
    """Every datasource the user may query (all of them for admins and in open mode), demos first."""
    registry = services.registry
    allowed = await _allowed(services, user)
    return await asyncio.to_thread(
        lambda: [_out(c, registry) for c in registry.list() if allowed is None or c.id in allowed]
    )


@router.get("/{datasource_id}", operation_id="get_datasource", responses=ERROR_RESPONSES)
async def get_datasource(services: ServicesDep, user: UserDep, datasource_id: str) -> DatasourceDetail:
    """A datasource with its schema: tables, columns, types, keys and descriptions."""
    config = await _get_granted(services, user, datasource_id)
    try:
        schema = await asyncio.to_thread(services.registry.schema, datasource_id)
    except DatasourceError as exc:
        raise _connection_error(exc, 503) from None
    out = await asyncio.to_thread(_out, config, services.registry)
    instruction = (await services.knowledge.get_instruction(datasource_id)).text if services.knowledge else ""
    return DatasourceDetail(**out.model_dump(), schema=schema.to_dict(), instruction=instruction)


@router.post("/test", operation_id="test_database_connection", responses=ERROR_RESPONSES, dependencies=ADMIN_ONLY)
async def test_database_connection(services: ServicesDep, request: Request) -> TestResult:
    """Connect to a PostgreSQL/MySQL database described like a create body, without saving anything."""
    body = await _database_body(request)
    config, secret = _database_config(body, body.id or "test")
    try:
        latency, version = await asyncio.to_thread(services.registry.probe_config, config, secret)
    except ConnectionFailed as exc:
        return TestResult(id=config.id, ok=False, message=exc.message, code="DATABASE_CONNECTION_FAILED",
                          suggestion=_CONNECTION_SUGGESTION)
    except InvalidDatasource as exc:
        return TestResult(id=config.id, ok=False, message=exc.message, code="INVALID_DATASOURCE")
    return TestResult(id=config.id, ok=True, latency_ms=round(latency, 2), server_version=version)


@router.put("/{datasource_id}", operation_id="update_datasource", responses=ERROR_RESPONSES, dependencies=ADMIN_ONLY)
async def update_datasource(services: ServicesDep, datasource_id: str, request: Request) -> DatasourceOut:
    """Edit a database connection; a missing or empty password keeps the stored one."""
    current = await _get(services, datasource_id)
    if current.is_demo:
        raise conflict("DEMO_DATASOURCE", f"{datasource_id!r} is a demo datasource and cannot be edited.")
    body = await _database_body(request)
    if body.id not in (None, datasource_id):
        raise ApiError(422, "INVALID_REQUEST", "The id in the body must match the datasource being edited.")
    config, secret = _database_config(body, datasource_id)
    if not body.name:
        config = DatasourceConfig(**{**config.__dict__, "name": current.name})
    try:
        stored = await asyncio.to_thread(services.registry.update, config, secret)
    except ConnectionFailed as exc:
        raise _connection_error(exc) from None
    except InvalidDatasource as exc:
        raise ApiError(422, "INVALID_DATASOURCE", exc.message) from None
    return await asyncio.to_thread(_out, stored, services.registry)


@router.post("/{datasource_id}/refresh", operation_id="refresh_datasource", responses=ERROR_RESPONSES, dependencies=ADMIN_ONLY)
async def refresh_datasource(services: ServicesDep, datasource_id: str) -> DatasourceDetail:
    """Introspect the datasource again (tables, columns, comments, keys, row counts) and return its detail."""
    config = await _get(services, datasource_id)
    try:
        schema = await asyncio.to_thread(services.registry.refresh, datasource_id)
    except DatasourceError as exc:
        raise _connection_error(exc, 503) from None
    out = await asyncio.to_thread(_out, config, services.registry)
    return DatasourceDetail(**out.model_dump(), schema=schema.to_dict())


@router.post("", operation_id="create_datasource", status_code=201, openapi_extra=_CREATE_BODY, dependencies=ADMIN_ONLY,
             responses={**ERROR_RESPONSES, 403: ERROR_RESPONSES[409] | {"description": "Path outside the data directory, or SQLBot's own file"}})
async def create_datasource(services: ServicesDep, request: Request) -> DatasourceOut:
    """Register a DuckDB/SQLite file or a PostgreSQL/MySQL database (JSON), or upload a CSV/Parquet file (multipart)."""
    uploaded = request.headers.get("content-type", "").startswith("multipart/form-data")
    if uploaded:
        config = await _from_upload(services, request)
    else:
        try:
            payload: Any = await request.json()
        except ValueError as exc:
            raise ApiError(400, "INVALID_JSON", "The request body is not valid JSON.") from exc
        if isinstance(payload, dict) and payload.get("type") in _SERVER_TYPES:
            return await _create_database(services, request, payload)
        config = await _from_json(services, request)
    try:
        stored = await asyncio.to_thread(services.registry.add, config)
    except InvalidDatasource as exc:
        if uploaded:  # only the files this request wrote: a JSON registration must never delete an upload's
            shutil.rmtree(upload_dir(services.settings.data_dir, config.id), ignore_errors=True)
        raise _refusal(exc) from exc
    return _out(stored)


async def _create_database(services: ServicesDep, request: Request, payload: dict[str, Any]) -> DatasourceOut:
    body = await _database_body(request, payload)
    if not body.id:
        raise ApiError(422, "INVALID_REQUEST", "Give the database connection an id (1-64 lower-case letters, digits, _ or -).")
    config, secret = _database_config(body, body.id)
    try:
        stored = await asyncio.to_thread(services.registry.add, config, secret)
    except ConnectionFailed as exc:
        raise _connection_error(exc) from None
    except InvalidDatasource as exc:
        status = 409 if "already exists" in exc.message else 422
        raise ApiError(status, "INVALID_DATASOURCE", exc.message) from None
    return await asyncio.to_thread(_out, stored, services.registry)


async def _from_json(services: ServicesDep, request: Request) -> DatasourceConfig:
    try:
        payload: Any = await request.json()
    except ValueError as exc:
        raise ApiError(400, "INVALID_JSON", "The request body is not valid JSON.") from exc
    try:
        body = DatasourceCreate.model_validate(payload)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ApiError(422, "INVALID_REQUEST", f"Invalid datasource: {errors[0]['msg']}.", errors) from exc
    path = _inside(services.settings.data_dir, body.path)
    return DatasourceConfig(id=body.id, name=body.name or body.id, type=body.type, path=path,
                            description_en=body.description)


async def _from_upload(services: ServicesDep, request: Request) -> DatasourceConfig:
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ApiError(422, "INVALID_UPLOAD", "Send the file in a multipart field called 'file'.")
    fallback = Path(upload.filename).stem.lower().replace(" ", "_")
    fields = {k: str(form.get(k) or "") for k in ("id", "name", "description")}
    try:
        body = DatasourceCreate(id=fields["id"] or fallback, type="duckdb", path=upload.filename,
                                name=fields["name"], description=fields["description"])
    except ValidationError as exc:
        raise ApiError(422, "INVALID_UPLOAD", "Give the upload an id of 1-64 lower-case letters, digits, _ or -.",
                       {"id": fields["id"] or fallback}) from exc
    if body.id in {c.id for c in await asyncio.to_thread(services.registry.list)}:
        raise conflict("DATASOURCE_EXISTS", f"A datasource called {body.id!r} already exists; choose another id.")
    try:
        db, table = await asyncio.to_thread(load_upload, services.settings.data_dir, body.id, upload.filename,
                                            upload.file, max_bytes=services.settings.max_upload_bytes)
    except UploadError as exc:
        raise ApiError(422, "INVALID_UPLOAD", str(exc)) from exc
    finally:
        await upload.close()
    return DatasourceConfig(id=body.id, name=body.name or body.id, type="duckdb", path=db,
                            description_en=body.description or f"Uploaded {upload.filename} (table {table}).")


@router.post("/{datasource_id}/test", operation_id="test_datasource", responses=ERROR_RESPONSES)
async def test_datasource(services: ServicesDep, user: UserDep, datasource_id: str) -> TestResult:
    """Connect and run a trivial query; a failure is reported in the body, not as an HTTP error."""
    await _get_granted(services, user, datasource_id)
    try:
        latency, version = await asyncio.to_thread(services.registry.probe, datasource_id)
    except DatasourceError as exc:
        return TestResult(id=datasource_id, ok=False, message=exc.message, code="DATABASE_CONNECTION_FAILED",
                          suggestion=_CONNECTION_SUGGESTION)
    return TestResult(id=datasource_id, ok=True, latency_ms=round(latency, 2), server_version=version)


@router.delete("/{datasource_id}", operation_id="delete_datasource", responses=ERROR_RESPONSES, dependencies=ADMIN_ONLY)
async def delete_datasource(services: ServicesDep, datasource_id: str) -> Deleted:
    """Unregister a datasource (demos cannot be removed); an uploaded datasource's files are deleted too."""
    config = await _get(services, datasource_id)
    if config.is_demo:
        raise conflict("DEMO_DATASOURCE", f"{datasource_id!r} is a demo datasource and cannot be removed.")
    await asyncio.to_thread(services.registry.remove, datasource_id)
    uploads = upload_dir(services.settings.data_dir, datasource_id)
    if not config.is_server and config.path.resolve().is_relative_to(uploads.resolve()):
        await asyncio.to_thread(shutil.rmtree, uploads, True)
    return Deleted(id=datasource_id)
