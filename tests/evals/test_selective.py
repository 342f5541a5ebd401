"""Selective accuracy: accuracy (right / all) and precision (right / answered), overall, per language and shape."""

import json
from pathlib import Path

from typer.testing import CliRunner

from evals.accuracy import Example, Outcome, Report
from evals.cli import app
from evals.report import by_field, selective_lines, summarize
from evals.runner import CaseResult

FIXTURES = Path(__file__).parent / "fixtures"


def _case(i: int, locale: str, tag: str, *, correct: bool, answered: bool) -> CaseResult:
    return CaseResult(f"q{i}", "flights", "?", locale, [tag], correct=correct, valid_sql=answered, answered=answered)


def test_precision_counts_refusals_out_and_wrong_answers_in() -> None:
    cases = [
        _case(1, "en", "count", correct=True, answered=True),
        _case(2, "en", "count", correct=False, answered=True),
        _case(3, "zh", "median", correct=False, answered=False),
        _case(4, "zh", "median", correct=True, answered=True),
    ]
    s = summarize(cases)
    assert (s["correct"], s["answered"], s["refused"]) == (2, 3, 1)
    assert s["accuracy"] == 0.5 and abs(s["precision"] - 2 / 3) < 1e-9
    zh = by_field(cases, "locale")["zh"]
    assert zh["accuracy"] == 0.5 and zh["precision"] == 1.0
    text = "\n".join(selective_lines(cases))
    assert "precision 66.7% (2/3 answered, 1 refused)" in text
    assert "by language:" in text and "by shape:" in text
    assert "median" in text and "precision 100.0% (1/1)" in text


def test_writer_report_prints_both_numbers_per_language_and_shape() -> None:
    ex = lambda i, loc: Example(f"x{i}", "flights", "?", loc, ("SELECT 1",), ("count",))  # noqa: E731
    report = Report([Outcome(ex(1, "en"), True), Outcome(ex(2, "zh"), False, answered=False), Outcome(ex(3, "zh"), False)])
    assert report.answered == 2 and report.precision == 0.5
    text = report.format()
    assert "accuracy: 33.3% (1/3)  precision: 50.0% (1/2 answered, 1 refused)" in text
    assert "zh" in text and "precision 0/1" in text


def test_sqlbot_eval_prints_precision_and_a_refusal_is_not_an_answer(demo_data_dir: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "mixed.jsonl"
    lines = (FIXTURES / "small.jsonl").read_text().splitlines()[:2] + [
        json.dumps({"id": "nonsense", "datasource": "flights", "locale": "en",
                    "question": "how many purple elephants juggled on the moon", "gold_sql": "SELECT 1", "tags": ["count"]})
    ]
    dataset.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "--dataset", str(dataset), "--data-dir", str(demo_data_dir), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "precision 100.0% (2/2 answered)" in result.output, result.output
    assert "by language:" in result.output and "by shape:" in result.output
    data = json.loads((out / "results.json").read_text())
    assert data["summary"]["refused"] == 1 and data["summary"]["precision"] == 1.0
    assert abs(data["summary"]["accuracy"] - 2 / 3) < 1e-9
    assert data["by_locale"]["en"]["answered"] == 2
    assert "precision" in (out / "report.md").read_text()
