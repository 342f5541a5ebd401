"""The key dialog: a server with users asks for the key once, keeps it, and answers; sign out forgets it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Server, serve
from tests.web.test_browser import DONE, last_answer, wait_status

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KEY = "key-alice-0123456789abcdef0123"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path, ui_built: None) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("sqlbot-web-auth") / "data"
    shutil.copytree(demo_data_dir, data_dir)
    with serve(data_dir, SQLBOT_AUTH_KEYS=f"alice:{KEY}") as server:
        yield server


def test_key_dialog_then_an_answer_then_sign_out(page: Any, keyed_server: Server, shots: Any) -> None:
    page.goto(keyed_server.url)
    dialog = page.get_by_test_id("api-key-dialog")
    dialog.wait_for()
    shots("auth-01-key-dialog")
    page.get_by_test_id("api-key-input").fill("key-wrong")
    page.get_by_test_id("api-key-submit").click()
    page.get_by_test_id("api-key-dialog").locator(".el-alert--error").wait_for()  # a wrong key is asked again

    page.get_by_test_id("api-key-input").fill(KEY)
    page.get_by_test_id("api-key-submit").click()
    page.get_by_test_id("welcome").wait_for()
    page.get_by_test_id("sign-out").wait_for()
    assert not page.get_by_test_id("api-key-dialog").is_visible()
    assert page.evaluate("localStorage.getItem('sqlbot.apiKey')") == KEY

    page.get_by_test_id("question-input").fill("各地区的总销售额")
    page.get_by_test_id("send").click()
    wait_status(page, DONE["zh"])
    assert last_answer(page).get_by_test_id("result-table").locator("tbody tr").count() > 0
    shots("auth-02-answered")
    with page.expect_download() as download:  # the export link carries a stream token, not the key
        last_answer(page).get_by_test_id("export-csv").click()
    assert Path(download.value.path()).read_text(encoding="utf-8-sig").count("\n") > 1

    page.reload()  # the key is kept: no dialog, the chat is listed
    page.get_by_test_id("sign-out").wait_for()
    assert not page.get_by_test_id("api-key-dialog").is_visible()

    page.get_by_test_id("sign-out").click()
    page.get_by_test_id("api-key-dialog").wait_for()
    assert page.evaluate("localStorage.getItem('sqlbot.apiKey')") is None
