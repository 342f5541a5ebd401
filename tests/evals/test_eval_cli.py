"""``sqlbot eval`` on a small dataset: the report, JSON and plot are written; ``--min-accuracy`` gates."""

import json
from pathlib import Path

from typer.testing import CliRunner

from evals.cli import app

SMALL = Path(__file__).parent / "fixtures" / "small.jsonl"


def test_eval_writes_report_json_and_png(demo_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "--dataset", str(SMALL), "--data-dir", str(demo_data_dir), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output
    data = json.loads((out / "results.json").read_text())
    assert data["summary"]["questions"] == 5
    assert data["summary"]["accuracy"] > 0.5
    assert set(data["steps"]) >= {"analyzing_question", "generate_sql", "execute_query", "present_result"}
    assert data["summary"]["first_event_ms_median"] > 0
    assert all(c["valid_sql"] for c in data["cases"])
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "## Per-step latency" in report and "## By tag" in report


def test_min_accuracy_is_a_regression_gate(demo_data_dir: Path, tmp_path: Path) -> None:
    args = ["eval", "--dataset", str(SMALL), "--data-dir", str(demo_data_dir), "--out", str(tmp_path), "-q", "--limit", "2"]
    assert CliRunner().invoke(app, [*args, "--min-accuracy", "0.5"]).exit_code == 0
    failed = CliRunner().invoke(app, [*args, "--min-accuracy", "1.01"])
    assert failed.exit_code != 0  # out of range is refused too
    impossible = SMALL.parent / "impossible.jsonl"
    result = CliRunner().invoke(app, ["eval", "--dataset", str(impossible), "--data-dir", str(demo_data_dir), "--out", str(tmp_path), "-q", "--min-accuracy", "0.5"])
    assert result.exit_code == 1, result.output
    assert "below --min-accuracy" in result.output


def test_failures_keep_their_events(demo_data_dir: Path, tmp_path: Path) -> None:
    impossible = SMALL.parent / "impossible.jsonl"
    CliRunner().invoke(app, ["eval", "--dataset", str(impossible), "--data-dir", str(demo_data_dir), "--out", str(tmp_path), "-q"])
    case = json.loads((tmp_path / "results.json").read_text())["cases"][0]
    assert not case["correct"]
    assert case["trace"][0]["type"] == "step_start"
    assert case["trace"][-1]["type"] in ("final_complete", "stream_error")


def test_glossary_option_loads_knowledge(demo_data_dir: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.jsonl"
    probe.write_text(json.dumps({"id": "g1", "datasource": "superstore", "locale": "en", "question": "How many zorble orders were in Furniture?",
                                 "gold_sql": "SELECT COUNT(*) FROM superstore WHERE profit < 0 AND category = 'Furniture'",
                                 "tags": []}) + "\n")
    glossary = tmp_path / "glossary.json"
    glossary.write_text(json.dumps({"glossary": [{"term": "zorble", "expression": "profit < 0", "datasource": "superstore"}]}))
    args = ["eval", "--dataset", str(probe), "--data-dir", str(demo_data_dir), "--out", str(tmp_path / "out"), "-q"]
    without = CliRunner().invoke(app, args)
    assert "accuracy 0.0%" in without.output, without.output
    with_glossary = CliRunner().invoke(app, [*args, "--glossary", str(glossary)])
    assert "accuracy 100.0%" in with_glossary.output, with_glossary.output
    assert json.loads((tmp_path / "out" / "results.json").read_text())["cases"][0]["predicted_sql"].count("profit < 0") == 1
