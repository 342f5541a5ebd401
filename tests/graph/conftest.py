from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datasources.registry import Registry
from graph.context import Context, StepTimings
from graph.events import start_run
from graph.protocol import Event
from graph.settings import Settings


@pytest.fixture
def settings(demo_data_dir: Path) -> Settings:
    return Settings(data_dir=demo_data_dir, retry_delay_scale=0.0, content_batch_ms=0)


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    registry = Registry(settings.data_dir, max_rows=settings.max_rows, query_timeout_s=settings.query_timeout_s)
    yield registry
    registry.close()


def make_context(settings: Settings, registry: Registry, writer: Any) -> Context:
    return Context(settings=settings, registry=registry, writer=writer, timings=StepTimings())


async def collect(graph: Any, inputs: Any, context: Context, config: Any = None, session_id: str = "t") -> list[dict[str, Any]]:
    events: list[Event] = [e async for e in start_run(graph, inputs=inputs, context=context, config=config, session_id=session_id)]
    return [e.wire() for e in events]


def by_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]
