"""The MCP server through the official SDK's own client: stdio (`sqlbot mcp` spawned) and streamable HTTP at /mcp
of a real `sqlbot serve`; every step of `ask` arrives as a progress notification."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

from graph.steps import STEPS
from tests.support.net import free_port

SQLBOT = str(Path(sys.executable).with_name("sqlbot"))
POLICY = (
    "rules:\n"
    "  - datasource: superstore\n    table: superstore\n    roles: [analyst]\n"
    "    row_filter: \"region = :user.region\"\n    hidden_columns: [profit]\n"
)


@pytest.fixture
def data_dir(tmp_path: Path, demo_data_dir: Path) -> Path:
    """A data dir of its own (chats, checkpoints) that reuses the session's demo builds."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "demo").symlink_to(demo_data_dir / "demo", target_is_directory=True)
    return data


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLBOT_")}
    return {**env, "SQLBOT_DATA_DIR": str(data_dir), **extra}


class Progress:
    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))

    def check_every_step(self) -> None:
        messages = [m or "" for _, _, m in self.seen]
        for step in STEPS:  # each step started and ended (the chart step may be skipped, still reported)
            assert any(m.startswith(step.title_en) and m.endswith("…") for m in messages), (step.title_en, messages)
            assert any(m.startswith(f"{step.title_en}:") for m in messages), (step.title_en, messages)
        done = [p for p, _, _ in self.seen]
        assert all(a < b for a, b in zip(done, done[1:], strict=False)), "progress rises strictly"
        assert done[-1] == len(STEPS) and {t for _, t, _ in self.seen} == {len(STEPS)}


def _payload(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content) if isinstance(content, dict) and set(content) == {"result"} else content
    return json.loads(result.content[0].text)


async def test_stdio_ask_with_a_principal_and_policies(data_dir: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    params = StdioServerParameters(
        command=SQLBOT, args=["mcp", "--user", "alice", "--role", "analyst", "--attr", "region=West"],
        env=_env(data_dir, SQLBOT_POLICY_FILE=str(policy)),
    )
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"ask", "list_datasources", "describe_datasource"}
        sources = _payload(await client.call_tool("list_datasources", {}))
        assert {"flights", "superstore", "movies"} <= {s["id"] for s in sources}
        described = _payload(await client.call_tool("describe_datasource", {"datasource": "superstore"}))
        columns = {c["name"] for t in described["tables"] for c in t["columns"]}
        assert "sales" in columns and "profit" not in columns, "hidden columns are not described"
        progress = Progress()
        answer = _payload(await client.call_tool(
            "ask", {"question": "total sales by region", "datasource": "superstore"}, progress_callback=progress))
        progress.check_every_step()
        assert answer["rows"] and [r[0] for r in answer["rows"]] == ["West"], answer
        assert "SUM" in answer["sql"].upper() and answer["explanation"]
        assert "Only rows you are permitted to see" in answer["interpretation"]
        follow = _payload(await client.call_tool("ask", {"question": "and by category", "chat": answer["chat"]}))
        assert follow["chat"] == answer["chat"] and follow["datasource"] == "superstore"
        refused = await client.call_tool("ask", {"question": "total profit by region", "datasource": "superstore"})
        assert refused.is_error or "profit" not in json.dumps(_payload(refused)["columns"])


class Serve:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.log = data_dir.parent / "serve.log"
        self.proc = subprocess.Popen([SQLBOT, "serve", "--port", str(self.port), "--log-level", "warning"],
                                     env=_env(data_dir, **env), stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120  # a start-up deadline on 2 shared cores, not a speed check
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).json().get("ready", True):
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start: " + self.log.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def serve(data_dir: Path) -> Iterator[Serve]:
    server = Serve(data_dir)
    try:
        yield server
    finally:
        server.stop()


async def test_streamable_http_under_the_server(serve: Serve) -> None:
    async with Client(f"http://127.0.0.1:{serve.port}/mcp") as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"ask", "list_datasources", "describe_datasource"}
        progress = Progress()
        answer = _payload(await client.call_tool(
            "ask", {"question": "total sales by region", "datasource": "superstore"}, progress_callback=progress))
        progress.check_every_step()
        assert sorted(r[0] for r in answer["rows"]) == ["Central", "East", "South", "West"], "open mode: no policy"
        assert answer["chart"] is not None and answer["rowCount"] == 4
        bounded = _payload(await client.call_tool(
            "ask", {"question": "list the cities", "datasource": "superstore", "max_rows": 3}))
        assert len(bounded["rows"]) <= 3 and (bounded["truncated"] or bounded["rowCount"] <= 3)
        missing = await client.call_tool("describe_datasource", {"datasource": "nope"})
        assert missing.is_error and "DATASOURCE_NOT_FOUND" in missing.content[0].text
    # the rest of the API is unchanged next to it
    assert httpx.get(f"http://127.0.0.1:{serve.port}/api/datasources", timeout=10).status_code == 200


@pytest.fixture
def serve_with_keys(data_dir: Path) -> Iterator[Serve]:
    server = Serve(data_dir, SQLBOT_AUTH_KEYS="root:key-root-0123456789:admin,alice:key-alice-0123456789,bob:key-bob-0123456789",
                   SQLBOT_AUTH_DEFAULT_GRANT="none")
    try:
        yield server
    finally:
        server.stop()


def _keyed(port: int, key: str | None) -> Any:
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=create_mcp_http_client(headers=headers)))


async def test_mcp_over_http_is_behind_the_keys_grants_and_per_user_chats(serve_with_keys: Serve) -> None:
    port = serve_with_keys.port
    assert httpx.post(f"http://127.0.0.1:{port}/mcp", json={}, timeout=10).status_code == 401
    root = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer key-root-0123456789"}, timeout=30)
    assert root.put("/api/datasources/superstore/grants", json={"users": ["alice", "bob"]}).status_code == 200

    async with _keyed(port, "key-alice-0123456789") as alice:
        assert [d["id"] for d in _payload(await alice.call_tool("list_datasources", {}))] == ["superstore"]
        hidden = await alice.call_tool("describe_datasource", {"datasource": "flights"})
        assert hidden.is_error and "DATASOURCE_NOT_FOUND" in hidden.content[0].text
        refused = await alice.call_tool("ask", {"question": "number of flights by carrier", "datasource": "flights"})
        assert refused.is_error and "INSUFFICIENT_PERMISSIONS" in refused.content[0].text
        first = _payload(await alice.call_tool("ask", {"question": "total sales by region", "chat": "shared-id"}))
        assert first["rowCount"] == 4
        follow = _payload(await alice.call_tool("ask", {"question": "only for Furniture", "chat": "shared-id"}))
        assert "Furniture" in (follow["interpretation"] or "")
    async with _keyed(port, "key-bob-0123456789") as bob:
        # the same chat id is bob's own, empty conversation: alice's turns are not his history
        other = await bob.call_tool("ask", {"question": "only for Furniture", "chat": "shared-id"})
        assert other.is_error or "total sales by region" not in (_payload(other).get("interpretation") or "")
