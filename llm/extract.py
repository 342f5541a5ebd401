"""Find the SQL statement in what a chat model actually answered.

Local and hosted models wrap SQL in many ways: a ```sql fence (or ```SQL, or a bare ``` fence), several
fences, JSON such as ``{"sql": "..."}`` (sometimes inside a fence), bare SQL between sentences of prose,
``<think>…</think>`` reasoning before the answer, trailing semicolons, and extra statements.
:func:`extract_sql` handles all of them; :class:`ThinkSplitter` separates ``<think>`` reasoning from the
visible text while the answer is still streaming. The cases are pinned by
``tests/llm/fixtures/extract_cases.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from llm.base import Chunk

__all__ = ["Extraction", "ThinkSplitter", "extract_sql", "split_statements", "split_think"]

_OPEN = "<think>"
_CLOSE = "</think>"
_THINK_BLOCK = re.compile(r"<think>(.*?)(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_SQL_TAG = re.compile(r"<sql>(.*?)</sql>", re.DOTALL | re.IGNORECASE)
_STARTS_LIKE_SQL = re.compile(r"^\s*\(*\s*(select|with)\b", re.IGNORECASE)
_LEADING_COMMENTS = re.compile(r"^(\s*(--[^\n]*(\n|$)|/\*.*?\*/))*", re.DOTALL)
# Where bare SQL may start: SELECT/WITH at the start of a line (any case), or in upper case after a colon
# or mid-sentence ("The query is: SELECT ...").
_BARE_START = re.compile(
    r"(?im)^[ \t>*-]*(?=(?:select\s|with\s+\w+\s*(?:\([^)]*\)\s*)?as\s*\())|(?-i:\b(?=SELECT\s|WITH\s+\w+\s+AS\s*\())"
)
_JSON_KEYS = ("sql", "SQL", "query", "sql_query", "statement")


@dataclass(frozen=True)
class Extraction:
    """The result of :func:`extract_sql`."""

    sql: str | None
    """The statement, trimmed, without a trailing semicolon; None when the answer holds no SQL."""
    reasoning: str
    """Text found inside ``<think>`` blocks."""


def split_think(text: str) -> tuple[str, str]:
    """Split ``text`` into (visible text, reasoning) by removing ``<think>…</think>`` blocks.

    An unclosed ``<think>`` runs to the end. A ``</think>`` with no opening tag (chat templates that put
    ``<think>`` in the prompt) makes everything before it reasoning.
    """
    reasoning: list[str] = []
    lowered = text.lower()
    opening, close = lowered.find(_OPEN), lowered.find(_CLOSE)
    if close != -1 and (opening == -1 or close < opening):
        reasoning.append(text[:close])
        text = text[close + len(_CLOSE) :]

    def keep(match: re.Match[str]) -> str:
        reasoning.append(match.group(1))
        return ""

    visible = _THINK_BLOCK.sub(keep, text)
    return visible, "\n".join(r.strip() for r in reasoning if r.strip())


def split_statements(sql: str) -> list[str]:
    """Split on semicolons outside quotes and comments; empty statements are dropped."""
    statements: list[str] = []
    start = 0
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote escapes itself
                        end += 2
                        continue
                    break
                end += 1
            i = end + 1
            continue
        if sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline == -1 else newline + 1
            continue
        if sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n if close == -1 else close + 2
            continue
        if ch == ";":
            statements.append(sql[start:i])
            start = i + 1
        i += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _strip_comments(s).strip()]


def _strip_comments(sql: str) -> str:
    return _LEADING_COMMENTS.sub("", sql)


def _looks_like_sql(text: str) -> bool:
    return bool(_STARTS_LIKE_SQL.match(_strip_comments(text)))


def _first_query(text: str) -> str | None:
    """The first SELECT/WITH statement of ``text`` (else its first statement), cleaned up."""
    statements = split_statements(text)
    if not statements:
        return None
    chosen = next((s for s in statements if _looks_like_sql(s)), statements[0])
    chosen = chosen.strip().rstrip(";").strip()
    return chosen or None


def _from_json(text: str) -> str | None:
    candidates = [text.strip()]
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last:
        candidates.append(text[first : last + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(data, dict):
            for key in _JSON_KEYS:
                value = data.get(key)
                if isinstance(value, str) and value.strip():
                    return _first_query(value)
    return None


def _from_fences(text: str) -> str | None:
    """The last fenced block that holds SQL (JSON inside a fence counts)."""
    found: str | None = None
    for match in _FENCE.finditer(text):
        language, body = match.group(1).lower(), match.group(2)
        if language == "json" or body.lstrip().startswith("{"):
            sql = _from_json(body)
            if sql:
                found = sql
            continue
        if (
            language in ("sql", "sqlite", "postgresql", "postgres", "mysql", "duckdb")
            and _strip_comments(body).strip()
        ):
            found = _first_query(body)
        elif _looks_like_sql(body):
            found = _first_query(body)
    return found


def _is_prose(line: str) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    if re.search(r"[\u3400-\u9fff]", stripped) and not re.search(r"['\"]", stripped):
        return True
    words = stripped.split()
    return (
        len(words) >= 4
        and not re.search(r"[(),=<>*']|\b(SELECT|FROM|WHERE|JOIN|GROUP|ORDER|LIMIT|AND|OR|ON|AS)\b", stripped)
        and bool(re.match(r"^[A-Z][a-z]", stripped))
    )


def _from_bare(text: str) -> str | None:
    match = _BARE_START.search(text)
    if match is None:
        return None
    rest = text[match.end() :]
    lines: list[str] = []
    for line in rest.splitlines():
        if _is_prose(line):
            break
        lines.append(line)
    return _first_query("\n".join(lines))


def extract_sql(raw: str) -> Extraction:
    """Find the SQL statement in a model's raw answer.

    Order: JSON with an ``sql`` key, then the last SQL fenced block, then ``<sql>`` tags, then bare SQL
    starting at a SELECT/WITH and ending before prose. Of several statements the first SELECT/WITH wins.
    """
    visible, reasoning = split_think(raw)
    sql = _from_json(visible) if "{" in visible else None
    if sql is None and "```" in visible:
        sql = _from_fences(visible)
    if sql is None:
        tagged = _SQL_TAG.findall(visible)
        if tagged:
            sql = _first_query(tagged[-1])
    if sql is None:
        sql = _from_bare(visible)
    return Extraction(sql=sql, reasoning=reasoning)


class ThinkSplitter:
    """Route streamed text to visible output or reasoning, following ``<think>`` tags across chunks.

    A tag may be split over chunk boundaries (``"<thi"`` + ``"nk>"``): a possible tag prefix at the end of
    a chunk is held back until the next chunk decides it.
    """

    def __init__(self) -> None:
        self._inside = False
        self._pending = ""

    def feed(self, text: str) -> list[Chunk]:
        """Consume a piece of streamed text; return the chunks that can be emitted now."""
        buffer = self._pending + text
        self._pending = ""
        out: list[Chunk] = []
        while buffer:
            tag = _CLOSE if self._inside else _OPEN
            index = buffer.lower().find(tag)
            if index != -1:
                self._append(out, buffer[:index])
                buffer = buffer[index + len(tag) :]
                self._inside = not self._inside
                continue
            keep = _partial_suffix(buffer.lower(), tag)
            self._append(out, buffer[: len(buffer) - keep])
            self._pending = buffer[len(buffer) - keep :]
            break
        return out

    def flush(self) -> list[Chunk]:
        """Emit whatever was held back (the stream has ended)."""
        out: list[Chunk] = []
        self._append(out, self._pending)
        self._pending = ""
        return out

    def _append(self, out: list[Chunk], text: str) -> None:
        if text:
            out.append(Chunk(reasoning=text) if self._inside else Chunk(text=text))


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0
