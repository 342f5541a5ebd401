"""Aggregate per-question eval results and write them as Markdown, JSON and a PNG plot.

Everything is computed from :class:`evals.runner.CaseResult` objects: execution accuracy, valid-SQL rate,
repairs attempted and succeeded, per-step latency (median and p95), time to the first event, model calls
and tokens per question, overall and per tag.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.runner import CaseResult
from graph.steps import STEPS

STEP_ORDER = [s.name for s in STEPS]


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` (0-100) of ``values`` (nan when empty)."""
    data = sorted(values)
    if not data:
        return math.nan
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(data[lo] + (data[hi] - data[lo]) * (pos - lo))


def median(values: Iterable[float]) -> float:
    """Median (nan when empty)."""
    data = list(values)
    return float(statistics.median(data)) if data else math.nan


def summarize(cases: Sequence[CaseResult]) -> dict[str, Any]:
    """The headline numbers of a group of questions."""
    n = len(cases)
    if not n:
        return {"questions": 0}
    repaired = [c for c in cases if c.repairs]
    firsts = [c.first_event_ms for c in cases]
    contents = [c.first_content_ms for c in cases if c.first_content_ms is not None]
    correct = sum(c.correct for c in cases)
    answered = sum(c.answered for c in cases)
    return {
        "questions": n,
        "correct": correct,
        "accuracy": correct / n,
        "answered": answered,
        "refused": n - answered,
        "precision": correct / answered if answered else math.nan,
        "valid_sql_rate": sum(c.valid_sql for c in cases) / n,
        "repairs_attempted": sum(c.repairs for c in cases),
        "questions_repaired": len(repaired),
        "repairs_succeeded": sum(c.repair_succeeded for c in repaired),
        "first_event_ms_median": median(firsts),
        "first_event_ms_p95": percentile(firsts, 95),
        "first_content_ms_median": median(contents),
        "total_ms_median": median(c.total_ms for c in cases),
        "total_ms_p95": percentile((c.total_ms for c in cases), 95),
        "model_calls_per_question": sum(c.model_calls for c in cases) / n,
        "prompt_tokens_per_question": sum(c.prompt_tokens for c in cases) / n,
        "completion_tokens_per_question": sum(c.completion_tokens for c in cases) / n,
        "events_per_question": sum(c.events for c in cases) / n,
    }


def by_tag(cases: Sequence[CaseResult]) -> dict[str, dict[str, Any]]:
    """:func:`summarize` per tag (a question counts under each of its tags)."""
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for c in cases:
        for tag in c.tags or ["(untagged)"]:
            groups[tag].append(c)
    return {tag: summarize(group) for tag, group in sorted(groups.items())}


def by_field(cases: Sequence[CaseResult], name: str) -> dict[str, dict[str, Any]]:
    """:func:`summarize` per value of a case attribute (``datasource``, ``locale``)."""
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for c in cases:
        groups[str(getattr(c, name))].append(c)
    return {key: summarize(group) for key, group in sorted(groups.items())}


def selective_lines(cases: Sequence[CaseResult]) -> list[str]:
    """Accuracy and precision overall, per language and per shape, as plain text lines (for the terminal)."""
    s = summarize(cases)
    if not s["questions"]:
        return []
    lines = [
        f"accuracy {_pct(s['accuracy'])} ({s['correct']}/{s['questions']}), precision {_pct(s['precision'])} "
        f"({s['correct']}/{s['answered']} answered, {s['refused']} refused)"
    ]
    for title, groups in (("language", by_field(cases, "locale")), ("shape", by_tag(cases))):
        lines.append(f"by {title}:")
        for key, g in groups.items():
            lines.append(
                f"  {key:<22} accuracy {_pct(g['accuracy']):>6} ({g['correct']}/{g['questions']})"
                f"  precision {_pct(g['precision']):>6} ({g['correct']}/{g['answered']})"
            )
    return lines


def step_latency(cases: Sequence[CaseResult]) -> dict[str, dict[str, float]]:
    """Median and p95 duration per step, over the questions where the step ran."""
    out = {}
    for step in STEP_ORDER:
        values = [c.step_ms[step] for c in cases if step in c.step_ms]
        if values:
            out[step] = {"runs": len(values), "median_ms": median(values), "p95_ms": percentile(values, 95)}
    return out


@dataclass
class EvalRun:
    """One evaluation: what ran, on what, and the per-question results."""

    dataset: str
    writer: str
    cases: list[CaseResult]
    meta: dict[str, Any] = field(default_factory=dict)
    """Free-form facts: dates, settings, skipped questions, the command line."""
    extra: dict[str, list[CaseResult]] = field(default_factory=dict)
    """Further result sets reported alongside (e.g. ``postgres`` for the defog PostgreSQL path)."""

    def to_json(self) -> dict[str, Any]:
        """Everything, JSON-serialisable."""
        return {
            "dataset": self.dataset,
            "writer": self.writer,
            "meta": self.meta,
            "summary": summarize(self.cases),
            "by_tag": by_tag(self.cases),
            "by_locale": by_field(self.cases, "locale"),
            "by_datasource": by_field(self.cases, "datasource"),
            "steps": step_latency(self.cases),
            "cases": [c.to_dict() for c in self.cases],
            "extra": {
                name: {"summary": summarize(cs), "by_tag": by_tag(cs), "cases": [c.to_dict() for c in cs]}
                for name, cs in self.extra.items()
            },
        }


def _pct(x: float) -> str:
    return "–" if isinstance(x, float) and math.isnan(x) else f"{x:.1%}"


def _ms(x: float) -> str:
    return "–" if isinstance(x, float) and math.isnan(x) else f"{x:.1f}"


def _tag_table(tags: dict[str, dict[str, Any]], head: str = "tag") -> list[str]:
    lines = [
        f"| {head} | questions | accuracy | precision (answered) | valid SQL | repairs (ok) | median total ms | calls/q |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tag, s in tags.items():
        lines.append(
            f"| {tag} | {s['questions']} | {_pct(s['accuracy'])} | {_pct(s['precision'])} ({s['answered']}) | {_pct(s['valid_sql_rate'])} | "
            f"{s['repairs_attempted']} ({s['repairs_succeeded']}) | {_ms(s['total_ms_median'])} | {s['model_calls_per_question']:.2f} |"
        )
    return lines


def markdown(run: EvalRun, *, max_failures: int = 40) -> str:
    """The human-readable report."""
    s = summarize(run.cases)
    lines = [f"# Eval: {run.dataset} — {run.writer}", ""]
    for key, value in run.meta.items():
        lines.append(f"- {key}: {value}")
    lines += [
        "",
        "## Summary",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| questions | {s['questions']} |",
        f"| execution accuracy (right / all) | {_pct(s['accuracy'])} ({s['correct']}/{s['questions']}) |",
        f"| precision (right / answered; a refusal is not an answer) | {_pct(s['precision'])} ({s['correct']}/{s['answered']}, {s['refused']} refused) |",
        f"| valid SQL rate | {_pct(s['valid_sql_rate'])} |",
        f"| repairs attempted / questions repaired / repaired then answered | {s['repairs_attempted']} / {s['questions_repaired']} / {s['repairs_succeeded']} |",
        f"| time to first event, median / p95 (ms) | {_ms(s['first_event_ms_median'])} / {_ms(s['first_event_ms_p95'])} |",
        f"| time to first content, median (ms) | {_ms(s['first_content_ms_median'])} |",
        f"| total time, median / p95 (ms) | {_ms(s['total_ms_median'])} / {_ms(s['total_ms_p95'])} |",
        f"| model calls per question | {s['model_calls_per_question']:.2f} |",
        f"| tokens per question (prompt + completion) | {s['prompt_tokens_per_question']:.0f} + {s['completion_tokens_per_question']:.0f} |",
        f"| events per question | {s['events_per_question']:.1f} |",
        "",
        "## Per-step latency",
        "",
        "| step | runs | median ms | p95 ms |",
        "|---|---:|---:|---:|",
    ]
    for step, v in step_latency(run.cases).items():
        lines.append(f"| {step} | {v['runs']} | {_ms(v['median_ms'])} | {_ms(v['p95_ms'])} |")
    lines += ["", "## By language", "", *_tag_table(by_field(run.cases, "locale"), "language")]
    lines += ["", "## By tag", "", *_tag_table(by_tag(run.cases))]
    for name, cases in run.extra.items():
        es = summarize(cases)
        lines += [
            "",
            f"## {name}",
            "",
            f"Execution accuracy {_pct(es['accuracy'])} ({es['correct']}/{es['questions']}), precision "
            f"{_pct(es['precision'])} ({es['correct']}/{es['answered']} answered), valid SQL {_pct(es['valid_sql_rate'])}.",
            "",
            *_tag_table(by_tag(cases)),
        ]
    failures = [c for c in run.cases if not c.correct]
    if failures:
        lines += ["", f"## Failures ({len(failures)})", ""]
        for c in failures[:max_failures]:
            sql = " ".join((c.predicted_sql or "").split())
            lines.append(f"- **{c.id}** {c.question.splitlines()[0]} — {c.error}" + (f"  \n  `{sql[:300]}`" if sql else ""))
        if len(failures) > max_failures:
            lines.append(f"- … {len(failures) - max_failures} more in results.json")
    return "\n".join(lines) + "\n"


def plot(run: EvalRun, path: Path) -> Path:
    """Per-step latency (median with p95 whiskers) and accuracy by tag, side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = step_latency(run.cases)
    tags = by_tag(run.cases)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, max(4.0, 0.28 * len(tags) + 1.5)))
    names = list(steps)
    medians = [steps[n]["median_ms"] for n in names]
    p95 = [steps[n]["p95_ms"] for n in names]
    left.barh(names, medians, xerr=[[0] * len(names), [max(0.0, p - m) for p, m in zip(p95, medians, strict=True)]], color="#4C72B0", capsize=3)
    left.invert_yaxis()
    left.set_xlabel("ms (bar: median, whisker: p95)")
    left.set_title("Per-step latency")
    tag_names = list(tags)
    right.barh(tag_names, [tags[t]["accuracy"] * 100 for t in tag_names], color="#55A868")
    right.invert_yaxis()
    right.set_xlim(0, 100)
    right.set_xlabel("execution accuracy (%)")
    right.set_title(f"Accuracy by tag (overall {summarize(run.cases).get('accuracy', 0):.1%})")
    fig.suptitle(f"{run.dataset} — {run.writer}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(run: EvalRun, out_dir: Path) -> dict[str, Path]:
    """Write ``report.md``, ``results.json`` and ``eval.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "report.md", "json": out_dir / "results.json", "png": out_dir / "eval.png"}
    paths["markdown"].write_text(markdown(run), encoding="utf-8")
    paths["json"].write_text(json.dumps(clean(run.to_json()), indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    plot(run, paths["png"])
    return paths


def clean(value: Any) -> Any:
    """Replace NaN (no data) by None, recursively, so the JSON is standard."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value
