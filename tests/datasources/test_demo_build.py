"""Demo databases are built once, atomically, from the installed packages, with sensible types."""

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from datasources import demo
from datasources.demo import built_path, ensure_demo
from datasources.registry import Registry

ROOT = Path(__file__).resolve().parents[2]


def test_two_processes_building_at_once_build_once(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from datasources.demo import ensure_demo; "
        "print(ensure_demo(Path(sys.argv[1]), 'superstore'))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs[0] == outputs[1] == str(built_path(tmp_path, "superstore"))
    builds = (tmp_path / "demo" / "builds.jsonl").read_text().splitlines()
    assert len(builds) == 1, "the second process must reuse the first one's build"
    assert not list((tmp_path / "demo").glob("*.tmp"))
    con = duckdb.connect(outputs[0], read_only=True)
    assert con.execute("SELECT count(*) FROM superstore").fetchone() == (9994,)
    con.close()


def test_build_is_idempotent_and_versioned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ensure_demo(tmp_path, "superstore")
    mtime = first.stat().st_mtime_ns
    assert ensure_demo(tmp_path, "superstore") == first
    assert first.stat().st_mtime_ns == mtime
    monkeypatch.setattr(demo, "BUILD_VERSION", "test-next")
    second = ensure_demo(tmp_path, "superstore")
    assert second != first and second.exists()
    assert not first.exists(), "a build of an older builder version is removed"
    assert [
        json.loads(line)["file"] for line in (tmp_path / "demo" / "builds.jsonl").read_text().splitlines()
    ] == [
        first.name,
        second.name,
    ]


def test_movies_is_used_in_place(demo_data_dir: Path) -> None:
    path = ensure_demo(demo_data_dir, "movies")
    assert path.name == "movies.db" and "bokeh_sampledata" in path.parts


def test_flights_types_and_nulls(registry: Registry) -> None:
    # Through the registry: DuckDB refuses a second handle on the file with a different configuration.
    con = registry.connect("flights")
    types = dict(
        con.fetchall("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'flights'")
    )
    assert types["time_hour"] == "TIMESTAMP"
    assert types["year"] == types["month"] == types["dep_delay"] == types["hour"] == "INTEGER"
    assert types["carrier"] == "VARCHAR"
    counts = {
        t: con.fetchall(f"SELECT count(*) FROM {t}")[0][0]
        for t in ("flights", "airlines", "airports", "planes", "weather")
    }
    assert counts == {
        "flights": 336776,
        "airlines": 16,
        "airports": 1458,
        "planes": 3322,
        "weather": 26115,
    }
    # 'NA' in the CSVs is NULL: 8,255 flights were cancelled (no departure time).
    assert con.fetchall("SELECT count(*) FROM flights WHERE dep_time IS NULL")[0] == (8255,)
    # time_hour is New York local time, so it agrees with the year/month/day/hour columns.
    assert con.fetchall(
        "SELECT count(*) FROM flights WHERE hour(time_hour) != hour OR day(time_hour) != day"
    )[0] == (0,)


def test_superstore_columns(registry: Registry) -> None:
    con = registry.connect("superstore")
    columns = [r[0] for r in con.fetchall("DESCRIBE superstore")]
    assert columns == [
        "ship_mode", "segment", "country", "city", "state", "postal_code", "region", "category",
        "sub_category", "sales", "quantity", "discount", "profit",
    ]  # fmt: skip
    assert con.fetchall("SELECT min(length(postal_code)), max(length(postal_code)) FROM superstore")[0] == (
        5,
        5,
    )
    total = con.fetchall("SELECT round(sum(sales), 2) FROM superstore")[0][0]
    assert total == pytest.approx(2297200.86, abs=0.01)
