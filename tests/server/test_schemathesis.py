"""schemathesis against the server's own OpenAPI document, on a real socket: whatever a client sends,
the answer is never a 5xx, and every error is the JSON envelope. Bounded: a few dozen examples per
operation, derandomized, so the run is short and repeatable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from graph.settings import Settings
from server.app import create_app
from tests.server.conftest import ThreadedServer
from tests.server.scripted import ScriptedEngine, scripted_factory

EXAMPLES = 30
ENVELOPE_KEYS = {"code", "message", "detail"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    root = tmp_path_factory.mktemp("schemathesis")
    static = root / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>SQLBot</title>")
    settings_ = Settings(data_dir=root / "data", disconnect_grace_s=0.2, _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings_, engine_factory=scripted_factory(ScriptedEngine()), heartbeat_s=0.2, static_dir=static)
    with ThreadedServer(app) as server:
        yield server


# The document as the app generates it (no server needed to read it); calls go to the live server.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(Settings(data_dir=Path("/nonexistent"), _env_file=None)).openapi()  # type: ignore[call-arg]
)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_5xx_and_every_error_in_the_envelope(operation: Any, live: ThreadedServer) -> None:
    # schemathesis' own pytest plugin does not run under this pytest; its strategies do, through hypothesis.
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=live.base_url, timeout=20)
        where = f"{case.method} {case.formatted_path} {case.query or ''}"
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
        if response.status_code >= 400:
            body = json.loads(response.text)
            assert set(body) == ENVELOPE_KEYS, (where, body)
            assert isinstance(body["code"], str) and body["code"].isupper() and body["message"], (where, body)

    check()


def test_every_operation_is_exercised(live: ThreadedServer) -> None:
    served = httpx.get(f"{live.base_url}/openapi.json").json()
    assert {op.label for op in OPERATIONS} == {
        f"{method.upper()} {path}" for path, item in served["paths"].items() for method in item
    }
