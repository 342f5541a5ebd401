"""Exporting a record's full result as CSV or XLSX, beyond the rows the answer kept.

The recorded SQL is run again exactly as an answer's SQL is: parsed and checked by the guard against the
datasource's schema, capped by limiting the outer query, on the registry's read-only connection, with the
query timeout. The cap is ``SQLBOT_EXPORT_MAX_ROWS``; a longer result is cut off and says so in the
``X-Truncated`` header (and, for CSV, nowhere in the body, so the file stays a plain table).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from datasources.connection import QueryResult
from datasources.errors import ConnectionFailed, DatasourceNotFound, QueryFailed, QueryTimeout
from datasources.guard import SQLRejected, check_sql, limit_rows
from datasources.policy import ColumnNotPermitted, apply_policy_tree
from graph.access import policy_for
from graph.errors import SQLBotError
from graph.state import Principal
from server.access import can_see, run_access
from server.deps import ServicesDep, UserDep
from server.errors import ERROR_RESPONSES, ApiError, not_found

router = APIRouter(prefix="/api/chat", tags=["export"])

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILES = {200: {"description": "The result as a file", "content": {"text/csv": {}, _XLSX: {}}}, **ERROR_RESPONSES}


async def run_checked(
    services: ServicesDep, datasource_id: str, sql: str, max_rows: int, principal: Principal | None = None
) -> QueryResult:
    """Run ``sql`` through the guard on the datasource's read-only connection, at most ``max_rows`` rows.

    With a ``principal``, its row filters and hidden columns apply exactly as in a run (``execute_query``).

    Raises:
        ApiError: the SQL is refused (403/422), the database fails it (422/504), or cannot be reached (503).
    """
    registry = services.registry
    settings = services.settings
    try:
        schema = await asyncio.to_thread(registry.schema, datasource_id)
        statement = check_sql(sql, schema)
        context = getattr(services.engine, "context", None)
        policy = policy_for(principal, context.policies, schema) if context is not None else None
        if policy is not None:
            statement = apply_policy_tree(statement, schema.dialect, policy)
        connection = await asyncio.to_thread(registry.connect, datasource_id)
        return await connection.run(limit_rows(statement, max_rows + 1, schema.dialect), max_rows=max_rows,
                                    timeout_s=settings.query_timeout_s)
    except DatasourceNotFound as exc:
        raise not_found("datasource", datasource_id) from exc
    except SQLRejected as exc:
        status, code = (403, "INSUFFICIENT_PERMISSIONS") if exc.kind == "permission" else (422, "SQL_SYNTAX_ERROR")
        raise ApiError(status, code, str(exc), {"suggestion": "Only one read-only query over this datasource's tables can run."}) from exc
    except ColumnNotPermitted as exc:
        raise ApiError(403, "COLUMN_NOT_PERMITTED", str(exc), {"suggestion": "Leave that column out of the query."}) from exc
    except SQLBotError as exc:  # a malformed policy: fail closed
        raise ApiError(403, str(exc.code), exc.message.en, {"suggestion": exc.suggestion.en}) from exc
    except QueryFailed as exc:
        raise ApiError(422, "SQL_EXECUTION_FAILED", str(exc), {"suggestion": "Check the column and table names."}) from exc
    except QueryTimeout as exc:
        raise ApiError(504, "TIMEOUT_ERROR", f"The query ran longer than {settings.query_timeout_s:g} s and was stopped.",
                       {"suggestion": "Narrow the query (a filter or a LIMIT) or raise SQLBOT_QUERY_TIMEOUT_S."}) from exc
    except ConnectionFailed as exc:
        raise ApiError(503, "DATABASE_CONNECTION_FAILED", str(exc),
                       {"suggestion": "Check that the database is reachable, then try again."}) from exc


def _cell(value: Any) -> Any:
    """A value as a spreadsheet cell: numbers, dates and text stay themselves, anything else becomes text."""
    if value is None or isinstance(value, bool | int | float | str | datetime | date | time):
        return value
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # a BOM, so spreadsheet programs read UTF-8 (Chinese) correctly
    writer.writerow(columns)
    for i, row in enumerate(rows, 1):
        writer.writerow(["" if v is None else v for v in row])
        if i % 2000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _xlsx(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook  # imported on first export only

    book = Workbook(write_only=True)
    sheet = book.create_sheet("result")
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _filename(question: str, ext: str) -> str:
    stem = re.sub(r"[^0-9A-Za-z_-]+", "_", question).strip("_")[:40] or "result"
    return f"sqlbot-{stem}.{ext}"


@router.get("/records/{record_id}/export", operation_id="export_record", response_class=StreamingResponse,
            responses=_FILES)
async def export_record(
    services: ServicesDep,
    user: UserDep,
    record_id: str,
    format: Literal["csv", "xlsx"] = Query("csv", description="csv or xlsx."),  # noqa: A002 - the API's word
) -> StreamingResponse:
    """The record's full result (up to ``SQLBOT_EXPORT_MAX_ROWS`` rows) as a CSV or XLSX download."""
    record = await services.store.get_record(record_id)
    if record is None or not can_see(record.owner, user):
        raise not_found("record", record_id)
    datasource_id = (record.datasource or {}).get("id") or record.datasource_id
    access = await run_access(services.store, services.registry, user, services.settings.auth_default_grant)
    allowed = access["allowed_datasources"] if access else None
    if allowed is not None and datasource_id not in allowed:
        raise ApiError(403, "INSUFFICIENT_PERMISSIONS", f"You may no longer query the datasource {datasource_id!r}.",
                       {"suggestion": "Ask an administrator to grant you this datasource."})
    if record.status != "succeeded" or not record.sql or not datasource_id:
        raise ApiError(409, "NOTHING_TO_EXPORT", "Only an answer with a result can be exported.",
                       {"status": record.status, "suggestion": "Ask the question again, then export its result."})
    cap = services.settings.export_max_rows
    # the signed-in user's row and column policy: the export sees what their answer saw
    result = await run_checked(services, str(datasource_id), record.sql, cap, user.principal() if user else None)
    headers = {
        "Content-Disposition": f'attachment; filename="{_filename(record.question, format)}"',
        "X-Row-Count": str(result.row_count),
        "X-Truncated": "true" if result.truncated else "false",
    }
    if format == "xlsx":
        body = await asyncio.to_thread(_xlsx, result.columns, result.rows)
        return StreamingResponse(iter([body]), media_type=_XLSX, headers=headers)
    return StreamingResponse(_csv(result.columns, result.rows), media_type="text/csv; charset=utf-8", headers=headers)
