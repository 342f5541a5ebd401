"""The web client's own checks, run from pytest so that the README's single test command covers them:
Vitest unit tests, the generated types being current, and server/static/ being the build of web/."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.web.conftest import WEB, need, node_available

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def npm() -> str:
    need(node_available(), "Node.js/npm not found: the web unit tests need Node 20 (https://nodejs.org)")
    need((WEB / "node_modules").is_dir(), "web/node_modules is missing: run `npm --prefix web ci`")
    return shutil.which("npm") or "npm"


def run(npm: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([npm, "--prefix", str(WEB), *args], capture_output=True, text=True, timeout=timeout)


def test_vitest(npm: str) -> None:
    result = run(npm, "test")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def test_generated_types_are_current(npm: str) -> None:
    result = run(npm, "run", "check:types")
    assert result.returncode == 0, result.stdout + result.stderr


def test_built_ui_is_current(npm: str) -> None:
    result = run(npm, "run", "check:build")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
