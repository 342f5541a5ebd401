"""Question-shape cases as data: each line of fixtures/question_shapes.jsonl is a question and SQL that
returns the expected result, compared either on all rows or on the first column as a set (groups)."""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.llm.offline.test_generalization import first_column, rows_of, run

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "fixtures" / "question_shapes.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]





@pytest.mark.parametrize("case", CASES, ids=[f"{c['shape']}:{c['question']}" for c in CASES])
async def test_question_shape(offline_registry: Any, case: dict[str, str]) -> None:
    rows = await run(offline_registry, case["datasource"], case["question"])
    expected = rows_of(offline_registry, case["datasource"], case["sql"])
    if case["compare"] == "first_column":
        assert first_column(rows) == first_column(expected)
    else:
        assert rows == expected
