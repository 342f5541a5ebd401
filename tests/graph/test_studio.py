"""LangGraph Studio's server (`langgraph dev`) loads the exported graph and streams a run through its HTTP API."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]



@pytest.mark.slow
def test_langgraph_dev_streams_a_run(demo_data_dir: Path, tmp_path: Path) -> None:
    cli = shutil.which("langgraph", path=str(Path(sys.executable).parent))
    if cli is None:
        if os.environ.get("CI") == "true":
            pytest.fail("langgraph-cli is not installed (dev dependency group)")
        pytest.skip("langgraph-cli is not installed")
    port = free_port()
    env = {**os.environ, "SQLBOT_DATA_DIR": str(demo_data_dir), "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
    log = (tmp_path / "langgraph-dev.log").open("w")
    proc = subprocess.Popen(
        [cli, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "langgraph-dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "langgraph dev did not start"
            time.sleep(0.5)
        thread = httpx.post(f"{base}/threads", json={}, timeout=10).json()["thread_id"]
        body = {"assistant_id": "sqlbot", "input": {"question": "how many airlines are there?", "datasource_id": "flights"}, "stream_mode": ["updates", "custom"]}
        kinds, custom, updates = [], [], []
        with httpx.stream("POST", f"{base}/threads/{thread}/runs/stream", json=body, timeout=60) as response:
            assert response.status_code == 200
            event = None
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                    kinds.append(event)
                elif line.startswith("data:") and event in ("custom", "updates"):
                    (custom if event == "custom" else updates).append(json.loads(line[5:]))
        assert kinds[0] == "metadata" and "error" not in kinds, kinds
        nodes = [name for update in updates for name in update]
        assert nodes[:3] == ["analyzing_question", "select_datasource", "connect_db"] and nodes[-1] == "present_result"
        assert any(c.get("step") == "generate_sql" and c.get("sqlbot") == "content" for c in custom)
        assert updates[-1]["present_result"]["explanation"]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
