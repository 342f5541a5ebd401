"""SQL extraction from raw model answers, driven by ``fixtures/extract_cases.json``."""

import json
from pathlib import Path

import pytest

from llm.base import Chunk
from llm.extract import ThinkSplitter, extract_sql, split_statements

CASES = json.loads((Path(__file__).parent / "fixtures" / "extract_cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_extract_sql(case: dict) -> None:
    result = extract_sql(case["raw"])
    assert result.sql == case["sql"]
    if "reasoning" in case:
        assert result.reasoning == case["reasoning"]


def test_split_statements_respects_quotes_and_comments() -> None:
    sql = "SELECT 'a;b', \"c;d\" FROM t -- x; y\n; /* ; */ SELECT 2;"
    assert split_statements(sql) == ["SELECT 'a;b', \"c;d\" FROM t -- x; y", "/* ; */ SELECT 2"]


def _run(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    chunks: list[Chunk] = []
    for piece in pieces:
        chunks += splitter.feed(piece)
    chunks += splitter.flush()
    assert all(bool(c.text) != bool(c.reasoning) for c in chunks)
    return "".join(c.text for c in chunks), "".join(c.reasoning for c in chunks)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_think_splitter_handles_tags_split_across_chunks(size: int) -> None:
    raw = "<think>plan: count rows</think>```sql\nSELECT 1 < 2\n```<thi"
    pieces = [raw[i : i + size] for i in range(0, len(raw), size)]
    text, reasoning = _run(pieces)
    assert reasoning == "plan: count rows"
    assert text == "```sql\nSELECT 1 < 2\n```<thi"


def test_think_splitter_passes_text_through_without_tags() -> None:
    assert _run(["SELECT ", "a < b", " FROM t"]) == ("SELECT a < b FROM t", "")
