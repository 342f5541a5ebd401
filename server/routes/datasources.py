"""Datasources: list, inspect (schema with descriptions), register a file or an upload, test, remove."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from datasources.errors import AppFileRefused, DatasourceError, DatasourceNotFound, InvalidDatasource
from datasources.registry import DatasourceConfig
from server.deps import ServicesDep
from server.errors import ERROR_RESPONSES, ApiError, conflict, not_found
from server.schemas import DatasourceCreate, DatasourceDetail, DatasourceOut, Deleted, TestResult
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


def _out(config: DatasourceConfig) -> DatasourceOut:
    return DatasourceOut(id=config.id, name=config.name, name_zh=config.name_zh or config.name, type=config.type,
                         description_en=config.description_en, description_zh=config.description_zh,
                         is_demo=config.is_demo)


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
async def list_datasources(services: ServicesDep) -> list[DatasourceOut]:
    """Every datasource, demos first."""
    return [_out(c) for c in await asyncio.to_thread(services.registry.list)]


@router.get("/{datasource_id}", operation_id="get_datasource", responses=ERROR_RESPONSES)
async def get_datasource(services: ServicesDep, datasource_id: str) -> DatasourceDetail:
    """A datasource with its schema: tables, columns, types, keys and descriptions."""
    config = await _get(services, datasource_id)
    try:
        schema = await asyncio.to_thread(services.registry.schema, datasource_id)
    except DatasourceError as exc:
        raise ApiError(503, "DATABASE_CONNECTION_FAILED", exc.message, exc.detail or None) from exc
    return DatasourceDetail(**_out(config).model_dump(), schema=schema.to_dict())


@router.post("", operation_id="create_datasource", status_code=201, openapi_extra=_CREATE_BODY,
             responses={**ERROR_RESPONSES, 403: ERROR_RESPONSES[409] | {"description": "Path outside the data directory, or SQLBot's own file"}})
async def create_datasource(services: ServicesDep, request: Request) -> DatasourceOut:
    """Register a DuckDB/SQLite file inside the data directory (JSON), or upload a CSV/Parquet file (multipart)."""
    uploaded = request.headers.get("content-type", "").startswith("multipart/form-data")
    if uploaded:
        config = await _from_upload(services, request)
    else:
        config = await _from_json(services, request)
    try:
        stored = await asyncio.to_thread(services.registry.add, config)
    except InvalidDatasource as exc:
        if uploaded:  # only the files this request wrote: a JSON registration must never delete an upload's
            shutil.rmtree(upload_dir(services.settings.data_dir, config.id), ignore_errors=True)
        raise _refusal(exc) from exc
    return _out(stored)


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
async def test_datasource(services: ServicesDep, datasource_id: str) -> TestResult:
    """Connect and run a trivial query; a failure is reported in the body, not as an HTTP error."""
    await _get(services, datasource_id)
    try:
        latency = await asyncio.to_thread(services.registry.test, datasource_id)
    except DatasourceError as exc:
        return TestResult(id=datasource_id, ok=False, message=exc.message)
    return TestResult(id=datasource_id, ok=True, latency_ms=round(latency, 2))


@router.delete("/{datasource_id}", operation_id="delete_datasource", responses=ERROR_RESPONSES)
async def delete_datasource(services: ServicesDep, datasource_id: str) -> Deleted:
    """Unregister a datasource (demos cannot be removed); an uploaded datasource's files are deleted too."""
    config = await _get(services, datasource_id)
    if config.is_demo:
        raise conflict("DEMO_DATASOURCE", f"{datasource_id!r} is a demo datasource and cannot be removed.")
    await asyncio.to_thread(services.registry.remove, datasource_id)
    uploads = upload_dir(services.settings.data_dir, datasource_id)
    if config.path.resolve().is_relative_to(uploads.resolve()):
        await asyncio.to_thread(shutil.rmtree, uploads, True)
    return Deleted(id=datasource_id)
