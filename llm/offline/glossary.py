"""Glossary terms in the offline writer: a term links like a column, and its expression enters the SQL as an AST.

A condition term ("loss-making" = ``profit < 0``) is taken out of the question, the rest is written as usual, and
the condition is ANDed into the statement's WHERE with sqlglot. A measure term ("GMV" = ``SUM(sales)``) is read
as a row count while the rest is written, and the ``COUNT(*)`` is then replaced by the measure expression. A
plain column expression ("box office" = ``BoxOffice``) simply becomes the column's name in the question.
The statement must then contain the term's table (or reach it along a declared foreign key), or the writer
declines rather than guess a join.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from datasources.schema import Schema
from knowledge.models import GlossaryEntry
from knowledge.retrieve import TermHit, find_terms


@dataclass(frozen=True)
class TermUse:
    """A glossary entry the question uses and how it enters the SQL."""

    entry: GlossaryEntry
    kind: str
    """``filter``, ``measure`` or ``column``."""
    node: exp.Expr
    table: str
    """The table whose columns the expression uses."""
    said: str = ""
    """The term or synonym as the question said it."""


@dataclass
class GlossaryPlan:
    """Question variants to write, and what to graft onto the SQL written for them."""

    variants: list[str]
    uses: list[TermUse] = field(default_factory=list)


def classify(expression: str, dialect: str) -> tuple[str, exp.Expr]:
    """``filter`` for a condition, ``measure`` for an aggregate, ``column`` for a single column."""
    node = sqlglot.parse_one(expression, read=dialect)
    if isinstance(node, exp.Predicate | exp.Connector | exp.Not | exp.In | exp.Between | exp.Is):
        return "filter", node
    if node.find(exp.AggFunc):
        return "measure", node
    if isinstance(node, exp.Column):
        return "column", node
    return "measure", node


def owning_table(node: exp.Expr, schema: Schema) -> str | None:
    """The first table that has every column the expression uses."""
    names = {c.name.lower() for c in node.find_all(exp.Column)}
    for table in schema.tables:
        if names <= {c.name.lower() for c in table.columns}:
            return table.name
    return None


def _cut(question: str, hits: list[TermHit], replace: Callable[[TermHit], str]) -> str:
    q = question
    out, pos = [], 0
    for h in hits:
        out.append(q[pos : h.start])
        out.append(replace(h))
        pos = h.end
    out.append(q[pos:])
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _schema_text(schema: Schema) -> str:
    parts = [schema.description_en]
    for t in schema.tables:
        parts += [t.name, t.description_en, *(f"{c.name} {c.description_en}" for c in t.columns)]
    return re.sub(r"\s+", " ", re.sub(r"[-_()]", " ", " ".join(parts).lower()))


def _inside_a_name(question: str, hit: TermHit, schema_text: str) -> bool:
    """Whether the term is one word of a longer name the schema uses ("rotten" in "Rotten Tomatoes")."""
    said = question[hit.start : hit.end]
    if not said.isascii():
        return False
    before = re.findall(r"[A-Za-z0-9]+", question[: hit.start])[-1:]
    after = re.findall(r"[A-Za-z0-9]+", question[hit.end :])[:1]
    phrases = [" ".join([*before, said]), " ".join([said, *after])]
    return any(
        re.search(rf"\b{re.escape(p.lower().replace('-', ' '))}\b", schema_text)
        for p, extra in zip(phrases, (before, after), strict=True) if extra
    )


def plan(question: str, entries: tuple[GlossaryEntry, ...], schema: Schema, locale: str) -> GlossaryPlan | None:
    """The rewrites for the glossary terms the question mentions (None when it mentions none with an expression)."""
    text = _schema_text(schema)
    hits = [h for h in find_terms(question, entries) if h.entry.expression and not _inside_a_name(question, h, text)]
    if not hits:
        return None
    uses: dict[str, TermUse] = {}
    for h in hits:
        try:
            kind, node = classify(h.entry.expression or "", schema.dialect)
        except sqlglot.errors.ParseError:
            continue
        table = owning_table(node, schema)
        if table is not None:
            uses[h.entry.id] = TermUse(h.entry, kind, node, table, question[h.start : h.end])
    hits = [h for h in hits if h.entry.id in uses]
    if not hits:
        return None
    zh = locale == "zh"

    def bare(h: TermHit) -> str:
        use = uses[h.entry.id]
        if use.kind == "column":
            return f" {use.node.name} "
        if use.kind == "measure":
            return "数量" if zh else " count "
        return " "

    def with_table(h: TermHit) -> str:
        use = uses[h.entry.id]
        if use.kind == "column":
            return f" {use.node.name} "
        if use.kind == "measure":
            return f" {use.table}数量" if zh else f" {use.table} count "
        return f" {use.table} "

    # A condition term usually names the rows it selects ("blockbusters", "红眼航班"): read it as its table
    # first; the table name is not repeated when the question names the rows itself ("red-eye flights").
    def as_rows(h: TermHit) -> str:
        use = uses[h.entry.id]
        after = question[h.end :].lstrip().lower()
        return bare(h) if use.kind == "filter" and after.startswith(use.table.lower()) else with_table(h)

    variants = list(dict.fromkeys([_cut(question, hits, as_rows), _cut(question, hits, bare)]))
    return GlossaryPlan(variants, list(uses.values()))


def _join_by_foreign_key(select: exp.Select, table: str, schema: Schema) -> bool:
    """Join ``table`` to a one-table SELECT along a declared foreign key (either direction); False if none."""
    tables = list(select.find_all(exp.Table))
    if len(tables) != 1 or select.args.get("joins"):
        return False
    base = tables[0].name
    for src, dst in ((base, table), (table, base)):
        t = schema.table(src)
        fk = next((f for f in (t.foreign_keys if t else ()) if f.ref_table.lower() == dst.lower()), None)
        if fk is None:
            continue
        for col in select.find_all(exp.Column):
            if not col.table:
                col.set("table", exp.to_identifier(base))
        on = exp.condition(f"{src}.{fk.column} = {dst}.{fk.ref_column}")
        select.join(exp.to_table(table), on=on, copy=False)
        return True
    return False


def _qualified(node: exp.Expr, select: exp.Select, table: str, schema: Schema) -> exp.Expr | None:
    """``node`` with its columns qualified by ``table``'s name or alias in ``select`` (None: table absent).

    A table the statement lacks is joined along a declared foreign key when there is one.
    """
    names = [t for t in select.find_all(exp.Table) if t.name.lower() == table.lower()]
    if not names:
        if not _join_by_foreign_key(select, table, schema):
            return None
        names = [t for t in select.find_all(exp.Table) if t.name.lower() == table.lower()]
    if len(list(select.find_all(exp.Table))) == 1:
        return node.copy()
    ref = names[0].alias_or_name
    out = node.copy()
    for col in out.find_all(exp.Column):
        col.set("table", exp.to_identifier(ref))
    return out


def graft(sql: str, uses: list[TermUse], schema: Schema) -> str | None:
    """Apply the terms' expressions to SQL written for the rewritten question (None when they do not fit)."""
    dialect = schema.dialect
    tree = sqlglot.parse_one(sql, read=dialect)
    if not isinstance(tree, exp.Select):
        return None
    for use in uses:
        if use.kind == "column":
            if _qualified(use.node, tree, use.table, schema) is None:
                return None
            continue
        node = _qualified(use.node, tree, use.table, schema)
        if node is None:
            return None
        if use.kind == "filter":
            tree = tree.where(node, append=True, copy=False)
            continue
        counts = [c for c in tree.find_all(exp.Count) if isinstance(c.this, exp.Star)]
        if not counts:
            return None
        alias = re.sub(r"[^a-z0-9]+", "_", use.entry.term.lower()).strip("_")
        for c in counts:
            parent = c.parent
            c.replace(node.copy())
            if isinstance(parent, exp.Alias) and alias and use.entry.term.isascii():
                old = parent.alias
                parent.set("alias", exp.to_identifier(alias))
                for o in tree.find_all(exp.Ordered):
                    if isinstance(o.this, exp.Column) and o.this.name == old and not o.this.table:
                        o.set("this", exp.column(alias))
    return tree.sql(dialect=dialect)


def readback_note(uses: list[TermUse], locale: str) -> str:
    """The readback's mention of the glossary entries used."""
    def name(u: TermUse) -> str:
        same = not u.said or u.said.lower().replace("-", " ") == u.entry.term.lower().replace("-", " ")
        return f"'{u.entry.term}'" if same else f"'{u.said}' ({u.entry.term})"

    parts = [f"{name(u)} = {u.entry.expression}" for u in uses]
    return ("；术语表：" if locale == "zh" else "; glossary: ") + ", ".join(parts)
