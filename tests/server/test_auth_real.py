"""Users end to end: `sqlbot users add|list|revoke`, then `sqlbot serve` with the real graph and offline writer.

Grants decide which datasources ``select_datasource`` considers and which the list shows; a question that
names a datasource the user may not query is refused with INSUFFICIENT_PERMISSIONS, and the audit log has a
row for every run, refusals included.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.net import free_port

pytestmark = pytest.mark.slow

SQLBOT = str(Path(sys.executable).with_name("sqlbot"))


def sqlbot(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SQLBOT_DATA_DIR": str(data_dir)}
    env.pop("SQLBOT_AUTH_KEYS", None)
    return subprocess.run([SQLBOT, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def data_dir(demo_data_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(demo_data_dir, target)
    return target


@pytest.fixture
def keys(data_dir: Path) -> dict[str, str]:
    made = {}
    for name, options in (("root", ["--role", "admin"]), ("alice", ["--attr", "region=East"]), ("bob", [])):
        out = sqlbot(data_dir, "users", "add", name, *options)
        assert out.returncode == 0, out.stderr
        made[name] = out.stdout.strip()
        assert made[name].startswith("sqlbot_") and "shown once" in out.stderr
    again = sqlbot(data_dir, "users", "add", "alice")
    assert again.returncode == 1 and "exists" in again.stderr
    listed = sqlbot(data_dir, "users", "list")
    assert listed.returncode == 0 and all(n in listed.stdout for n in made) and "region=East" in listed.stdout
    assert not any(key in listed.stdout for key in made.values())
    stored = (data_dir / "chats.sqlite").read_bytes()
    assert not any(key.encode() in stored for key in made.values())  # only hashes are kept
    return made


@pytest.fixture
def server(data_dir: Path, keys: dict[str, str]) -> Iterator[str]:
    port = free_port()
    log = data_dir.parent / "server.log"
    env = {**os.environ, "SQLBOT_DATA_DIR": str(data_dir), "SQLBOT_RETRY_DELAY_SCALE": "0"}
    for name in ("SQLBOT_AUTH_KEYS", "SQLBOT_LLM_BASE_URL", "SQLBOT_LLM_MODEL", "SQLBOT_DATABASE_URL", "SQLBOT_REDIS_URL"):
        env.pop(name, None)
    proc = subprocess.Popen([SQLBOT, "serve", "--port", str(port), "--log-level", "info"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/healthz", timeout=1).json().get("ready"):
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not start: " + log.read_text())
        assert "API keys required" in log.read_text()
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ask(url: str, key: str, question: str, **body: Any) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("POST", url + "/api/chat/enhanced-question", headers=headers, timeout=120,
                      json={"question": question, **body}) as response:
        assert response.status_code == 200
        return [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]


def test_grants_decide_what_a_user_can_query_and_every_run_is_audited(server: str, data_dir: Path,
                                                                        keys: dict[str, str]) -> None:
    root = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {keys['root']}"}, timeout=30)
    alice = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {keys['alice']}"}, timeout=30)
    assert alice.get("/api/auth/me").json() == {"name": "alice", "roles": [], "admin": False, "authRequired": True}
    for datasource in ("flights", "movies"):
        assert root.put(f"/api/datasources/{datasource}/grants", json={"users": ["bob"]}).status_code == 200
    assert {d["id"] for d in alice.get("/api/datasources").json()} == {"superstore"}
    assert {"flights", "superstore", "movies"} <= {d["id"] for d in root.get("/api/datasources").json()}

    answered = ask(server, keys["alice"], "各地区的总销售额")
    assert answered[-1]["type"] == "final_complete", answered[-1]
    assert answered[-1]["summary"]["output"]["datasource"]["id"] == "superstore"

    named = ask(server, keys["alice"], "how many flights are in the flights data?")
    error = next(e for e in named if e["type"] == "step_error")
    assert error["error"]["code"] == "INSUFFICIENT_PERMISSIONS" and error["error"]["suggestion"]
    assert error["stepId"] == "step_002" and named[-1]["type"] == "stream_error"

    chosen = ask(server, keys["alice"], "average departure delay by airline", datasource_id="flights")
    assert next(e for e in chosen if e["type"] == "step_error")["error"]["code"] == "INSUFFICIENT_PERMISSIONS"

    bob_answer = ask(server, keys["bob"], "average departure delay by airline")  # bob may: flights is his
    assert bob_answer[-1]["type"] == "final_complete"
    assert bob_answer[-1]["summary"]["output"]["datasource"]["id"] == "flights"

    audit = root.get("/api/audit").json()
    assert [(r["user"], r["outcome"], r["code"]) for r in audit] == [
        ("bob", "ok", None), ("alice", "refusal", "INSUFFICIENT_PERMISSIONS"),
        ("alice", "refusal", "INSUFFICIENT_PERMISSIONS"), ("alice", "ok", None)]
    first = audit[-1]
    assert first["datasourceId"] == "superstore" and "SELECT" in first["sql"].upper() and first["rowCount"] > 0
    assert alice.get("/api/audit").status_code == 403

    revoked = sqlbot(data_dir, "users", "revoke", "alice")
    assert revoked.returncode == 0
    assert alice.get("/api/auth/me").status_code == 401
    assert sqlbot(data_dir, "users", "revoke", "alice").returncode == 1


def test_only_admins_and_editors_change_the_knowledge_base(server: str, keys: dict[str, str]) -> None:
    term = {"term": "GMV", "synonyms": [], "meaning": "total sales", "expression": "SUM(sales)", "datasource": "superstore"}
    bob = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {keys['bob']}"}, timeout=60)
    refused = bob.post("/api/knowledge/glossary", json=term)
    assert refused.status_code == 403 and refused.json()["code"] == "ADMIN_REQUIRED"
    assert "editor" in refused.json()["detail"]["suggestion"]
    assert httpx.get(server + "/api/knowledge/glossary", timeout=30).status_code == 401
    root = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {keys['root']}"}, timeout=60)
    assert root.post("/api/knowledge/glossary", json=term).status_code == 201
    assert [g["term"] for g in bob.get("/api/knowledge/glossary", params={"datasource": "superstore"}).json()] == ["GMV"]
