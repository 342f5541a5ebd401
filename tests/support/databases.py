"""Per-test databases on the machine's PostgreSQL and MariaDB servers, created and dropped by fixtures.

Each test gets its own database ``sqlbot_t_<random hex>`` (never touching any other database on these
shared servers). When a server is absent the test is skipped with the reason, except under ``CI=true``,
where it fails instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
MY_HOST, MY_PORT = "127.0.0.1", 3306


def require(ok: bool, reason: str) -> None:
    """Skip (or, under CI=true, fail) when a server the test needs is not there."""
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the server must be running)")
        pytest.skip(reason)


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True,
                           connect_timeout=3)


def _my_admin(database: str | None = None):  # type: ignore[no-untyped-def]
    import pymysql

    return pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", password="", database=database,
                           autocommit=True, connect_timeout=3)


def pg_available() -> bool:
    try:
        _pg_admin().close()
        return True
    except Exception:
        return False


def my_available() -> bool:
    try:
        _my_admin().close()
        return True
    except Exception:
        return False


PG_SEED = """
CREATE TABLE region (id integer PRIMARY KEY, name text NOT NULL);
COMMENT ON TABLE region IS 'Sales regions';
COMMENT ON COLUMN region.name IS '{"en": "Region name", "zh": "地区名称"}';
CREATE TABLE orders (id integer PRIMARY KEY, region_id integer REFERENCES region(id), amount numeric(10,2),
                     status text, ordered_on date);
COMMENT ON COLUMN orders.amount IS 'Order amount in USD';
INSERT INTO region VALUES (1, 'East'), (2, 'West'), (3, 'North');
INSERT INTO orders SELECT g, 1 + g % 3, g * 1.5, (ARRAY['open','shipped','returned'])[1 + g % 3],
                          DATE '2024-01-01' + g FROM generate_series(1, 300) g;
CREATE VIEW shipped_orders AS SELECT id, amount FROM orders WHERE status = 'shipped';
ANALYZE;
"""

MY_SEED = [
    "CREATE TABLE region (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL COMMENT '{\"en\": \"Region name\", \"zh\": \"地区名称\"}') COMMENT='Sales regions'",
    "CREATE TABLE orders (id INT PRIMARY KEY, region_id INT, amount DECIMAL(10,2) COMMENT 'Order amount in USD', "
    "status VARCHAR(20), ordered_on DATE, FOREIGN KEY (region_id) REFERENCES region(id))",
    "INSERT INTO region VALUES (1, 'East'), (2, 'West'), (3, 'North')",
    "INSERT INTO orders SELECT seq, 1 + seq % 3, seq * 1.5, ELT(1 + seq % 3, 'open', 'shipped', 'returned'), "
    "DATE '2024-01-01' + INTERVAL seq DAY FROM seq_1_to_300",
    "CREATE VIEW shipped_orders AS SELECT id, amount FROM orders WHERE status = 'shipped'",
    "ANALYZE TABLE region, orders",
]
"""The same shop as :data:`PG_SEED` (totals per region: East 22725, West 22425, North 22575)."""


@pytest.fixture
def pg_db() -> Iterator[str]:
    """A fresh seeded PostgreSQL database; yields its name."""
    require(pg_available(), f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}")
    import psycopg

    name = f"sqlbot_t_{secrets.token_hex(6)}"
    with _pg_admin() as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=name, autocommit=True) as conn:
            conn.execute(PG_SEED)
        yield name
    finally:
        with _pg_admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def my_db() -> Iterator[str]:
    """A fresh seeded MariaDB/MySQL database; yields its name."""
    require(my_available(), f"MariaDB/MySQL is not reachable at {MY_HOST}:{MY_PORT}")
    name = f"sqlbot_t_{secrets.token_hex(6)}"
    admin = _my_admin()
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
            cur.execute(f"USE {name}")
            for statement in MY_SEED:
                cur.execute(statement)
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.fixture
def my_user(my_db: str) -> Iterator[tuple[str, str]]:
    """A MariaDB user with a password and SELECT on ``my_db`` only; yields (user, password)."""
    user, password = f"sqlbot_u_{secrets.token_hex(4)}", "pw-" + secrets.token_hex(8)
    admin = _my_admin()
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
            cur.execute(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'")
            cur.execute(f"GRANT SELECT ON {my_db}.* TO '{user}'@'%'")
            cur.execute(f"GRANT SELECT ON {my_db}.* TO '{user}'@'localhost'")
        yield user, password
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'localhost'")
        admin.close()


def pg_active(dbname: str, marker: str) -> list[str]:
    """Queries containing ``marker`` still running in ``dbname`` (pg_stat_activity)."""
    with _pg_admin() as admin:
        rows = admin.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = %s AND state = 'active' AND query LIKE %s "
            "AND pid <> pg_backend_pid()",
            (dbname, f"%{marker}%"),
        ).fetchall()
    return [r[0] for r in rows]


def pg_sessions(dbname: str) -> int:
    """Open sessions of SQLBot (application_name sqlbot) on ``dbname``."""
    with _pg_admin() as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'sqlbot'", (dbname,)
        ).fetchone()
    return int(row[0]) if row else 0


def my_active(marker: str) -> list[str]:
    """Statements containing ``marker`` still running (SHOW PROCESSLIST)."""
    admin = _my_admin()
    try:
        with admin.cursor() as cur:
            cur.execute("SHOW FULL PROCESSLIST")
            rows = cur.fetchall()
    finally:
        admin.close()
    return [str(r[7]) for r in rows if r[7] and marker in str(r[7]) and "PROCESSLIST" not in str(r[7])]


def my_exec(database: str, sql: str) -> None:
    """Run one admin statement in ``database``."""
    admin = _my_admin(database)
    try:
        with admin.cursor() as cur:
            cur.execute(sql)
    finally:
        admin.close()


def pg_exec(database: str, sql: str) -> None:
    """Run admin SQL in ``database``."""
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=database, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def pg_url(dbname: str) -> str:
    """A libpq URL for ``dbname`` on the local server (trust auth, user postgres)."""
    return f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{dbname}"


def redis_available(port: int = REDIS_PORT) -> bool:
    import redis

    try:
        return bool(redis.Redis(host=REDIS_HOST, port=port, socket_connect_timeout=2).ping())
    except Exception:
        return False


@contextlib.contextmanager
def temp_pg_database() -> Iterator[str]:
    """A fresh empty PostgreSQL database ``sqlbot_t_<hex>``, dropped afterwards; yields its URL."""
    require(pg_available(), f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}")
    name = f"sqlbot_t_{secrets.token_hex(6)}"
    with _pg_admin() as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield pg_url(name)
    finally:
        with _pg_admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def temp_redis_prefix() -> Iterator[str]:
    """A key prefix of its own on the shared Redis (``sqlbot_t_<hex>:``); its keys are deleted afterwards."""
    require(redis_available(), f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}")
    import redis

    prefix = f"sqlbot_t_{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def pg_empty() -> Iterator[str]:
    """A fresh empty PostgreSQL database for the test; yields its URL."""
    with temp_pg_database() as url:
        yield url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of the test's own."""
    with temp_redis_prefix() as prefix:
        yield prefix


REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
