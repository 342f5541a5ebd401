"""The chat UI in Debian's Chromium against the real server on loopback: what a person sees.

Screenshots go to ``artifacts/screenshots/``. The offline SQL writer answers; the cancel and streaming-rate
tests use a slow scripted OpenAI-compatible model so that there is time to watch (and stop) an answer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.openai_server import OpenAIServer, Reply
from tests.web.conftest import Server, check_long_tasks, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DONE = {"zh": "已完成", "en": "Completed"}


def last_answer(page: Any) -> Any:
    return page.get_by_test_id("message-assistant").last


def wait_status(page: Any, text: str, timeout: float = 60_000) -> None:
    status = last_answer(page).get_by_test_id("message-status")
    status.filter(has_text=text).wait_for(timeout=timeout)


def step_log(page: Any) -> dict[str, list[str]]:
    """Statuses each step went through, in order, from the page's MutationObserver log."""
    by_step: dict[str, list[str]] = {}
    for step, status, _ in page.evaluate("window.__stepLog"):
        seq = by_step.setdefault(step, [])
        if not seq or seq[-1] != status:
            seq.append(status)
    return by_step


def assert_answer_rendered(page: Any) -> None:
    answer = last_answer(page)
    table = answer.get_by_test_id("result-table")
    table.wait_for()
    assert table.locator("tbody tr").count() > 0
    chart = answer.locator('[data-testid="result-chart"][data-ready="true"]')
    chart.wait_for(timeout=20_000)
    assert chart.locator("canvas").count() >= 1
    assert answer.locator('[data-testid="final-answer"] .hljs-keyword').count() > 0  # highlighted SQL


def real_errors(page: Any) -> list[str]:
    return [e for e in page.errors if "Failed to load resource" not in e]


def test_ask_in_chinese_from_an_example(page: Any, offline_server: Server, shots: Any) -> None:
    page.goto(offline_server.url)
    page.get_by_test_id("welcome").wait_for()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    shots("01-welcome-zh")
    page.get_by_test_id("datasource-select").click()
    page.locator(".ds-popper .el-select-dropdown__item", has_text="超市销售").click()
    page.get_by_test_id("question-input").fill("各类别的销售额")
    page.get_by_test_id("question-input").press("Enter")
    last_answer(page).get_by_test_id("step-progress").wait_for()
    shots("02-zh-streaming")
    wait_status(page, "已完成")

    answer = last_answer(page)
    tags = answer.get_by_test_id("step-tag").all_inner_texts()
    assert tags == ["已完成"] * 7
    assert answer.get_by_test_id("overall-progress").get_attribute("aria-valuenow") == "100"
    log = step_log(page)
    assert set(log) == {f"step_00{i}" for i in range(1, 8)}
    for step, statuses in log.items():
        assert statuses[-1] == "completed", (step, statuses)
        assert "running" in statuses or statuses == ["pending", "completed"], (step, statuses)
    # An offline answer takes ~25 ms once the server is warm, so its whole stream may land in one network read
    # and no step is ever painted "running"; the model-backed tests below (slow tokens) pin running -> completed.
    assert_answer_rendered(page)
    page.wait_for_timeout(600)  # chart animation
    shots("03-zh-answer", full_page=True)
    assert not real_errors(page), page.errors


def test_ask_in_english_and_preview_the_schema(page: Any, offline_server: Server, shots: Any) -> None:
    page.goto(offline_server.url)
    page.get_by_test_id("locale-switch").get_by_text("English").click()
    page.get_by_text("Hello, I am SQLBot").wait_for()
    page.get_by_test_id("datasource-select").click()
    page.locator(".ds-popper .el-select-dropdown__item", has_text="NYC Flights 2013").click()
    page.get_by_test_id("schema-button").click()
    page.get_by_test_id("schema-dialog").get_by_text("flights").first.wait_for()
    page.wait_for_timeout(300)
    shots("04-en-schema")
    page.keyboard.press("Escape")

    page.get_by_test_id("welcome-example").first.wait_for()
    page.get_by_test_id("question-input").fill("Number of flights per month")
    page.get_by_test_id("send").click()
    wait_status(page, "Completed")
    answer = last_answer(page)
    assert answer.get_by_test_id("step-tag").all_inner_texts() == ["Completed"] * 7
    assert "Write the SQL" in answer.inner_text()
    assert_answer_rendered(page)
    page.wait_for_timeout(600)
    shots("05-en-answer", full_page=True)
    assert not real_errors(page), page.errors


@pytest.fixture
def flaky_shop(offline_server: Server) -> Iterator[Path]:
    """A registered SQLite datasource whose file can be taken away and put back."""
    path = offline_server.data_dir / "shop.sqlite"
    if not path.exists():
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, region TEXT, amount REAL)")
            db.executemany(
                "INSERT INTO orders (region, amount) VALUES (?, ?)",
                [("East", 120.5), ("West", 80.0), ("North", 42.0), ("East", 60.0), ("South", 99.9)],
            )
        r = offline_server.api(
            "POST",
            "/api/datasources",
            json={"id": "shop", "type": "sqlite", "path": "shop.sqlite", "name": "Shop"},
        )
        assert r.status_code == 201, r.text
    yield path


def test_a_failed_answer_shows_the_error_and_retry_continues_it(
    page: Any, offline_server: Server, shots: Any, flaky_shop: Path
) -> None:
    away = flaky_shop.with_suffix(".away")
    flaky_shop.rename(away)
    try:
        page.goto(offline_server.url)
        page.get_by_test_id("locale-switch").get_by_text("English").click()
        page.get_by_test_id("datasource-select").click()
        page.locator(".ds-popper .el-select-dropdown__item", has_text="Shop").click()
        page.get_by_test_id("question-input").fill("orders by region")
        page.get_by_test_id("send").click()
        wait_status(page, "Error")
        answer = last_answer(page)
        error = answer.get_by_test_id("step-error")
        error.wait_for()
        assert "Suggestion:" in error.get_by_test_id("error-suggestion").inner_text()
        assert "Failed" in answer.get_by_test_id("step-tag").all_inner_texts()
        shots("06-en-step-error", full_page=True)
    finally:
        away.rename(flaky_shop)

    with page.expect_request(lambda r: r.url.endswith("/retry") and r.method == "POST") as retry:
        answer.get_by_test_id("retry-step").click()
    assert json.loads(retry.value.post_data or "{}").get("stepId", "").startswith("step_")
    wait_status(page, "Completed")
    tags = answer.get_by_test_id("step-tag").all_inner_texts()
    assert tags == ["Completed"] * 7
    assert answer.get_by_test_id("step-error").count() == 0
    assert answer.get_by_text("Reused").count() >= 1  # the steps before the failure were not re-run
    assert_answer_rendered(page)
    page.wait_for_timeout(600)
    shots("07-en-retried", full_page=True)
    # The page's answer is one message: retry continued it in place.
    assert page.get_by_test_id("message-assistant").count() == 1


def test_reloading_a_past_chat_shows_its_records(page: Any, offline_server: Server, shots: Any) -> None:
    chat = next(
        (c for c in offline_server.api("GET", "/api/chats").json() if c["title"].startswith("各类别")), None
    )
    if chat is None:  # run alone: ask through the API first
        body = {"question": "各类别的销售额", "locale": "zh", "datasource_id": "superstore"}
        assert "final_complete" in offline_server.api("POST", "/api/chat/enhanced-question", json=body).text
        chat = offline_server.api("GET", "/api/chats").json()[0]
    page.goto(offline_server.url)
    page.locator(f'[data-chat-id="{chat["id"]}"]').click()
    answer = last_answer(page)
    wait_status(page, "已完成")
    assert page.get_by_test_id("user-question").last.inner_text() == "各类别的销售额"
    assert answer.get_by_test_id("step-tag").count() == 0  # a finished answer opens with its steps folded
    answer.get_by_test_id("toggle-details").click()
    assert answer.get_by_test_id("step-tag").all_inner_texts() == ["已完成"] * 7
    assert_answer_rendered(page)
    assert f"chat={chat['id']}" in page.url
    page.reload()
    wait_status(page, "已完成")  # the chat id in the address opens it again
    page.wait_for_timeout(600)
    shots("08-zh-past-chat", full_page=True)


def test_legacy_stream_when_detailed_streaming_is_off(page: Any, offline_server: Server, shots: Any) -> None:
    page.goto(offline_server.url)
    page.get_by_test_id("open-settings").click()
    page.get_by_test_id("settings-drawer").wait_for()
    page.wait_for_timeout(300)
    shots("09-zh-settings")
    page.locator('[data-testid="setting-enabled"]').click()
    page.keyboard.press("Escape")
    assert json.loads(page.evaluate("localStorage.getItem('sqlbot.streamingConfig')"))["enabled"] is False

    with page.expect_request(lambda r: r.url.endswith("/api/chat/question")) as asked:
        page.get_by_test_id("question-input").fill("各地区的利润")
        page.get_by_test_id("send").click()
    assert json.loads(asked.value.post_data or "{}")["enhanced_streaming"] is False
    wait_status(page, "已完成")
    answer = last_answer(page)
    assert answer.get_by_test_id("step-progress").count() == 0  # only the final answer
    assert_answer_rendered(page)
    page.wait_for_timeout(600)
    shots("10-zh-legacy-answer", full_page=True)
    page.reload()
    assert json.loads(page.evaluate("localStorage.getItem('sqlbot.streamingConfig')"))["enabled"] is False


# --- a slow model: cancel, and the rendering cost of a fast event stream ---------------------------------

LONG_SQL = (
    "```sql\nSELECT\n  carrier,\n  COUNT(*) AS flights,\n  AVG(dep_delay) AS avg_dep_delay,\n"
    "  AVG(arr_delay) AS avg_arr_delay,\n  SUM(CASE WHEN dep_delay > 60 THEN 1 ELSE 0 END) AS late_departures\n"
    "FROM flights\nGROUP BY carrier\nORDER BY flights DESC\n```"
)
REASONING = " ".join(["Group the flights by carrier and count them, then average both delays."] * 12)


@pytest.fixture(scope="module")
def model() -> Iterator[OpenAIServer]:
    """A local OpenAI-compatible model that streams one SQL answer, one small piece at a time."""
    server = OpenAIServer(responder=lambda messages: Reply(LONG_SQL, reasoning=REASONING)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def model_server(
    tmp_path_factory: pytest.TempPathFactory, model: OpenAIServer, ui_built: None
) -> Iterator[Server]:
    env = {
        "SQLBOT_LLM_BASE_URL": model.base_url,
        "SQLBOT_LLM_MODEL": "scripted",
        "SQLBOT_LLM_API_KEY": "test",
        "SQLBOT_CONTENT_BATCH_MS": "0",  # every model piece is its own event
    }
    with serve(tmp_path_factory.mktemp("sqlbot-web-model"), **env) as server:
        yield server


def test_cancel_stops_a_running_answer(
    page: Any, model_server: Server, model: OpenAIServer, shots: Any
) -> None:
    model.token_delay_s = 0.15
    page.goto(model_server.url)
    page.get_by_test_id("datasource-select").click()
    page.locator(".ds-popper .el-select-dropdown__item", has_text="2013年纽约航班").click()
    page.get_by_test_id("question-input").fill("每家航空公司的航班数量和平均延误")
    page.get_by_test_id("send").click()
    answer = last_answer(page)
    sql = answer.locator('[data-step="step_004"] [data-testid="sql-block"]')
    sql.wait_for(timeout=60_000)
    page.wait_for_function("window.__sqlLengths.at(-1) > 20", timeout=60_000)
    shots("11-zh-sql-streaming")
    with page.expect_request(lambda r: "/cancel" in r.url) as cancelled:
        answer.get_by_test_id("cancel").click()
    run_id = cancelled.value.url.split("/runs/")[1].split("/")[0]
    wait_status(page, "已取消", timeout=10_000)
    length = page.evaluate("window.__sqlLengths.at(-1)")
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__sqlLengths.at(-1)") == length  # nothing more arrives
    assert "已取消" in answer.get_by_test_id("step-tag").all_inner_texts()
    assert answer.get_by_test_id("cancel").count() == 0  # only controls that can act
    assert answer.get_by_test_id("step-error").count() == 0  # cancelled is not a failure
    answer.get_by_test_id("cancelled-note").wait_for()
    assert model_server.api("GET", f"/api/chat/runs/{run_id}").json()["status"] == "cancelled"
    shots("12-zh-cancelled", full_page=True)


LONG_TASKS_SCRIPT = """
window.__longTasks = [];
window.__longFrames = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
}).observe({ type: 'longtask', buffered: true });
// Long animation frames name the scripts that made a frame long: kept to say which part of the page to fix.
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration < 50) continue;
      window.__longFrames.push({
        start: e.startTime,
        duration: e.duration,
        blocking: e.blockingDuration,
        render: e.renderStart ? e.startTime + e.duration - e.renderStart : 0,
        style: e.styleAndLayoutStart ? e.startTime + e.duration - e.styleAndLayoutStart : 0,
        scripts: (e.scripts || []).map((s) => [s.invoker, s.sourceFunctionName, Math.round(s.duration), Math.round(s.forcedStyleAndLayoutDuration)]),
      });
    }
  }).observe({ type: 'long-animation-frame', buffered: true });
} catch (e) {}
// When the parts of the last answer first appeared (performance.now()): drawing in several tasks must not
// make the answer slow to show.
window.__shown = {};
const milestones = {
  table: '[data-testid="message-assistant"] [data-testid="result-table"] tbody tr',
  chart: '[data-testid="message-assistant"] [data-testid="result-chart"][data-ready="true"] canvas',
  done: '[data-testid="message-assistant"] [data-status="succeeded"]',
};
new MutationObserver(() => {
  for (const [name, selector] of Object.entries(milestones)) {
    if (!(name in window.__shown) && document.querySelector(selector)) window.__shown[name] = performance.now();
  }
}).observe(document, { subtree: true, childList: true, attributes: true });
"""


def measures(page: Any, since: float) -> list[list[Any]]:
    """The page's own ``sqlbot:*`` User Timing measures (phases of drawing an answer): name, start, ms."""
    return [
        [name, round(start - since), duration]
        for name, start, duration in page.evaluate(
            "performance.getEntriesByType('measure').filter((m) => m.name.startsWith('sqlbot:'))"
            ".map((m) => [m.name, m.startTime, Math.round(m.duration)])"
        )
        if start >= since
    ]


def test_a_fast_event_stream_renders_without_long_tasks(
    page: Any, model_server: Server, model: OpenAIServer, shots: Any
) -> None:
    """~100 events per second (one per model piece) must not block the page for more than 50 ms, from the
    click on send until the answer (table and chart) is fully drawn."""
    model.token_delay_s = 0.01
    page.add_init_script(LONG_TASKS_SCRIPT)
    # best of three runs: one long task can come from the shared machine, a regression shows in all three
    for _attempt in range(3):
        page.goto(model_server.url)
        page.get_by_test_id("welcome").wait_for()
        page.wait_for_timeout(500)
        page.get_by_test_id("datasource-select").click()
        page.locator(".ds-popper .el-select-dropdown__item", has_text="2013年纽约航班").click()
        page.get_by_test_id("question-input").fill("每家航空公司的航班数量和平均延误")
        page.wait_for_timeout(300)
        sent = page.evaluate("window.__longTasks = []; window.__longFrames = []; window.__shown = {}; performance.now()")
        with page.expect_response(lambda r: r.url.endswith("/enhanced-question")) as response:
            page.get_by_test_id("send").click()
        run_id = response.value.headers["x-run-id"]
        wait_status(page, "已完成", timeout=120_000)
        answer = last_answer(page)
        answer.get_by_test_id("result-table").locator("tbody tr").first.wait_for()
        has_chart = answer.get_by_test_id("result-chart").count() > 0 or answer.locator(".chart-card").count() > 0
        if has_chart:
            answer.locator('[data-testid="result-chart"][data-ready="true"]').wait_for(timeout=20_000)
        # Fully drawn: the chart's animation and anything the page does after it had a moment to run.
        page.wait_for_timeout(1500)
        rendered = page.evaluate("performance.now()")
        events = model_server.api("GET", f"/api/chat/runs/{run_id}").json()["lastSequence"]
        log = page.evaluate("window.__stepLog")
        steps = {(step, status): t for step, status, t in log}
        tasks = page.evaluate("window.__longTasks")
        # The busiest stretch: the SQL streaming in, one event per model piece.
        sql_from, sql_to = steps[("step_004", "running")], steps[("step_004", "completed")]
        run_from = min(t for _, status, t in log if status != "pending")
        run_to = max(t for _, status, t in log)
        sql_pieces = len(page.evaluate("window.__sqlLengths"))
        during_sql = [d for t, d in tasks if sql_from <= t <= sql_to]
        whole_run = [d for t, d in tasks if sent <= t <= rendered]
        report = {
            "events": events,
            "run_seconds": round((run_to - run_from) / 1000, 2),
            "events_per_second": round(events / ((run_to - run_from) / 1000), 1),
            "sql_stream_seconds": round((sql_to - sql_from) / 1000, 2),
            "sql_renders": sql_pieces,
            "chart": has_chart,
            "long_tasks_while_sql_streams_ms": during_sql,
            "long_tasks_from_send_to_rendered_ms": whole_run,
            "max_long_task_ms": max(whole_run, default=0),
            "shown_ms": {k: round(v - sent) for k, v in page.evaluate("window.__shown").items()},
            "all_long_tasks": [[round(t - sent), d] for t, d in tasks],
            "long_frames": [{**f, "start": round(f["start"] - sent)} for f in page.evaluate("window.__longFrames")],
            "measures": measures(page, sent),
        }
        out = Path(__file__).resolve().parents[2] / "artifacts" / "perf-stream.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print("streaming render:", report)
        shots("13-zh-fast-stream-done", full_page=True)
        if max(whole_run, default=0) <= 50 and sql_pieces >= 20:
            break
    assert sql_pieces >= 20, report  # the SQL really arrived as many small events (the page coalesces some)
    check_long_tasks(max(whole_run, default=0), report)  # from the click on send until the table is drawn


def offline_answer_long_tasks(page: Any, url: str, question: str, name: str, shots: Any = None) -> dict[str, Any]:
    """Ask the superstore ``question`` on a fresh load (best of three) and report the long tasks from the click on
    send until the answer with its chart is drawn; the report is written to ``artifacts/perf-<name>.json``."""
    page.add_init_script(LONG_TASKS_SCRIPT)
    # best of three fresh loads: one long task can come from the shared machine, a regression shows in all three
    for _attempt in range(3):
        page.goto(url)
        page.get_by_test_id("welcome").wait_for()
        page.wait_for_timeout(2500)  # past the idle-time loading of ECharts
        page.get_by_test_id("datasource-select").click()
        page.locator(".ds-popper .el-select-dropdown__item", has_text="超市销售").click()
        page.get_by_test_id("question-input").fill(question)
        page.wait_for_timeout(300)
        sent = page.evaluate("window.__longTasks = []; window.__longFrames = []; window.__shown = {}; performance.now()")
        page.get_by_test_id("send").click()
        wait_status(page, "已完成")
        assert_answer_rendered(page)
        page.wait_for_timeout(1500)
        tasks = page.evaluate("window.__longTasks")
        report = {
            "long_tasks_ms": [[round(t - sent), d] for t, d in tasks],
            "max_long_task_ms": max((d for _, d in tasks), default=0),
            "shown_ms": {k: round(v - sent) for k, v in page.evaluate("window.__shown").items()},
            "long_frames": [{**f, "start": round(f["start"] - sent)} for f in page.evaluate("window.__longFrames")],
            "measures": measures(page, sent),
        }
        out = Path(__file__).resolve().parents[2] / "artifacts" / f"perf-{name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print(f"{name}:", report)
        if shots is not None:
            shots("14-zh-chart-answer", full_page=True)
        if report["max_long_task_ms"] <= 50:
            break
    return report


def test_an_answer_with_a_chart_renders_without_long_tasks(page: Any, offline_server: Server, shots: Any) -> None:
    """The offline writer answers in a few ms, so the whole answer (steps, explanation, table, chart) lands
    at once: the hardest case for the final render. No task over 50 ms from send until the chart is drawn."""
    report = offline_answer_long_tasks(page, offline_server.url, "各类别的销售额", "chart", shots)
    check_long_tasks(report["max_long_task_ms"], report)


def test_the_answer_says_what_it_understood_and_a_follow_up_what_it_carried_over(
    page: Any, offline_server: Server, shots: Any
) -> None:
    page.goto(offline_server.url)
    page.get_by_test_id("locale-switch").get_by_text("English").click()
    page.get_by_test_id("datasource-select").click()
    page.locator(".ds-popper .el-select-dropdown__item", has_text="Superstore").click()
    page.get_by_test_id("question-input").fill("total sales by region")
    page.get_by_test_id("send").click()
    wait_status(page, "Completed")
    first = last_answer(page).get_by_test_id("interpretation")
    assert "total sales" in first.inner_text() and "grouped by region" in first.inner_text()

    page.get_by_test_id("question-input").fill("only for Furniture")
    page.get_by_test_id("send").click()
    page.get_by_test_id("message-assistant").nth(1).get_by_test_id("message-status").filter(has_text="Completed").wait_for()
    said = last_answer(page).get_by_test_id("interpretation").inner_text()
    assert "'Furniture'" in said and "carried over 'total sales by region'" in said, said
    assert last_answer(page).get_by_test_id("result-table").locator("tbody tr").count() == 4  # the four regions
    page.wait_for_timeout(400)
    shots("12-en-follow-up-readback", full_page=True)

    # A question with a word it cannot place is refused, naming the word and what it does know.
    page.get_by_test_id("question-input").fill("total sales of unicorns by galaxy")
    page.get_by_test_id("send").click()
    page.get_by_test_id("message-assistant").nth(2).get_by_test_id("message-status").filter(has_text="Error").wait_for()
    refusal = last_answer(page).inner_text()
    assert "unicorns" in refusal and "region" in refusal, refusal
    shots("13-en-refusal", full_page=True)
    assert not real_errors(page), page.errors
