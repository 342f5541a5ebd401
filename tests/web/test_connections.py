"""Database connections from the web UI, against the real PostgreSQL and MariaDB on this machine.

What a person does: paste a URL, test it, save it, see the schema with its comments, ask a question in English
and in Chinese, edit the connection (the password is never refilled), refresh the schema, delete it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.databases import MY_HOST, MY_PORT, PG_HOST, PG_PORT, my_db, my_user, pg_db  # noqa: F401
from tests.web.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "pw-not-shown-7f3a"  # PostgreSQL here trusts loopback, so any password logs in; it must never come back


def field(page: Any, test_id: str) -> Any:
    """The text box of a form field (Element Plus puts the test id on the input or on its wrapper)."""
    return page.locator(f'input[data-testid="{test_id}"], [data-testid="{test_id}"] input').first


def ask(page: Any, question: str) -> Any:
    page.get_by_test_id("question-input").fill(question)
    page.get_by_test_id("question-input").press("Enter")
    answer = page.get_by_test_id("message-assistant").last
    answer.get_by_test_id("message-status").filter(has_text="Completed").or_(
        answer.get_by_test_id("message-status").filter(has_text="已完成")).wait_for(timeout=60_000)
    return answer


def test_add_test_ask_edit_refresh_delete_a_postgresql_database(
    page: Any, offline_server: Server, pg_db: str, shots: Any
) -> None:
    responses: list[str] = []
    page.on("response", lambda r: responses.append(r.text()) if "/api/" in r.url and r.request.method != "POST"
            or "/api/datasources" in r.url else None)
    page.goto(offline_server.url)
    page.get_by_test_id("welcome").wait_for()
    if page.locator("html").get_attribute("lang") != "en":
        page.get_by_test_id("locale-switch").get_by_text("English").click()

    page.get_by_test_id("open-connections").click()
    page.get_by_test_id("connections-list").wait_for()
    page.get_by_test_id("connection-add").click()
    page.get_by_test_id("connection-form").wait_for()
    # a wrong port first: the test says what is wrong and what to check, and nothing is saved
    field(page, "connection-url-input").fill(
        f"postgresql://postgres:{PASSWORD}@{PG_HOST}:1/{pg_db}")
    field(page, "connection-name").fill("Shop PG")
    assert field(page, "connection-id").input_value() == "shop_pg"
    page.get_by_test_id("connection-test-form").click()
    failed = page.get_by_test_id("connection-test-result")
    failed.wait_for()
    assert "Could not connect" in failed.inner_text() and "Check the host" in failed.inner_text()
    shots("connections-01-test-failed")

    field(page, "connection-url-input").fill(
        f"postgresql://postgres:{PASSWORD}@{PG_HOST}:{PG_PORT}/{pg_db}")
    page.get_by_test_id("connection-test-form").click()
    page.locator('[data-testid="connection-test-result"].el-alert--success').wait_for()
    assert "PostgreSQL" in page.get_by_test_id("connection-test-result").inner_text()
    shots("connections-02-test-ok")
    page.get_by_test_id("connection-save").click()
    page.get_by_test_id("connection-shop_pg").wait_for()
    url_shown = page.get_by_test_id("connection-shop_pg").get_by_test_id("connection-url").inner_text()
    assert url_shown == f"postgresql://postgres:***@{PG_HOST}:{PG_PORT}/{pg_db}"
    shots("connections-03-listed")
    page.keyboard.press("Escape")

    # saved and chosen: the schema shows the database's comments; refresh works
    page.get_by_test_id("schema-button").click()
    schema = page.get_by_test_id("schema-dialog")
    schema.get_by_text("Sales regions").wait_for()
    page.get_by_test_id("schema-refresh").click()
    schema.get_by_text("Sales regions").wait_for()
    shots("connections-04-schema")
    page.keyboard.press("Escape")

    answer = ask(page, "total amount by region name")
    table = answer.get_by_test_id("result-table")
    table.wait_for()
    text = table.inner_text()
    assert "East" in text and "West" in text and "North" in text
    # headers read as the database's comments say (COMMENT ON COLUMN), the SQL names stay in the tooltips
    assert "Region name" in table.locator("thead").inner_text()
    shots("connections-05-answer-en")
    page.get_by_test_id("locale-switch").get_by_text("中文").click()
    answer = ask(page, "各地区名称的订单金额总和")
    answer.get_by_test_id("result-table").wait_for()
    assert "East" in answer.get_by_test_id("result-table").inner_text()
    page.get_by_test_id("locale-switch").get_by_text("English").click()

    # edit: the password field is empty (only "stored"), a new name saves, the stored password still works
    page.get_by_test_id("open-connections").click()
    row = page.get_by_test_id("connection-shop_pg")
    row.get_by_test_id("connection-edit").click()
    password = field(page, "connection-password")
    assert password.input_value() == "" and "Stored" in (password.get_attribute("placeholder") or "")
    assert field(page, "connection-host").input_value() == PG_HOST
    field(page, "connection-name").fill("Shop on PostgreSQL")
    page.get_by_test_id("connection-test-form").click()
    page.locator('[data-testid="connection-test-result"].el-alert--success').wait_for()
    page.get_by_test_id("connection-save").click()
    row.get_by_text("Shop on PostgreSQL").wait_for()
    row.get_by_test_id("connection-test").click()
    page.locator(".el-message--success", has_text="Connected").wait_for()
    row.get_by_test_id("connection-refresh").click()
    page.locator(".el-message--success", has_text="refreshed").wait_for()
    shots("connections-06-edited")

    # delete: gone from the list and from the datasource picker
    row.get_by_test_id("connection-delete").click()
    page.locator(".el-popconfirm").get_by_role("button").last.click()
    row.wait_for(state="detached")
    assert all(d["id"] != "shop_pg" for d in offline_server.api("GET", "/api/datasources").json())

    assert PASSWORD not in page.content()
    assert all(PASSWORD not in r for r in responses), "the password came back in a response"
    assert PASSWORD not in json.dumps(offline_server.api("GET", "/api/chats").json())
    assert PASSWORD not in offline_server.log.read_text()


def test_a_mysql_connection_entered_as_fields(
    page: Any, offline_server: Server, my_db: str, my_user: tuple[str, str], shots: Any
) -> None:
    user, password = my_user
    page.goto(offline_server.url)
    page.get_by_test_id("welcome").wait_for()
    page.get_by_test_id("locale-switch").get_by_text("中文").click()
    page.get_by_test_id("open-connections").click()
    page.get_by_test_id("connection-add").click()
    page.get_by_test_id("connection-type").get_by_text("MySQL / MariaDB").click()
    page.get_by_test_id("connection-mode").get_by_text("分项填写").click()
    field(page, "connection-host").fill(MY_HOST)
    assert field(page, "connection-port").input_value() == str(MY_PORT)
    field(page, "connection-database").fill(my_db)
    field(page, "connection-user").fill(user)
    field(page, "connection-password").fill("wrong")
    field(page, "connection-id").fill("shop_my")
    page.get_by_test_id("connection-save").click()
    error = page.get_by_test_id("connection-save-error")
    error.wait_for()  # a wrong password is refused when saving, with what to check
    assert "password" in error.inner_text().lower()
    field(page, "connection-password").fill(password)
    page.get_by_test_id("connection-save").click()
    page.get_by_test_id("connection-shop_my").wait_for()
    shots("connections-07-mysql-zh")
    page.keyboard.press("Escape")
    answer = ask(page, "各地区名称的订单金额总和")
    assert "East" in answer.get_by_test_id("result-table").inner_text()
    assert password not in page.content()
