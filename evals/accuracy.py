"""Execution accuracy of a SQL writer on a dataset of questions with gold SQL.

Each question's gold and predicted statements run on the real datasource (through the registry); the
prediction is correct when every gold column is matched, by its values, by some prediction column (extra
prediction columns are fine), the rows agree as multisets, and — only when the gold has a top-level
ORDER BY — in the same order. Floats compare with a small tolerance and NULL equals NULL.

Run ``uv run python -m evals.accuracy [--dataset PATH] [--data-dir DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from llm.base import Chunk, SQLRequest, SQLWriter, WriterError

DATASETS = Path(__file__).parent / "datasets"
DEV = DATASETS / "dev.jsonl"
REL_TOL = 1e-6
ABS_TOL = 1e-4


@dataclass(frozen=True)
class Example:
    """One question of a dataset."""

    id: str
    datasource: str
    question: str
    locale: str
    gold_sql: tuple[str, ...]
    tags: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What happened to one question."""

    example: Example
    correct: bool
    predicted_sql: str | None = None
    error: str = ""
    write_ms: float = 0.0
    answered: bool = True
    """The writer produced SQL (a refusal is not an answer; SQL that fails to run is a wrong answer)."""


@dataclass
class Report:
    """Accuracy and precision overall and by datasource, language and shape, plus the failures.

    Accuracy is right / all; precision is right / answered, where a refusal is not an answer: a writer that
    says "I don't know" loses accuracy but not precision, one that answers wrongly loses both.
    """

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of correct questions."""
        return sum(o.correct for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def answered(self) -> int:
        """How many questions got SQL (were not refused)."""
        return sum(o.answered for o in self.outcomes)

    @property
    def precision(self) -> float:
        """Share of correct answers among the questions answered (1.0 when nothing was answered)."""
        return sum(o.correct for o in self.outcomes) / self.answered if self.answered else 1.0

    def by(self, key: str) -> dict[str, tuple[int, int]]:
        """(correct, total) per datasource, locale or tag."""
        return {k: (c, n) for k, (c, _, n) in self.by3(key).items()}

    def by3(self, key: str) -> dict[str, tuple[int, int, int]]:
        """(correct, answered, total) per datasource, locale or tag."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for o in self.outcomes:
            keys = o.example.tags if key == "tag" else (getattr(o.example, key),)
            for k in keys:
                out[k][0] += o.correct
                out[k][1] += o.answered
                out[k][2] += 1
        return {k: (v[0], v[1], v[2]) for k, v in sorted(out.items())}

    @property
    def failures(self) -> list[Outcome]:
        """The questions answered wrongly."""
        return [o for o in self.outcomes if not o.correct]

    def format(self) -> str:
        """A plain-text report."""
        right = sum(o.correct for o in self.outcomes)
        lines = [
            f"accuracy: {self.accuracy:.1%} ({right}/{len(self.outcomes)})  "
            f"precision: {self.precision:.1%} ({right}/{self.answered} answered, "
            f"{len(self.outcomes) - self.answered} refused)"
        ]
        for key, title in (("datasource", "datasource"), ("locale", "language"), ("tag", "shape")):
            lines.append(f"by {title}:")
            lines += [
                f"  {k:<20} accuracy {c}/{n} {c / n:4.0%}  precision {c}/{a} {c / a if a else 1.0:4.0%}"
                for k, (c, a, n) in self.by3(key).items()
            ]
        times = sorted(o.write_ms for o in self.outcomes)
        if times:
            slow = max(self.outcomes, key=lambda o: o.write_ms)
            lines.append(
                f"write time: median {times[len(times) // 2]:.1f} ms, max {times[-1]:.1f} ms ({slow.example.id}: {slow.example.question})"
            )
        if self.failures:
            lines.append("failures:")
            for o in self.failures:
                lines.append(f"  [{o.example.id}] {o.example.question}")
                lines.append(f"      {o.error or 'wrong result'}")
                if o.predicted_sql:
                    lines.append("      " + " ".join(o.predicted_sql.split()))
        return "\n".join(lines)


def load_dataset(path: Path | str = DEV) -> list[Example]:
    """Read a JSONL dataset (one object per line: id, datasource, question, locale, gold_sql, tags)."""
    examples: list[Example] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        gold = d["gold_sql"]
        examples.append(
            Example(
                id=d["id"],
                datasource=d["datasource"],
                question=d["question"],
                locale=d.get("locale", "en"),
                gold_sql=tuple(gold) if isinstance(gold, list) else (gold,),
                tags=tuple(d.get("tags", ())),
            )
        )
    return examples


def load_examples(path: Path | str = DATASETS / "examples.json") -> list[Example]:
    """The web UI's example questions (``{datasource: [{question, locale, gold_sql}]}``) as examples."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [
        Example(f"{ds}-{i}", ds, x["question"], x.get("locale", "en"), (x["gold_sql"],), ("example",))
        for ds, items in data.items()
        for i, x in enumerate(items)
    ]


def _equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return str(a) == str(b)


def _key(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 3)
    return v if v is None or isinstance(v, int | str) else str(v)


def _column_matches(gold: Sequence[Any], pred: Sequence[Any], ordered: bool) -> bool:
    if len(gold) != len(pred):
        return False
    if ordered:
        return all(_equal(g, p) for g, p in zip(gold, pred, strict=True))
    return Counter(_key(v) for v in gold) == Counter(_key(v) for v in pred) and _multiset_close(gold, pred)


def _multiset_close(gold: Sequence[Any], pred: Sequence[Any]) -> bool:
    sort = lambda v: (v is None, str(type(v)), v if isinstance(v, int | float) else str(v))  # noqa: E731
    return all(_equal(g, p) for g, p in zip(sorted(gold, key=sort), sorted(pred, key=sort), strict=True))


def compare_results(
    gold_columns: Sequence[str],
    gold_rows: Sequence[Sequence[Any]],
    pred_columns: Sequence[str],
    pred_rows: Sequence[Sequence[Any]],
    ordered: bool,
) -> bool:
    """Whether a prediction's result answers like the gold's (see the module docstring for the rules)."""
    del gold_columns, pred_columns  # columns are matched by their values, not their names
    if len(gold_rows) != len(pred_rows):
        return False
    if not gold_rows:
        return True
    n_gold, n_pred = len(gold_rows[0]), len(pred_rows[0])
    gold_cols = [[r[i] for r in gold_rows] for i in range(n_gold)]
    pred_cols = [[r[j] for r in pred_rows] for j in range(n_pred)]
    # Each gold column needs a prediction column with the same values (an assignment, greedy by order).
    candidates = [
        [j for j in range(n_pred) if _column_matches(gold_cols[i], pred_cols[j], ordered)]
        for i in range(n_gold)
    ]
    assignment = _assign(candidates)
    if assignment is None:
        return False
    # Columns matched one by one could still pair values from different rows: check whole rows agree.
    gold_proj = [tuple(_key(r[i]) for i in range(n_gold)) for r in gold_rows]
    pred_proj = [tuple(_key(r[assignment[i]]) for i in range(n_gold)) for r in pred_rows]
    if ordered:
        return all(
            all(_equal(gr[i], pr[assignment[i]]) for i in range(n_gold))
            for gr, pr in zip(gold_rows, pred_rows, strict=True)
        )
    return Counter(gold_proj) == Counter(pred_proj)


def _assign(candidates: list[list[int]]) -> list[int] | None:
    """A distinct prediction column for every gold column (small backtracking search)."""
    order = sorted(range(len(candidates)), key=lambda i: len(candidates[i]))
    chosen: dict[int, int] = {}

    def go(k: int) -> bool:
        if k == len(order):
            return True
        i = order[k]
        for j in candidates[i]:
            if j not in chosen.values():
                chosen[i] = j
                if go(k + 1):
                    return True
                del chosen[i]
        return False

    return [chosen[i] for i in range(len(candidates))] if go(0) else None


def gold_is_ordered(sql: str, dialect: str) -> bool:
    """Whether the statement has a top-level ORDER BY (row order then matters)."""
    tree = sqlglot.parse_one(sql, read=dialect)
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


async def _run(conn: Any, sql: str, max_rows: int) -> tuple[list[str], list[list[Any]]]:
    result = await conn.run(sql, max_rows=max_rows, timeout_s=60.0)
    return list(result.columns), [list(r) for r in result.rows]


async def run_eval(
    examples: Sequence[Example],
    registry: Any,
    writer: SQLWriter | None = None,
    max_rows: int = 100_000,
) -> Report:
    """Write SQL for every example with ``writer`` (default: the offline writer), run gold and prediction, compare."""
    if writer is None:
        from llm.offline import OfflineWriter

        writer = OfflineWriter()
    report = Report()
    gold_cache: dict[str, tuple[list[str], list[list[Any]]]] = {}
    for ex in examples:
        schema = registry.schema(ex.datasource)
        values = registry.values(ex.datasource)
        conn = registry.connect(ex.datasource)
        request = SQLRequest(question=ex.question, schema=schema, locale=ex.locale, values=values)  # type: ignore[arg-type]
        chunks: list[Chunk] = []
        started = time.perf_counter()
        try:
            draft = await writer.write_sql(request, chunks.append)
        except WriterError as err:
            report.outcomes.append(
                Outcome(
                    ex,
                    False,
                    None,
                    f"writer error ({err.kind}): {err}",
                    (time.perf_counter() - started) * 1000,
                    answered=False,
                )
            )
            continue
        write_ms = (time.perf_counter() - started) * 1000
        try:
            pred_cols, pred_rows = await _run(conn, draft.sql, max_rows)
        except Exception as err:  # the prediction failed to run: wrong
            report.outcomes.append(Outcome(ex, False, draft.sql, f"execution failed: {err}", write_ms))
            continue
        correct = False
        for gold in ex.gold_sql:
            if gold not in gold_cache:
                gold_cache[gold] = await _run(conn, gold, max_rows)
            gold_cols, gold_rows = gold_cache[gold]
            if compare_results(
                gold_cols, gold_rows, pred_cols, pred_rows, gold_is_ordered(gold, schema.dialect)
            ):
                correct = True
                break
        report.outcomes.append(
            Outcome(
                ex, correct, draft.sql, "" if correct else f"wrong result ({len(pred_rows)} rows)", write_ms
            )
        )
    return report


def default_registry(data_dir: Path | None = None) -> Any:
    """The datasource registry over the demo data (built into ``data_dir`` or the default data directory)."""
    from datasources.registry import Registry

    if data_dir is None:
        from graph.settings import Settings

        data_dir = Path(Settings().data_dir)  # type: ignore[call-arg]
    return Registry(data_dir, max_rows=100_000)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: print the report, exit 1 under ``--min-accuracy``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dataset", type=Path, default=DEV)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--min-accuracy", type=float, default=0.0)
    args = parser.parse_args(argv)
    report = asyncio.run(run_eval(load_dataset(args.dataset), default_registry(args.data_dir)))
    print(report.format())
    return 0 if report.accuracy >= args.min_accuracy else 1


if __name__ == "__main__":
    raise SystemExit(main())
