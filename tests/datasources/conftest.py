"""Fixtures for the datasource tests: one registry over demo databases built once per session."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from datasources.registry import Registry


@pytest.fixture(scope="session")
def registry(demo_data_dir: Path) -> Iterator[Registry]:
    """A caching registry over the session's demo data directory."""
    reg = Registry(demo_data_dir, max_rows=100, query_timeout_s=10)
    yield reg
    reg.close()
