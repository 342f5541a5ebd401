"""Benchmark of the offline writer's SQL-writing time (no query execution), per question shape.

Run ``uv run python -m evals.bench_offline [--dataset PATH] [--repeat N] [--data-dir DIR]``. The first
Chinese question pays for loading jieba's dictionary once; that warm-up is reported separately.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import defaultdict
from pathlib import Path

from evals.accuracy import DEV, default_registry, load_dataset
from llm.base import SQLRequest, WriterError
from llm.offline import OfflineWriter


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def bench(dataset: Path, repeat: int, data_dir: Path | None) -> None:
    registry = default_registry(data_dir)
    examples = load_dataset(dataset)
    writer = OfflineWriter()
    started = time.perf_counter()
    await writer.write_sql(
        SQLRequest("各地区的总销售额", registry.schema("superstore"), values=registry.values("superstore")),
        lambda c: None,
    )
    print(f"warm-up (jieba dictionary and schema indexes): {(time.perf_counter() - started) * 1000:.0f} ms")
    times: dict[str, list[float]] = defaultdict(list)
    per_question: list[tuple[float, str]] = []
    for ex in examples:
        request = SQLRequest(
            ex.question, registry.schema(ex.datasource), values=registry.values(ex.datasource)
        )  # type: ignore[arg-type]
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            try:
                await writer.write_sql(request, lambda c: None)
            except WriterError:
                pass
            samples.append((time.perf_counter() - t0) * 1000)
        ms = statistics.median(samples)
        per_question.append((ms, ex.question))
        for tag in ("all", *ex.tags):
            times[tag].append(ms)
    print(f"{'shape':<20} {'n':>3} {'median':>8} {'p95':>8} {'max':>8}  (ms)")
    for tag, vals in sorted(times.items(), key=lambda kv: kv[0] != "all"):
        print(
            f"{tag:<20} {len(vals):>3} {statistics.median(vals):>8.2f} {_pct(vals, 0.95):>8.2f} {max(vals):>8.2f}"
        )
    slowest = max(per_question)
    print(f"slowest question: {slowest[0]:.2f} ms — {slowest[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Offline writer timing")
    parser.add_argument("--dataset", type=Path, default=DEV)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    asyncio.run(bench(args.dataset, args.repeat, args.data_dir))


if __name__ == "__main__":
    main()
