"""The knowledge API over a real socket: glossary, examples and instructions, validation, import and export."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from graph.settings import Settings
from tests.server.conftest import ThreadedServer
from tests.support.databases import temp_pg_database

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The app's settings: knowledge in the SQLite chat database, or (like several workers) in PostgreSQL."""
    base = {"data_dir": tmp_path / "data", "disconnect_grace_s": 0.3, "_env_file": None}
    if request.param == "sqlite":
        yield Settings(**base)  # type: ignore[arg-type]
        return
    with temp_pg_database() as url:
        yield Settings(**base, database_url=url)  # type: ignore[arg-type]


@pytest.fixture
def http(live: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.base_url, timeout=120) as client:
        yield client


GMV = {"term": "GMV", "synonyms": ["成交总额"], "meaning": "total sales", "expression": "SUM(sales)",
       "datasource": "superstore"}


def test_glossary_crud_and_validation(http: httpx.Client) -> None:
    created = http.post("/api/knowledge/glossary", json=GMV)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["term"] == "GMV" and entry["id"]
    assert [g["term"] for g in http.get("/api/knowledge/glossary", params={"datasource": "superstore"}).json()] == ["GMV"]

    dup = http.post("/api/knowledge/glossary", json=GMV | {"term": "gmv", "expression": None})
    assert dup.status_code == 409 and dup.json()["code"] == "GLOSSARY_TERM_EXISTS"
    assert dup.json()["detail"]["suggestion"]

    bad_col = http.post("/api/knowledge/glossary", json=GMV | {"term": "revenue", "expression": "SUM(salez)"})
    assert bad_col.status_code == 422 and bad_col.json()["code"] == "KNOWLEDGE_INVALID"
    assert "salez" in bad_col.json()["message"] and "sales" in bad_col.json()["detail"]["suggestion"]
    bad_sql = http.post("/api/knowledge/glossary", json=GMV | {"term": "x", "expression": "SUM(sales"})
    assert bad_sql.status_code == 422 and bad_sql.json()["detail"]["field"] == "expression"
    unknown_ds = http.post("/api/knowledge/glossary", json=GMV | {"term": "y", "datasource": "nope"})
    assert unknown_ds.status_code == 404

    updated = http.put(f"/api/knowledge/glossary/{entry['id']}", json=GMV | {"meaning": "gross merchandise value"})
    assert updated.status_code == 200 and updated.json()["meaning"] == "gross merchandise value"
    assert http.delete(f"/api/knowledge/glossary/{entry['id']}").status_code == 204
    assert http.delete(f"/api/knowledge/glossary/{entry['id']}").status_code == 404
    assert http.get("/api/knowledge/glossary").json() == []


def test_examples_are_guarded_and_run(http: httpx.Client) -> None:
    ok = http.post("/api/knowledge/examples", json={
        "question": "total sales by region", "datasource": "superstore",
        "sql": "SELECT region, SUM(sales) FROM superstore GROUP BY region"})
    assert ok.status_code == 201, ok.text
    write = http.post("/api/knowledge/examples", json={
        "question": "drop it", "datasource": "superstore", "sql": "DELETE FROM superstore"})
    assert write.status_code == 422 and write.json()["code"] == "KNOWLEDGE_INVALID"
    assert write.json()["detail"]["field"] == "sql" and write.json()["detail"]["suggestion"]
    broken = http.post("/api/knowledge/examples", json={
        "question": "q", "datasource": "superstore", "sql": "SELECT no_such_column FROM superstore"})
    assert broken.status_code == 422 and "did not run" in broken.json()["message"]
    assert len(http.get("/api/knowledge/examples", params={"datasource": "superstore"}).json()) == 1


def test_instruction_shows_in_the_schema_view(http: httpx.Client) -> None:
    put = http.put("/api/knowledge/instructions/superstore", json={"text": "One row is one order line."})
    assert put.status_code == 200
    assert http.get("/api/knowledge/instructions/superstore").json()["text"] == "One row is one order line."
    assert http.get("/api/datasources/superstore").json()["instruction"] == "One row is one order line."


def test_export_and_import_round_trip(http: httpx.Client) -> None:
    assert http.post("/api/knowledge/glossary", json=GMV).status_code == 201
    assert http.post("/api/knowledge/glossary", json={
        "term": "亏损", "synonyms": ["loss-making"], "expression": "profit < 0", "datasource": "superstore"}).status_code == 201
    http.put("/api/knowledge/instructions/superstore", json={"text": "rows are order lines"})
    doc = http.get("/api/knowledge/export").json()
    assert {g["term"] for g in doc["glossary"]} == {"GMV", "亏损"}
    csv_text = http.get("/api/knowledge/export", params={"format": "csv", "kind": "glossary"}).text
    assert csv_text.splitlines()[0] == "term,synonyms,meaning,expression,datasource" and "loss-making" in csv_text

    for g in doc["glossary"]:
        http.delete(f"/api/knowledge/glossary/{g['id']}")
    imported = http.post("/api/knowledge/import", params={"format": "csv", "kind": "glossary"},
                         content=csv_text.encode())
    assert imported.status_code == 200 and imported.json()["glossary"] == 2
    again = http.post("/api/knowledge/import", content=httpx.Response(200, json=doc).content)
    assert again.status_code == 200 and again.json() == {"glossary": 2, "examples": 0, "instructions": 1}
    assert len(http.get("/api/knowledge/glossary").json()) == 2  # re-importing updates the terms in place

    bad = {"glossary": [GMV | {"term": "ok", "expression": "SUM(sales)"}, GMV | {"term": "bad", "expression": "AVG(nope)"}]}
    rejected = http.post("/api/knowledge/import", json=bad)
    assert rejected.status_code == 422 and rejected.json()["detail"]["item"] == 1
    assert "ok" not in {g["term"] for g in http.get("/api/knowledge/glossary").json()}  # nothing saved
    garbage = http.post("/api/knowledge/import", content=b"[1, 2]")
    assert garbage.status_code == 422 and garbage.json()["code"] == "KNOWLEDGE_INVALID"
