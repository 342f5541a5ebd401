"""The chat UI at phone and wide-desktop size: nothing wider than the window, every control reachable.

The page itself must never scroll sideways (``document.scrollingElement.scrollWidth <= innerWidth``); SQL and
tables scroll inside their own boxes. Screenshots of each size and language go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Server, Shots, check_long_tasks, new_page
from tests.web.test_browser import (
    assert_answer_rendered,
    last_answer,
    offline_answer_long_tasks,
    real_errors,
    wait_status,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1600, "height": 1000}
ASK = {
    "zh-CN": ("超市销售", "各类别的销售额", "已完成"),
    "en-US": ("Superstore", "Total sales by region", "Completed"),
}

OVERFLOW = """() => {
  const page = document.scrollingElement;
  const wide = [...document.querySelectorAll('body *')]
    .filter((el) => {
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height) return false;
      // inside a box that scrolls on its own (SQL, table, a drawer's body): that box is what must fit
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') return false;
      }
      return r.right > innerWidth + 1;
    })
    .slice(0, 5)
    .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} right=${Math.round(el.getBoundingClientRect().right)}`);
  return { scrollWidth: page.scrollWidth, innerWidth, wide };
}"""


def assert_no_overflow(page: Any, where: str) -> None:
    seen = page.evaluate(OVERFLOW)
    assert seen["scrollWidth"] <= seen["innerWidth"], (where, seen)


def assert_inside(page: Any, test_id: str) -> None:
    """The control is on screen: visible and within the window's width."""
    box = page.get_by_test_id(test_id).first.bounding_box()
    assert box is not None, test_id
    width = page.evaluate("innerWidth")
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (test_id, box, width)


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_layout_fits_the_window(browser: Any, offline_server: Server, size: str, locale: str) -> None:
    viewport = PHONE if size == "phone" else DESKTOP
    lang = "zh" if locale == "zh-CN" else "en"
    ds, question, done = ASK[locale]
    with new_page(browser, **viewport, locale=locale, mobile=size == "phone") as page:
        shots = Shots(page)
        page.goto(offline_server.url)
        page.get_by_test_id("welcome").wait_for()
        # the browser's language on a first visit
        assert page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh" else "en")
        assert page.get_by_test_id("welcome-example").count() >= 6
        for control in ("datasource-select", "schema-button", "locale-switch", "open-settings"):
            assert_inside(page, control)
        assert_no_overflow(page, "welcome")
        shots(f"r-{size}-{lang}-welcome")
        if size == "phone":
            assert page.locator(".aside").count() == 0  # no fixed sidebar on a phone
            page.get_by_test_id("open-sidebar").click()
            page.get_by_test_id("sidebar-drawer").get_by_test_id("new-chat").wait_for()
            shots(f"r-{size}-{lang}-drawer")
            page.get_by_test_id("sidebar-drawer").get_by_test_id("new-chat").click()
            page.get_by_test_id("new-chat").wait_for(state="hidden")

        page.get_by_test_id("datasource-select").click()
        page.locator(".ds-popper .el-select-dropdown__item", has_text=ds).click()
        page.get_by_test_id("question-input").fill(question)
        page.get_by_test_id("send").click()
        wait_status(page, done)
        assert_answer_rendered(page)
        page.wait_for_timeout(600)
        assert_no_overflow(page, "answer")
        answer = last_answer(page)
        answer.get_by_test_id("toggle-details").click()
        page.wait_for_timeout(300)
        assert_no_overflow(page, "answer with its steps open")
        # SQL and the table scroll inside their own boxes, never the page
        for selector in ('[data-testid="final-answer"] [data-testid="sql-block"]', ".grid-wrap"):
            box = answer.locator(selector).first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= viewport["width"], (selector, box)
        shots(f"r-{size}-{lang}-answer", full_page=True)
        with page.expect_download() as download:
            answer.get_by_test_id("export-csv").click()
        assert download.value.suggested_filename.endswith(".csv")
        lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
        assert len(lines) == 1 + answer.locator(".grid tbody tr").count()  # header + every row
        for control in ("datasource-select", "locale-switch", "open-settings"):
            assert_inside(page, control)
        assert not real_errors(page), page.errors


def test_a_phone_draws_an_answer_without_long_tasks(browser: Any, offline_server: Server) -> None:
    """The rule from the desktop test holds at phone size: no task over 50 ms from send until the chart is drawn."""
    with new_page(browser, **PHONE, mobile=True) as page:
        report = offline_answer_long_tasks(page, offline_server.url, "各地区的利润", "phone")
    check_long_tasks(report["max_long_task_ms"], report)


def test_edit_the_sql_and_run_it_again(browser: Any, offline_server: Server) -> None:
    """The edited statement runs as a new answer in the chat; the writing step is not run again."""
    with new_page(browser, **DESKTOP, locale="en-US") as page:
        shots = Shots(page)
        page.goto(offline_server.url)
        page.get_by_test_id("datasource-select").click()
        page.locator(".ds-popper .el-select-dropdown__item", has_text="Superstore").click()
        page.get_by_test_id("question-input").fill("Total sales by region")
        page.get_by_test_id("send").click()
        wait_status(page, "Completed")
        first = page.get_by_test_id("message-assistant").first
        first.get_by_test_id("edit-sql").click()
        edited = "SELECT region, COUNT(*) AS orders FROM superstore GROUP BY region ORDER BY orders DESC LIMIT 2"
        first.get_by_test_id("sql-input").fill(edited)
        shots("r-desktop-en-edit-sql")
        with page.expect_request(lambda r: r.url.endswith("/sql") and r.method == "POST") as sent:
            first.get_by_test_id("run-sql").click()
        assert sent.value.post_data_json == {"sql": edited}
        page.get_by_test_id("message-assistant").nth(1).wait_for()
        wait_status(page, "Completed")
        answer = last_answer(page)
        assert_answer_rendered(page)
        assert answer.locator(".grid tbody tr").count() == 2
        assert answer.locator('.grid thead [title="orders"]').count() == 1  # the SQL name; the header reads "Orders"
        assert "LIMIT 2" in answer.get_by_test_id("final-answer").get_by_test_id("sql-block").inner_text()
        assert page.get_by_test_id("message-assistant").count() == 2
        assert first.get_by_test_id("edit-sql").count() == 0  # only the latest answer can be edited
        shots("r-desktop-en-edited", full_page=True)
        assert not real_errors(page), page.errors
