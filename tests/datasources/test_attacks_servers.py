"""The attack corpus's PostgreSQL and MySQL statements sent straight to the real read-only connections, the
guard bypassed: reading may succeed (the connection is a superuser here; the README's read-only role is the
recommendation), but nothing may change — tables, objects, settings of later sessions, files on disk."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from datasources.errors import DatasourceError
from datasources.registry import DatasourceConfig, Registry
from datasources.server import parse_server_url
from tests.datasources.cases import load_cases
from tests.support.databases import MY_HOST, MY_PORT, PG_HOST, PG_PORT, my_db, my_exec, pg_db, pg_exec  # noqa: F401

CASES = [c for c in [*load_cases("attacks.sql")] if c.datasource in ("pg", "my")]
# the fixtures seed orders and region; the corpus's statements also name customers
_TABLES = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(50), region VARCHAR(20))",
    "INSERT INTO customers VALUES (1, 'Ann', 'north'), (2, 'Bo', 'south')",
]


def _pg_state(database: str) -> tuple[object, ...]:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=database, autocommit=True) as conn:
        rows = conn.execute("SELECT (SELECT string_agg(o::text, ';' ORDER BY id) FROM orders o), "
                            "(SELECT string_agg(c::text, ';' ORDER BY id) FROM customers c), "
                            "(SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace), "
                            "(SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace), "
                            "(SELECT count(*) FROM pg_roles)").fetchone()
        settings = conn.execute("SELECT setting FROM pg_settings WHERE name IN ('statement_timeout', "
                                "'default_transaction_read_only') ORDER BY name").fetchall()
    return (rows, settings)


def _my_state(database: str) -> tuple[object, ...]:
    import pymysql

    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", password="", database=database, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("CHECKSUM TABLE orders, customers")
            sums = cur.fetchall()
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (database,))
            tables = cur.fetchall()
            cur.execute("SELECT @@GLOBAL.max_statement_time, @@GLOBAL.read_only")
            settings = cur.fetchall()
    finally:
        conn.close()
    return (sums, tables, settings)


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
async def test_bypassed_guard_changes_nothing_on_the_server(kind: str, request: pytest.FixtureRequest,
                                                           tmp_path: Path) -> None:
    database = request.getfixturevalue("pg_db" if kind == "postgresql" else "my_db")
    run_admin = pg_exec if kind == "postgresql" else my_exec
    for statement in _TABLES:
        run_admin(database, statement)
    state = _pg_state if kind == "postgresql" else _my_state
    before = state(database)
    marker = Path(f"/tmp/sqlbot-attack-{secrets.token_hex(4)}")
    registry = Registry(tmp_path / "data", query_timeout_s=2)
    host, port, user = (PG_HOST, PG_PORT, "postgres") if kind == "postgresql" else (MY_HOST, MY_PORT, "root")
    spec, secret = parse_server_url(f"{kind}://{user}@{host}:{port}/{database}")
    registry.add(DatasourceConfig(id="shop", name="Shop", type=kind, server=spec), secret)  # type: ignore[arg-type]
    prefix = "pg" if kind == "postgresql" else "my"
    extra = [f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'", f"COPY orders TO '{marker}'"] if prefix == "pg" else [
        f"SELECT * FROM orders INTO OUTFILE '{marker}'"]
    statements = [c.sql for c in CASES if c.datasource == prefix and c.verdict == "refuse"] + extra
    try:
        connection = registry.connect("shop")
        writes_ran: list[str] = []
        for sql in statements:
            try:
                await connection.run(sql, max_rows=5, timeout_s=2)
            except DatasourceError:
                continue
            # function calls (pg_sleep, GET_LOCK...) are the guard's to refuse; statements must fail here
            lowered = sql.lower().lstrip()
            if not lowered.startswith("select") or "outfile" in lowered or "dumpfile" in lowered:
                writes_ran.append(sql)
        assert not writes_ran, writes_ran
        assert state(database) == before
        assert not marker.exists() and not os.path.exists(f"/var/lib/mysql/{marker.name}")
        # the connection still answers afterwards
        assert (await connection.run("SELECT count(*) FROM orders", max_rows=1, timeout_s=5)).rows == [[300]]
    finally:
        registry.close()
        marker.unlink(missing_ok=True)
