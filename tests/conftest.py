"""Fixtures shared by the whole test suite."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.openai_server import OpenAIServer, running_server


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A started scripted OpenAI-compatible server (see ``tests/support/openai_server.py``)."""
    yield from running_server()


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the demo databases already built (once per test session)."""
    from datasources.demo import ensure_demo

    data_dir = tmp_path_factory.mktemp("sqlbot-data")
    for demo_id in ("flights", "superstore", "movies"):
        ensure_demo(data_dir, demo_id)
    return data_dir
