"""The attack corpus (fixtures/attacks.sql, plus guard.sql): every verdict through the guard, and the DuckDB and
SQLite statements once more straight to the real read-only connection, guard bypassed, with file hashes
checked before and after."""

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from datasources.errors import DatasourceError
from datasources.guard import SQLRejected, check_sql, limit_rows
from datasources.registry import Registry
from datasources.schema import Column, Schema, Table
from tests.datasources.cases import Case, load_cases

ATTACKS = load_cases("attacks.sql")
ALL = [*load_cases("guard.sql"), *ATTACKS]
_SHOP = (
    Table("orders", (Column("id", "INTEGER", primary_key=True), Column("customer_id", "INTEGER"),
                     Column("amount", "NUMERIC"), Column("status", "VARCHAR"), Column("created_at", "TIMESTAMP"))),
    Table("customers", (Column("id", "INTEGER", primary_key=True), Column("name", "VARCHAR"),
                        Column("region", "VARCHAR"))),
)
SHOPS = {"pg": Schema("pg", "postgres", _SHOP), "my": Schema("my", "mysql", _SHOP)}


def _schema(registry: Registry, datasource: str) -> Schema:
    return SHOPS[datasource] if datasource in SHOPS else registry.schema(datasource)


def test_corpus_size_and_spread() -> None:
    dialects = Counter({"pg": "postgres", "my": "mysql", "movies": "sqlite"}.get(c.datasource, "duckdb") for c in ALL)
    assert len(ALL) >= 200
    assert min(dialects.values()) >= 30, dialects


@pytest.mark.parametrize("case", ATTACKS, ids=[c.id for c in ATTACKS])
def test_guard_verdict(case: Case, registry: Registry) -> None:
    schema = _schema(registry, case.datasource)
    if case.verdict == "allow":
        check_sql(case.sql, schema)
        return
    with pytest.raises(SQLRejected) as info:
        check_sql(case.sql, schema)
    if case.kind:
        assert info.value.kind == case.kind, info.value.message


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_bypassed_guard_the_database_still_refuses(registry: Registry, demo_data_dir: Path) -> None:
    """Refused statements sent straight to the read-only connections fail there too, and change no file."""
    files = sorted(p for p in demo_data_dir.rglob("*") if p.suffix in (".duckdb", ".sqlite", ".db"))
    before = {p: _digest(p) for p in files}
    local = [c for c in ALL if c.datasource not in SHOPS]
    ran_anyway: list[str] = []
    for case in local:
        connection = registry.connect(case.datasource)
        try:
            await connection.run(case.sql, max_rows=5, timeout_s=5)
        except DatasourceError:
            continue
        if case.verdict == "refuse" and case.kind in (None, "permission"):
            ran_anyway.append(f"{case.id}: {case.sql}")
    assert not ran_anyway, "\n".join(ran_anyway)
    assert {p: _digest(p) for p in files} == before


@pytest.mark.parametrize("case", [c for c in ATTACKS if c.verdict == "allow" and c.datasource not in SHOPS],
                         ids=lambda c: c.id)
async def test_allowed_attack_corpus_queries_run(case: Case, registry: Registry) -> None:
    schema = registry.schema(case.datasource)
    sql = limit_rows(check_sql(case.sql, schema), 5, schema.dialect)
    result = await registry.connect(case.datasource).run(sql, max_rows=5, timeout_s=10)
    assert result.row_count <= 5
