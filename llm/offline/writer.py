"""The offline SQL writer: a rule-based semantic parser over the schema, with no model and no network."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from datasources.schema import Schema
from llm.base import Chunk, Emit, ExplainRequest, SQLDraft, SQLRequest, WriterError
from llm.offline import lexicon
from llm.offline.account import account
from llm.offline.build import build_sql
from llm.offline.followup import looks_like_follow_up, resolve, standalone
from llm.offline.linking import link
from llm.offline.parse import Parser, find_cues
from llm.offline.readback import readback
from llm.offline.roles import assign_roles
from llm.offline.text import has_cjk, tokenize
from llm.offline.with_knowledge import write_with_knowledge


@dataclass(frozen=True)
class LinkScore:
    """How well a question links to one datasource's schema."""

    score: float
    """Sum of the weights of linked mentions (higher is better; 0 means nothing linked)."""
    matched: tuple[str, ...] = ()
    """The linked elements, as ``'word' → table.column`` strings."""


@dataclass(frozen=True)
class QuestionAnalysis:
    """What the first step learns about a question before any datasource is chosen."""

    language: str
    """``zh`` or ``en``."""
    is_data_question: bool
    """False for empty input, gibberish, greetings and requests that are not about data."""
    reason: str = ""
    """Why the question was rejected (empty when accepted)."""
    terms: tuple[str, ...] = ()
    """Content words of the question (after segmentation for Chinese)."""
    intent: str = "query"
    """A coarse shape: count, aggregate, top_n, trend, list, or query."""


def score_question(question: str, schema: Schema, values: Any = None) -> LinkScore:
    """Rank a datasource for a question by the schema elements and data values the question mentions."""
    _, mentions = link(question, schema, values)
    score = 0.0
    matched: list[str] = []
    for m in mentions:
        if m.elements:
            w = max(w for _, w in m.elements)
            score += w
            matched.append(f"'{m.text}' → {m.elements[0][0].label()}")
        elif m.values:
            score += 0.8
            matched.append(f"'{m.text}' → {m.values[0].table}.{m.values[0].column}")
    return LinkScore(round(score, 3), tuple(matched))


_WORD = re.compile(r"[A-Za-z]+")


def analyze_question(question: str) -> QuestionAnalysis:
    """Language, data-question check and key terms, without any schema."""
    q = question.strip()
    language = "zh" if has_cjk(q) else "en"
    if not q:
        return QuestionAnalysis(language, False, "The question is empty.")
    low = q.lower()
    tokens = tokenize(q)
    terms = tuple(
        dict.fromkeys(
            t.text
            for t in tokens
            if (t.zh and len(t.text) > 1 or not t.zh and t.text not in lexicon.STOPWORDS_EN)
        )
    )
    words = _WORD.findall(low)
    for pattern in lexicon.NON_DATA_PATTERNS:
        hit = re.search(rf"\b{re.escape(pattern)}\b", low) if pattern.isascii() else pattern in q
        if hit and len(terms) <= 6:
            return QuestionAnalysis(language, False, "This does not look like a question about data.", terms)
    known_zh = any(w in q for w in lexicon.QUESTION_WORDS_ZH) or any(
        t.zh and t.lemma != t.text for t in tokens
    )
    known_en = any(w in lexicon.QUESTION_WORDS_EN for w in words) or any(
        t.lemma != t.text or t.lemma in lexicon.SYNONYMS for t in tokens if not t.zh
    )
    vowels = sum(ch in "aeiou" for ch in "".join(words))
    letters = len("".join(words))
    gibberish = language == "en" and (
        letters > 0 and vowels / letters < 0.2 or not known_en and len(words) < 3
    )
    if language == "zh" and not known_zh and not words:
        return QuestionAnalysis(language, False, "This does not look like a question about data.", terms)
    if gibberish or (language == "en" and not known_en and not any(ch.isdigit() for ch in q)):
        return QuestionAnalysis(language, False, "This does not look like a question about data.", terms)
    intent = "query"
    if any(w in low for w in ("how many", "number of", "count")) or "多少" in q:
        intent = "count"
    elif any(w in low for w in ("top", "most", "highest", "lowest", "which")) or "最" in q:
        intent = "top_n"
    elif any(w in low for w in ("monthly", "trend", "by month", "per month")) or "趋势" in q or "每月" in q:
        intent = "trend"
    elif any(w in low for w in ("average", "total", "sum", "mean")) or "平均" in q or "总" in q:
        intent = "aggregate"
    return QuestionAnalysis(language, True, "", terms, intent)


def _sql_pieces(sql: str) -> list[str]:
    lines = sql.splitlines(keepends=True)
    return ["".join(lines[i : i + 3]) for i in range(0, len(lines), 3)] or [sql]


class OfflineWriter:
    """Writes SQL with schema linking and rules: deterministic, fast, and honest when it does not understand."""

    name = "offline"

    async def write_sql(self, request: SQLRequest, emit: Emit) -> SQLDraft:
        """Parse the question against the schema and stream the reasoning trace and the SQL."""
        schema = request.schema
        question = request.question.strip()
        if not question:
            raise WriterError("The question is empty.", kind="invalid_question")
        if request.failed_sql:
            schema = _without_failing_column(schema, request.error or "")
            if schema is request.schema:
                raise WriterError(
                    "The offline writer cannot repair this statement; rephrase the question or configure an LLM.",
                    kind="not_understood",
                    detail=request.error or "",
                )
        carried = ""
        if request.history and looks_like_follow_up(question):
            previous = standalone(request.history, schema, request.values)
            resolved = resolve(previous, question, schema, request.values, request.locale) if previous else None
            if resolved is None:
                raise _unresolved_follow_up(question, previous or "", request.locale)
            question, carried = resolved.question, resolved.carried
        if request.knowledge and not request.failed_sql:  # glossary and saved examples (issue 13)
            hooked = await write_with_knowledge(lambda plain: self.write_sql(plain, lambda _: None), question, request)
            if hooked is not None:
                for line in hooked.reasoning.splitlines():
                    emit(Chunk(reasoning=line + "\n"))
                for piece in _sql_pieces(hooked.sql):
                    emit(Chunk(text=piece))
                return hooked
        tokens, mentions = link(question, schema, request.values)
        if not mentions:
            raise WriterError(
                "No word of the question matches a table, column or value of this datasource.",
                kind="not_understood",
            )
        intent = assign_roles(Parser(question, schema, tokens, mentions))
        _, unplaced = account(question, tokens, mentions, find_cues(question, tokens), intent, schema)
        if unplaced:
            raise _not_placed(unplaced, intent.main, schema, request.locale)
        sql = build_sql(intent, schema)
        interpretation = readback(intent, request.locale, carried)
        heading = "理解为：" if request.locale == "zh" else "Understood as: "
        trace = [heading + interpretation, f"main table: {intent.main}", *intent.trace]
        for line in trace:
            emit(Chunk(reasoning=line + "\n"))
        for piece in _sql_pieces(sql):
            emit(Chunk(text=piece))
        return SQLDraft(sql=sql, reasoning="\n".join(trace), model_calls=0, interpretation=interpretation)

    async def explain(self, request: ExplainRequest, emit: Emit) -> str:
        """A sentence or two describing the result, in the request's locale."""
        text = explain_result(
            request.columns, request.rows, request.row_count, request.truncated, request.locale
        )
        words = (
            text.split(" ") if request.locale == "en" else [text[i : i + 12] for i in range(0, len(text), 12)]
        )
        step = max(1, len(words) // 3)
        for i in range(0, len(words), step):
            piece = (" " if request.locale == "en" else "").join(words[i : i + step])
            emit(Chunk(text=piece + (" " if request.locale == "en" and i + step < len(words) else "")))
        return text


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def explain_result(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], row_count: int, truncated: bool, locale: str
) -> str:
    """Describe a result: a single value, or the range of the last numeric column over the groups."""
    zh = locale == "zh"
    if not rows:
        return "查询没有返回数据。" if zh else "The query returned no rows."
    if len(rows) == 1 and len(columns) <= 3:
        parts = [f"{c} = {_fmt(v)}" for c, v in zip(columns, rows[0], strict=False)]
        return ("结果：" + "，".join(parts) + "。") if zh else ("Result: " + ", ".join(parts) + ".")
    num_idx = next(
        (
            i
            for i in range(len(columns) - 1, -1, -1)
            if all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        ),
        None,
    )
    label_idx = next(
        (i for i in range(len(columns)) if i != num_idx and any(isinstance(r[i], str) for r in rows)), 0
    )
    more = "+" if truncated else ""
    if num_idx is None or num_idx == label_idx:
        return f"共 {row_count}{more} 行结果。" if zh else f"{row_count}{more} rows returned."
    valued = [r for r in rows if r[num_idx] is not None]
    if not valued:
        return f"共 {row_count}{more} 行结果。" if zh else f"{row_count}{more} rows returned."
    lo = min(valued, key=lambda r: r[num_idx])
    hi = max(valued, key=lambda r: r[num_idx])
    measure = columns[num_idx]
    if zh:
        return (
            f"共 {row_count}{more} 组，{measure} 从 {_fmt(lo[num_idx])}（{lo[label_idx]}）"
            f"到 {_fmt(hi[num_idx])}（{hi[label_idx]}）。"
        )
    return (
        f"Over {row_count}{more} rows, {measure} ranges from {_fmt(lo[num_idx])} ({lo[label_idx]}) "
        f"to {_fmt(hi[num_idx])} ({hi[label_idx]})."
    )


def _unresolved_follow_up(question: str, previous: str, locale: str) -> WriterError:
    """The refusal for a follow-up that cannot be tied to the previous question."""
    if locale == "zh":
        message = f"无法把“{question}”和上一个问题“{previous}”对应起来，所以没有单独作答。"
        suggestion = "请把完整的问题再说一遍，例如“各地区家具类的总销售额”。"
    else:
        message = f"I could not tie '{question}' to the previous question ('{previous}'), so I did not answer it on its own."
        suggestion = "Ask the whole question again, e.g. 'total sales by region for Furniture'."
    return WriterError(message, kind="not_understood", suggestion=suggestion)


def _not_placed(words: list[str], main: str, schema: Schema, locale: str) -> WriterError:
    """The refusal for words that map to nothing: name them and say what the datasource does know."""
    quoted = ", ".join(f"'{w}'" for w in words[:6])
    table = schema.table(main)
    columns = ", ".join(c.name for c in (table.columns if table is not None else ())[:12])
    if locale == "zh":
        message = f"问题中的 {quoted} 无法对应到数据中的任何表、字段、取值或条件，所以没有作答，以免只回答了问题的一部分。"
        suggestion = (
            f"请用字段名或数据中的取值来表达这部分（{main} 表的字段：{columns}），或者去掉它再问一次。"
        )
    else:
        message = (
            f"I could not place {quoted} in the data (no table, column, value or condition matches), so I did not "
            "answer rather than answer a smaller question."
        )
        suggestion = (
            f"Say it with a column name or a value from the data ({main} has: {columns}), or leave it out and ask again."
        )
    return WriterError(message, kind="not_understood", detail="unplaced: " + ", ".join(words), suggestion=suggestion)


def _without_failing_column(schema: Schema, error: str) -> Schema:
    """The schema minus a column the database error names, so a re-write avoids it."""
    for table in schema.tables:
        for col in table.columns:
            if re.search(rf"\b{re.escape(col.name)}\b", error) and len(table.columns) > 1:
                cols = tuple(c for c in table.columns if c is not col)
                tables = tuple(replace(t, columns=cols) if t is table else t for t in schema.tables)
                return replace(schema, tables=tables, version=schema.version + "-" + col.name)
    return schema
