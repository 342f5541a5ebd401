"""Health, the protocol's JSON Schema, and the web UI (static files with an SPA fallback)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from graph.protocol import protocol_json_schema
from server.deps import ServicesDep
from server.errors import not_found
from server.schemas import Health

router = APIRouter(tags=["meta"])

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

_NOT_BUILT = """<!doctype html><html><head><meta charset="utf-8"><title>SQLBot</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto">
<h1>SQLBot</h1><p>The web UI is not built. Build it with <code>npm --prefix web run build</code>
(it is written to <code>server/static/</code>); the API is live at <a href="/docs">/docs</a>.</p></body></html>"""


def _version() -> str:
    try:
        return version("sqlbot")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0.0.0"


@router.get("/healthz", operation_id="healthz")
async def healthz(services: ServicesDep) -> Health:
    """Liveness: the server answers, how many runs are in progress, and whether its shared stores answer."""
    log = services.runs.log
    return Health(version=_version(), active_runs=services.runs.active_count,
                  writer=getattr(services.engine, "writer_name", "unknown"),
                  ready=bool(getattr(services.engine, "ready", True)),
                  event_log=log.kind, event_log_ok=await log.healthy(), chat_store=services.store.kind)


@router.get("/api/protocol/schema", operation_id="get_protocol_schema")
async def get_protocol_schema() -> dict[str, Any]:
    """JSON Schema of every stream event, generated from the Pydantic models."""
    return protocol_json_schema()


def _static_file(root: Path, path: str) -> Path | None:
    """The built file at ``path`` under ``root``, or None (outside it, missing, or a name the OS refuses)."""
    try:
        candidate = (root / path).resolve()
        return candidate if candidate.is_relative_to(root) and candidate.is_file() else None
    except (OSError, ValueError):  # a name too long for the file system, a NUL
        return None


def static_router(static_dir: Path = STATIC_DIR) -> APIRouter:
    """Serve the built UI at ``/``; unknown non-API paths get ``index.html`` (client-side routing)."""
    ui = APIRouter(include_in_schema=False)
    root = static_dir.resolve()

    @ui.get("/{path:path}")
    async def web_ui(path: str) -> Response:
        if path.startswith("api/") or path == "api":
            raise not_found("route", "/" + path)
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT)
        if path and (candidate := _static_file(root, path)) is not None:
            return FileResponse(candidate)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    return ui
