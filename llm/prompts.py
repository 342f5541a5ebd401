"""The prompts the LLM writer sends: one for writing (or repairing) SQL, one for explaining a result.

Prompts are plain ``(role, content)`` pairs so they can be read, tested and snapshotted without a model.
The SQL prompt holds the question, the dialect, the schema of the relevant tables (descriptions in the
request's locale, sample values, keys), the previous turns of the chat and, for a repair, the failed
statement with the database's error. Large schemas are cut down to the tables the question is about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from datasources.schema import Column, Dialect, Schema, Table
from knowledge.models import KnowledgeBundle
from llm.base import ExplainRequest, Locale, SQLRequest, Turn

__all__ = [
    "PromptMessage",
    "explain_messages",
    "render_schema",
    "select_tables",
    "sql_messages",
]

PromptMessage = tuple[Literal["system", "user", "assistant"], str]

MAX_TABLES = 12
"""Above this many tables, only the ones matching the question (and their key neighbours) are shown."""
MAX_HISTORY = 6
"""How many previous turns of the chat are included."""
MAX_SAMPLE_VALUES = 8
MAX_VALUE_HINTS = 12
EXPLAIN_ROWS = 20

_DIALECT_NOTES: dict[Dialect, str] = {
    "duckdb": "DuckDB (PostgreSQL-like; date_trunc, strftime, EXTRACT, ILIKE and QUALIFY are available)",
    "sqlite": "SQLite (strftime for dates, no ILIKE, no FULL OUTER JOIN in old versions)",
    "postgres": "PostgreSQL (date_trunc, EXTRACT, ILIKE; double-quote identifiers that need quoting)",
    "mysql": "MySQL 8 / MariaDB (DATE_FORMAT, YEAR(), no FULL OUTER JOIN or ILIKE, backtick identifiers that need quoting)",
}
_LANGUAGE: dict[Locale, str] = {"en": "English", "zh": "Simplified Chinese (简体中文)"}
_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WORD = re.compile(r"[a-z0-9]+")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")


def _words(text: str) -> set[str]:
    """Lexical units for overlap: lower-case words (snake_case split, plural 's' dropped) and CJK bigrams."""
    lowered = text.lower()
    words: set[str] = set()
    for word in _WORD.findall(lowered.replace("_", " ")):
        if len(word) > 1 and not word.isdigit():
            words.add(word)
            if len(word) > 3 and word.endswith("s"):
                words.add(word[:-1])
    for run in _CJK_RUN.findall(text):
        words.update(run[i : i + 2] for i in range(max(len(run) - 1, 1)))
    return words


def _table_score(table: Table, query: set[str]) -> float:
    score = 3.0 * len(query & _words(table.name))
    score += 1.0 * len(query & _words(f"{table.description_en} {table.description_zh}"))
    for column in table.columns:
        score += 2.0 * len(query & _words(column.name))
        score += 0.5 * len(query & _words(f"{column.description_en} {column.description_zh}"))
        score += 2.0 * len(query & {v.lower() for v in column.sample_values})
    return score


def select_tables(
    schema: Schema, text: str, *, limit: int = MAX_TABLES, required: Iterable[str] = ()
) -> tuple[Table, ...]:
    """The tables relevant to ``text`` (a question plus context), in schema order.

    Small schemas are returned whole. Otherwise the ``required`` tables come first, then tables ranked by
    lexical overlap with their names, columns, descriptions and sample values; the best ones and their
    foreign-key neighbours (both directions) are kept, up to ``limit``. With no overlap at all, the first
    ``limit`` tables are used.
    """
    if len(schema.tables) <= limit:
        return schema.tables
    required = [name for name in required if schema.table(name) is not None]
    query = _words(text)
    query |= {
        w.lower() for w in re.findall(r"[A-Za-z0-9]+", text) if len(w) <= 3 and w.isupper()
    }  # codes: JFK, UA
    scored = sorted(
        ((score, index) for index, t in enumerate(schema.tables) if (score := _table_score(t, query)) > 0),
        key=lambda pair: (-pair[0], pair[1]),
    )
    if not scored and not required:
        return schema.tables[:limit]
    chosen: list[str] = []

    def add(name: str) -> None:
        if name.lower() not in chosen and len(chosen) < limit and schema.table(name) is not None:
            chosen.append(name.lower())

    core = [t for name in required if (t := schema.table(name)) is not None]
    core += [schema.tables[index] for _, index in scored[: max(1, limit // 2)]]
    for table in core:
        add(table.name)
    for table in core:
        for fk in table.foreign_keys:
            add(fk.ref_table)
        for other in schema.tables:
            if any(fk.ref_table.lower() == table.name.lower() for fk in other.foreign_keys):
                add(other.name)
    for _, index in scored:
        add(schema.tables[index].name)
    return tuple(t for t in schema.tables if t.name.lower() in chosen)


def _quote(name: str, dialect: Dialect) -> str:
    if _SIMPLE_NAME.match(name):
        return name
    if dialect == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def _describe(item: Table | Column, locale: Locale) -> str:
    first, second = (
        (item.description_zh, item.description_en)
        if locale == "zh"
        else (item.description_en, item.description_zh)
    )
    return (first or second).strip().replace("\n", " ")


def _column_element(column: Column, dialect: Dialect, locale: Locale) -> tuple[str, str]:
    notes = [_describe(column, locale)] if _describe(column, locale) else []
    if column.sample_values:
        samples = ", ".join(
            "'" + v[:40].replace("'", "''") + "'" for v in column.sample_values[:MAX_SAMPLE_VALUES]
        )
        more = ", ..." if len(column.sample_values) > MAX_SAMPLE_VALUES else ""
        notes.append(f"values: {samples}{more}")
    return f"{_quote(column.name, dialect)} {column.type or 'TEXT'}", "; ".join(notes)


def render_schema(tables: Iterable[Table], dialect: Dialect, locale: Locale = "en") -> str:
    """The tables as commented ``CREATE TABLE`` statements (models read DDL well)."""
    blocks: list[str] = []
    for table in tables:
        lines: list[str] = []
        description = _describe(table, locale)
        if description:
            lines.append(f"-- {description}")
        if table.row_count is not None:
            lines.append(f"-- {table.row_count} rows")
        lines.append(f"CREATE TABLE {_quote(table.name, dialect)} (")
        # (definition, comment) pairs, so commas go before the comments.
        elements = [_column_element(c, dialect, locale) for c in table.columns]
        keys = [_quote(c.name, dialect) for c in table.columns if c.primary_key]
        if keys:
            elements.append((f"PRIMARY KEY ({', '.join(keys)})", ""))
        for fk in table.foreign_keys:
            reference = f"{_quote(fk.ref_table, dialect)}({_quote(fk.ref_column, dialect)})"
            elements.append(
                (
                    f"FOREIGN KEY ({_quote(fk.column, dialect)}) REFERENCES {reference}",
                    "inferred" if fk.inferred else "",
                )
            )
        for index, (definition, comment) in enumerate(elements):
            comma = "," if index < len(elements) - 1 else ""
            lines.append(f"  {definition}{comma}" + (f" -- {comment}" if comment else ""))
        lines.append(");")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _system_prompt(dialect: Dialect, locale: Locale) -> str:
    return (
        f"You are an expert data analyst who writes {_DIALECT_NOTES.get(dialect, dialect)} SQL.\n"
        "Write exactly one read-only query (SELECT or WITH ... SELECT) that answers the user's question, "
        "using only the tables and columns in the schema you are given.\n"
        "Rules:\n"
        "- Use the exact table and column names from the schema; qualify columns when tables are joined.\n"
        "- Match text values the way the sample values are written.\n"
        "- Give readable column aliases; order results when the question implies a ranking or a time series.\n"
        "- Add LIMIT only when the question asks for a number of items (top 5, first 10, ...).\n"
        "- Never modify data (no INSERT, UPDATE, DELETE, DDL).\n"
        f"The user may write in {_LANGUAGE[locale]}; the SQL itself is the same.\n"
        "Reply with the SQL only, in a single ```sql fenced block, with no explanation."
    )


def _history_messages(history: Sequence[Turn]) -> list[PromptMessage]:
    messages: list[PromptMessage] = []
    for turn in list(history)[-MAX_HISTORY:]:
        messages.append(("user", turn.question))
        if turn.sql:
            answer = f"```sql\n{turn.sql}\n```"
            facts = []
            if turn.row_count is not None:
                facts.append(f"{turn.row_count} rows")
            if turn.columns:
                facts.append("columns: " + ", ".join(turn.columns))
            if facts:
                answer += f"\n(Result: {'; '.join(facts)}.)"
        else:
            answer = "(No query was produced for this question.)"
        messages.append(("assistant", answer))
    return messages


def _value_hints(values: Any, question: str) -> list[tuple[str, str]]:
    """(table, hint line) for stored values the question mentions, from a ``ValueIndex`` (duck-typed)."""
    search = getattr(values, "search", None)
    if not callable(search):
        return []
    hints: list[tuple[str, str]] = []
    for match in search(question)[:MAX_VALUE_HINTS]:
        value = str(match.value).replace("'", "''")
        how = (
            f"LIKE '%{value}%' (a comma-separated list)"
            if getattr(match, "in_list", False)
            else f"= '{value}'"
        )
        hints.append((str(match.table), f'- "{match.phrase}": {match.table}.{match.column} {how}'))
    return hints


def knowledge_parts(knowledge: KnowledgeBundle | None) -> list[str]:
    """Prompt sections for the datasource instruction, the glossary entries used and the closest examples."""
    if not knowledge:
        return []
    parts = []
    if knowledge.instruction.strip():
        parts.append("Instructions for this database:\n" + knowledge.instruction.strip())
    if knowledge.glossary:
        lines = []
        for g in knowledge.glossary:
            names = " / ".join(g.names())
            line = f"- {names}: {g.meaning}".rstrip(": ")
            if g.expression:
                line += f" (SQL: {g.expression})"
            lines.append(line)
        parts.append("Business terms in the question (use these definitions):\n" + "\n".join(lines))
    if knowledge.examples:
        shots = [f"Q: {m.example.question}\n```sql\n{m.example.sql}\n```" for m in knowledge.examples]
        parts.append("Similar questions answered before:\n" + "\n".join(shots))
    return parts


def sql_messages(request: SQLRequest, *, max_tables: int = MAX_TABLES) -> list[PromptMessage]:
    """The chat messages that ask for (or, with ``failed_sql``, repair) one SQL statement."""
    schema = request.schema
    hints = _value_hints(request.values, request.question)
    context = " ".join(
        [request.question, *(t.question for t in request.history), *(t.sql or "" for t in request.history)]
    )
    if request.failed_sql:
        context += " " + request.failed_sql
    if request.retrieved_from:  # already cut to this question's tables within the token budget (llm.retrieval)
        tables = schema.tables
    else:
        tables = select_tables(schema, context, limit=max_tables, required=dict.fromkeys(t for t, _ in hints))
    whole = request.retrieved_from or len(schema.tables)
    about = (
        (schema.description_zh or schema.description_en)
        if request.locale == "zh"
        else (schema.description_en or schema.description_zh)
    )
    parts = [f"Database: {schema.datasource_id} ({schema.dialect})"]
    if about:
        parts.append(about.strip())
    if len(tables) < whole:
        parts.append(f"Relevant tables ({len(tables)} of {whole}):")
    parts.append(f"```sql\n{render_schema(tables, schema.dialect, request.locale)}\n```")
    if hints:
        parts.append(
            "Values in the question that are stored in the database:\n" + "\n".join(line for _, line in hints)
        )
    parts.extend(knowledge_parts(request.knowledge))
    parts.append(f"Question: {request.question}")
    if request.failed_sql:
        parts.append(
            "Your previous query for this question failed:\n"
            f"```sql\n{request.failed_sql}\n```\n"
            f"Error: {request.error or 'unknown error'}\n"
            "Write a corrected query that avoids this error."
        )
    return [
        ("system", _system_prompt(schema.dialect, request.locale)),
        *_history_messages(request.history),
        ("user", "\n\n".join(parts)),
    ]


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= 60 else text[:57] + "..."


def explain_messages(request: ExplainRequest) -> list[PromptMessage]:
    """The chat messages that ask for a 1–3 sentence explanation of a query result."""
    rows = list(request.rows)[:EXPLAIN_ROWS]
    table = ["| " + " | ".join(_cell(c) for c in request.columns) + " |", "|" + "---|" * len(request.columns)]
    table += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    shown = (
        f"the first {len(rows)} of {request.row_count} rows"
        if len(rows) < request.row_count
        else f"all {request.row_count} rows"
    )
    if request.truncated:
        shown += " (the result was truncated)"
    system = (
        "You explain the result of a database query to a business user. "
        f"Answer in {_LANGUAGE[request.locale]}, in 1 to 3 plain sentences: state what the result shows, "
        "with the key numbers. Do not repeat the SQL, do not use markdown tables or headings."
    )
    user = f"Question: {request.question}\n\nSQL:\n```sql\n{request.sql}\n```\n\nResult ({shown}):\n" + (
        "\n".join(table) if request.columns else "(no columns)"
    )
    return [("system", system), ("user", user)]
