"""Exporting a record's full result as CSV and XLSX: the recorded SQL re-run through the guard, capped."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook

from graph.settings import Settings
from server.store import Record


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", export_max_rows=50, max_rows=10, _env_file=None)  # type: ignore[call-arg]


async def _shop(client: httpx.AsyncClient, app: FastAPI, settings: Settings) -> None:
    path = settings.data_dir / "shop.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, region TEXT, amount REAL)")
        db.executemany("INSERT INTO orders (region, amount) VALUES (?, ?)",
                       [("东部" if i % 2 else "West", i * 1.5) for i in range(120)])
    r = await client.post("/api/datasources", json={"id": "shop", "type": "sqlite", "path": "shop.sqlite"})
    assert r.status_code == 201, r.text


async def _record(app: FastAPI, sql: str, status: str = "succeeded") -> str:
    store = app.state.services.store
    rid = f"r-{abs(hash((sql, status))) % 10**8}"
    await store.create_chat(f"c-{rid}", "orders", "shop")
    record = Record(id=rid, chat_id=f"c-{rid}", question="all orders", locale="en",
                    datasource_id="shop", status=status,  # type: ignore[arg-type]
                    datasource={"id": "shop", "name": "shop"}, sql=sql)
    await store.save_record(record)
    return record.id


async def test_csv_holds_every_row_up_to_the_cap(client: httpx.AsyncClient, app: FastAPI, settings: Settings) -> None:
    await _shop(client, app, settings)
    rid = await _record(app, "SELECT id, region, amount FROM orders WHERE id <= 30 ORDER BY id")
    r = await client.get(f"/api/chat/records/{rid}/export?format=csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["id", "region", "amount"]
    assert len(rows) == 31  # all 30, more than the 10 an answer keeps
    assert rows[2] == ["2", "东部", "1.5"]
    assert r.headers["x-truncated"] == "false"

    capped = await _record(app, "SELECT * FROM orders ORDER BY id")
    r = await client.get(f"/api/chat/records/{capped}/export")
    assert r.headers["x-truncated"] == "true" and r.headers["x-row-count"] == "50"
    assert len(r.content.decode("utf-8-sig").strip().splitlines()) == 51


async def test_xlsx_is_a_workbook_with_typed_cells(client: httpx.AsyncClient, app: FastAPI, settings: Settings) -> None:
    await _shop(client, app, settings)
    rid = await _record(app, "SELECT region, SUM(amount) AS total FROM orders GROUP BY region ORDER BY region")
    r = await client.get(f"/api/chat/records/{rid}/export?format=xlsx")
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == ["region", "total"]
    assert values[1][0] == "West" and isinstance(values[1][1], int | float)  # a number, not text
    assert len(values) == 3


async def test_the_guard_still_applies_and_errors_are_well_formed(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    await _shop(client, app, settings)
    rid = await _record(app, "DELETE FROM orders")
    r = await client.get(f"/api/chat/records/{rid}/export")
    assert r.status_code == 403 and r.json()["code"] == "INSUFFICIENT_PERMISSIONS"
    with sqlite3.connect(settings.data_dir / "shop.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 120
    failed = await _record(app, "SELECT 1 FROM orders", status="failed")
    r = await client.get(f"/api/chat/records/{failed}/export")
    assert r.status_code == 409 and r.json()["code"] == "NOTHING_TO_EXPORT"
    assert r.json()["detail"]["suggestion"]
    r = await client.get("/api/chat/records/nope/export")
    assert r.status_code == 404
    r = await client.get(f"/api/chat/records/{rid}/export?format=pdf")
    assert r.status_code == 422
