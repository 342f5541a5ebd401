"""A datasource whose file keeps changing does not keep one open connection per version."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

import pytest

from datasources.registry import DatasourceConfig, Registry


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def touch(path: Path, i: int) -> None:
    """Another program writes to the file: a new version (new fingerprint)."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:  # closed, not only committed
        conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (?)", (i,))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts file descriptors through /proc")
@pytest.mark.parametrize("caching", [True, False])
def test_superseded_connections_are_closed(tmp_path: Path, caching: bool) -> None:
    # SQLite only: a DuckDB file cannot change while a read-only handle holds its lock.
    registry = Registry(tmp_path / "data", query_timeout_s=0.05, enable_caching=caching)
    registry.retire_after_s = 0.2
    db = tmp_path / "data" / "live.sqlite"
    db.parent.mkdir()
    touch(db, 0)
    registry.add(DatasourceConfig(id="live", name="live", type="sqlite", path=db))
    try:
        registry.connect("live").test()
        before = open_fds()
        for i in range(60):
            touch(db, i)
            registry.connect("live").test()
            time.sleep(0.01)
        time.sleep(0.25)
        registry.connect("live").test()
        # One connection per version would be 60+ more descriptors; a few stay for the versions still young.
        assert open_fds() - before < 25, "retired connections are still open"
    finally:
        registry.close()
