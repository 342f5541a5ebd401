"""Question-shape cases as data: each line of fixtures/question_shapes.jsonl is a question and SQL that
returns the expected result, compared either on all rows or on the first column as a set (groups)."""

import json
from pathlib import Path
from typing import Any

import pytest

from llm.base import SQLRequest
from llm.offline import OfflineWriter

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "fixtures" / "question_shapes.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]



async def run(registry: Any, ds: str, question: str) -> list[tuple[Any, ...]]:
    request = SQLRequest(question, registry.schema(ds), values=registry.values(ds))
    draft = await OfflineWriter().write_sql(request, lambda c: None)
    result = await registry.connect(ds).run(draft.sql, max_rows=100_000, timeout_s=60)
    return [tuple(r) for r in result.rows]


def rows_of(registry: Any, ds: str, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in registry.connect(ds).fetchall(sql)]


def first_column(rows: list[tuple[Any, ...]]) -> set[Any]:
    return {r[0] for r in rows}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['shape']}:{c['question']}" for c in CASES])
async def test_question_shape(offline_registry: Any, case: dict[str, str]) -> None:
    rows = await run(offline_registry, case["datasource"], case["question"])
    expected = rows_of(offline_registry, case["datasource"], case["sql"])
    if case["compare"] == "first_column":
        assert first_column(rows) == first_column(expected)
    else:
        assert rows == expected
