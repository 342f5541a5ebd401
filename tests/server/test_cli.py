"""The `sqlbot` command as a person runs it: live view, JSON lines, exit status."""

import json
import os
import subprocess
import sys
from pathlib import Path

from graph.protocol import parse_event
from tests.graph.invariants import check_invariants

SQLBOT = [str(Path(sys.executable).with_name("sqlbot"))]


def run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SQLBOT_DATA_DIR": str(data_dir), "COLUMNS": "120"}
    for key in ("SQLBOT_LLM_BASE_URL", "SQLBOT_LLM_MODEL", "SQLBOT_LLM_API_KEY"):
        env.pop(key, None)
    return subprocess.run(SQLBOT + args, capture_output=True, text=True, timeout=180, env=env)


def test_ask_json_prints_one_protocol_event_per_line(demo_data_dir: Path) -> None:
    out = run(["ask", "各地区的总销售额", "--json"], demo_data_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    events = [json.loads(line) for line in out.stdout.splitlines()]
    check_invariants(events)
    assert all(parse_event(e) for e in events)
    assert events[0]["step"]["title"] == "分析问题意图"
    final = events[-1]["summary"]["output"]
    assert final["datasource"]["id"] == "superstore" and final["rowCount"] == 4
    assert {row["region"] for row in final["data"]} == {"Central", "East", "South", "West"}


def test_ask_shows_steps_sql_and_table(demo_data_dir: Path) -> None:
    out = run(["ask", "average departure delay by airline", "--datasource", "flights"], demo_data_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    for text in ("Analyse the question", "Present the result", "SELECT", "Frontier Airlines Inc.", "16 rows"):
        assert text in out.stdout


def test_a_question_that_fails_exits_non_zero_with_the_suggestion(demo_data_dir: Path) -> None:
    out = run(["ask", "write me a poem about the sea"], demo_data_dir)
    assert out.returncode == 1
    assert "INVALID_QUESTION" in out.stdout and "Suggestion:" in out.stdout


def test_datasources_lists_tables(demo_data_dir: Path) -> None:
    out = run(["datasources"], demo_data_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    for text in ("flights", "superstore", "movies", "airlines", "omdb", "336,776"):
        assert text in out.stdout
