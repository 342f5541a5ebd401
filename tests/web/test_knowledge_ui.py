"""The Knowledge drawer in a real browser: add a glossary term, then ask a question that uses it."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Server
from tests.web.test_browser import last_answer, real_errors, wait_status


def test_add_a_glossary_term_and_ask_with_it(page: Any, offline_server: Server, shots: Any) -> None:
    page.goto(offline_server.url)
    page.get_by_test_id("locale-switch").get_by_text("English").click()
    page.get_by_test_id("datasource-select").click()
    page.locator(".ds-popper .el-select-dropdown__item", has_text="Superstore sales").click()

    page.get_by_test_id("open-knowledge").click()
    drawer = page.get_by_test_id("knowledge-drawer")
    drawer.get_by_test_id("glossary-table").wait_for()
    drawer.get_by_test_id("glossary-add").click()
    page.get_by_test_id("term-input").fill("GMV")
    page.get_by_test_id("synonyms-input").fill("成交总额, gross merchandise value")
    page.get_by_test_id("expression-input").fill("SUM(salez)")
    page.get_by_test_id("term-save").click()
    error = page.get_by_test_id("term-error")
    error.wait_for()
    assert "salez" in error.inner_text() and "sales" in error.inner_text()  # validated against the schema
    page.get_by_test_id("expression-input").fill("SUM(sales)")
    page.get_by_test_id("term-save").click()
    drawer.get_by_test_id("glossary-table").get_by_text("SUM(sales)").wait_for()
    shots("knowledge-glossary")
    assert offline_server.api("GET", "/api/knowledge/glossary?datasource=superstore").json()[0]["term"] == "GMV"
    page.keyboard.press("Escape")
    drawer.wait_for(state="hidden")

    page.get_by_test_id("question-input").fill("GMV by region")
    page.get_by_test_id("send").click()
    wait_status(page, "Completed")
    answer = last_answer(page)
    assert "glossary: 'GMV' = SUM(sales)" in answer.get_by_test_id("interpretation").inner_text()
    assert "SUM(sales)" in answer.get_by_test_id("sql-editor").inner_text()

    answer.get_by_test_id("save-example").click()
    page.get_by_text("Saved as an example for this datasource").wait_for()
    examples = offline_server.api("GET", "/api/knowledge/examples?datasource=superstore").json()
    assert [e["question"] for e in examples] == ["GMV by region"]
    shots("knowledge-answer", full_page=True)
    assert not real_errors(page), page.errors
