"""Turn an :class:`~llm.offline.intent.Intent` into one sqlglot SELECT in the schema's dialect."""

from __future__ import annotations

import re
from typing import Any, cast

from sqlglot import exp

from datasources.schema import Schema
from llm.offline.intent import Dimension, Filter, Intent, Measure
from llm.offline.linking import Element

_RESERVED = frozenset(
    "cast order group select from where table user limit by case end to when default check column primary "
    "references all and or not as on in is join left right full inner outer union having desc asc".split()
)


def _ident(name: str) -> exp.Identifier:
    quoted = not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name.lower() in _RESERVED
    return exp.Identifier(this=name, quoted=quoted)


def _alias_name(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()).strip("_")


class Builder:
    """Builds the statement, adding joins along foreign keys as elements from other tables are used."""

    def __init__(self, intent: Intent, schema: Schema) -> None:
        self.intent = intent
        self.schema = schema
        self.dialect = schema.dialect
        self.joins: list[tuple[str, exp.Expression]] = []

    def _needs_join(self) -> bool:
        tables = {self.intent.main}
        for d in self.intent.dims:
            tables.add(d.column.table)
            if d.label:
                tables.add(d.label.table)
        for m in self.intent.measures:
            if m.column:
                tables.add(m.column.table)
            tables.update(f.column.table for f in m.condition)
        tables.update(f.column.table for f in self.intent.filters)
        tables.update(e.table for e in self.intent.select)
        if self.intent.order_column:
            tables.add(self.intent.order_column.table)
        return len(tables) > 1

    def column(self, el: Element) -> exp.Expression:
        """A (qualified when joining) column reference, adding the join its table needs."""
        if el.table != self.intent.main:
            self._join(el.table)
        table = _ident(el.table) if self.qualify else None
        return exp.Column(this=_ident(el.column or ""), table=table)

    def _join(self, table: str) -> None:
        if any(t == table for t, _ in self.joins):
            return
        main = self.schema.table(self.intent.main)
        other = self.schema.table(table)
        assert main is not None and other is not None
        pairs = [(fk.column, fk.ref_column) for fk in main.foreign_keys if fk.ref_table == table]
        if not pairs:
            pairs = [(fk.ref_column, fk.column) for fk in other.foreign_keys if fk.ref_table == main.name]
        if len({r for _, r in pairs}) < len(pairs):  # alternatives (origin/dest → faa): use the first
            pairs = pairs[:1]
        on: exp.Expression | None = None
        for mine, theirs in pairs:
            cond = exp.EQ(
                this=exp.Column(this=_ident(mine), table=_ident(main.name)),
                expression=exp.Column(this=_ident(theirs), table=_ident(table)),
            )
            on = cond if on is None else exp.And(this=on, expression=cond)
        assert on is not None
        self.joins.append((table, on))

    def _kind(self, el: Element) -> str:
        t = self.schema.table(el.table)
        c = t.column(el.column or "") if t is not None else None
        return c.kind if c is not None else "other"

    def literal(self, value: Any) -> exp.Expression:
        """A SQL literal."""
        if isinstance(value, bool):
            return exp.Boolean(this=value)
        if isinstance(value, int | float):
            return exp.Literal.number(int(value) if float(value).is_integer() else value)
        return exp.Literal.string(str(value))

    def time_part(self, col: exp.Expression, part: str) -> exp.Expression:
        """Extract a calendar part from a date/time column."""
        if self.dialect == "sqlite":
            fmt = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H"}.get(part, "%Y")
            part_text = cast(exp.Expression, exp.func("strftime", exp.Literal.string(fmt), col))
            return exp.Cast(this=part_text, to=exp.DataType.build("INT"))
        return exp.Extract(this=exp.var(part.upper()), expression=col)

    def bucket(self, col: exp.Expression, bucket: str) -> exp.Expression:
        """Truncate a date/time column to a bucket (month → first day of the month)."""
        if bucket == "decade":
            return exp.Mul(
                this=exp.Paren(this=exp.IntDiv(this=col, expression=exp.Literal.number(10))),
                expression=exp.Literal.number(10),
            )
        if self.dialect == "sqlite":
            fmt = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d", "hour": "%Y-%m-%d %H:00"}.get(
                bucket, "%Y-%m"
            )
            return cast(exp.Expression, exp.func("strftime", exp.Literal.string(fmt), col))
        return cast(exp.Expression, exp.func("date_trunc", exp.Literal.string(bucket), col))

    def condition(self, f: Filter) -> exp.Expression:
        """One WHERE condition."""
        col = self.column(f.column)
        if f.part:
            col = self.time_part(col, f.part)
        if f.op == "between":
            return exp.Between(this=col, low=self.literal(f.value), high=self.literal(f.value2))
        if f.op == "in":
            return exp.In(this=col, expressions=[self.literal(v) for v in f.value])
        if f.op in ("like", "not like"):
            like = exp.Like(this=col, expression=self.literal(f.value))
            return exp.Not(this=like) if f.op == "not like" else like
        ops: dict[str, type[exp.Expression]] = {
            "=": exp.EQ,
            "!=": exp.NEQ,
            ">": exp.GT,
            ">=": exp.GTE,
            "<": exp.LT,
            "<=": exp.LTE,
        }
        return ops[f.op](this=col, expression=self.literal(f.value))

    def measure(self, m: Measure) -> tuple[exp.Expression, str]:
        """An aggregate expression and its alias."""
        col = self.column(m.column) if m.column else None
        name = _alias_name(m.column.column or "") if m.column else ""
        if m.agg == "count":
            return exp.Count(
                this=exp.Star()
            ), f"{_alias_name(self.intent.main)}_count" if not self.intent.dims else "count"
        if m.agg == "count_distinct":
            assert col is not None
            return exp.Count(this=exp.Distinct(expressions=[col])), f"distinct_{name}_count"
        if m.agg == "pct":
            cond: exp.Expression = self.condition(m.condition[0])
            for f in m.condition[1:]:
                cond = exp.And(this=cond, expression=self.condition(f))
            hundred = exp.Literal.number("100.0")
            if col is not None:
                num = exp.Sum(this=exp.Case(ifs=[exp.If(this=cond, true=col)], default=exp.Literal.number(0)))
                return exp.Div(
                    this=exp.Mul(this=hundred, expression=num), expression=exp.Sum(this=col.copy())
                ), f"pct_{name}"
            case = exp.Case(
                ifs=[exp.If(this=cond, true=exp.Literal.number(1))], default=exp.Literal.number(0)
            )
            return exp.Mul(this=hundred, expression=exp.Avg(this=case)), "pct"
        if m.agg == "share":
            inner: exp.Expression = exp.Sum(this=col) if col is not None else exp.Count(this=exp.Star())
            total = exp.Window(this=exp.Sum(this=inner.copy()))
            return exp.Div(
                this=exp.Mul(this=exp.Literal.number("100.0"), expression=inner), expression=total
            ), f"pct_{name or 'count'}"
        assert col is not None
        func = cast(
            type[exp.Expression], {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[m.agg]
        )
        prefix = {"sum": "total", "avg": "avg", "min": "min", "max": "max"}[m.agg]
        return func(this=col), f"{prefix}_{name}"

    def dimension(self, d: Dimension) -> tuple[exp.Expression, str]:
        """A grouping expression and its alias."""
        col = self.column(d.column)
        name = _alias_name(d.column.column or "")
        if d.bucket:
            return self.bucket(col, d.bucket), f"{d.bucket}"
        return col, name

    def _label_of_rows(self) -> Element | None:
        """The column naming a row of the main table: its own name/title, or one a 1:1 key away."""
        candidates = [self.intent.main]
        main = self.schema.table(self.intent.main)
        assert main is not None
        for fk in main.foreign_keys:
            ref = self.schema.table(fk.ref_table)
            if fk.column == fk.ref_column and ref is not None and ref.row_count == main.row_count:
                candidates.append(fk.ref_table)
        for name in candidates:
            t = self.schema.table(name)
            if t is None:
                continue
            c = next((c for c in t.columns if c.kind == "text" and c.name.lower() in ("name", "title")), None)
            if c is not None:
                return Element(t.name, c.name)
        return None

    def build(self) -> exp.Select:
        """The SELECT statement."""
        intent = self.intent
        self.qualify = self._needs_join()
        select = exp.Select()
        group: list[exp.Expression] = []
        order: list[exp.Ordered] = []
        for d in intent.dims:
            expr, alias = self.dimension(d)
            if d.bucket or alias != (d.column.column or ""):
                select = select.select(exp.alias_(expr, alias, quoted=False), copy=False)
            else:
                select = select.select(expr, copy=False)
            group.append(expr.copy())
            if d.label is not None:
                label = self.column(d.label)
                select = select.select(
                    exp.alias_(label, f"{_alias_name(d.label.table)}_{_alias_name(d.label.column or '')}"),
                    copy=False,
                )
                group.append(label.copy())
        aliases: list[str] = []
        for m in intent.measures:
            expr, alias = self.measure(m)
            while alias in aliases:
                alias += "_2"
            aliases.append(alias)
            select = select.select(exp.alias_(expr, alias, quoted=False), copy=False)
        if not intent.dims and not intent.measures:
            cols: list[Element] = []
            main = self.schema.table(intent.main)
            assert main is not None
            label_el = self._label_of_rows()
            if label_el is not None:
                cols.append(label_el)
            cols += [e for e in intent.select if e not in cols]
            if intent.order_column is not None and intent.order_column not in cols:
                cols.append(intent.order_column)
            if not cols or label_el is None:
                select = (
                    select.select(exp.Star(), copy=False)
                    if not self.qualify
                    else select.select(exp.Column(this=exp.Star(), table=_ident(main.name)), copy=False)
                )
                cols = [c for c in cols if c.table != main.name]
            for e in cols:
                select = select.select(self.column(e), copy=False)
            if intent.distinct:
                select = select.distinct(copy=False)
            if intent.order_column is not None:
                oc = self.column(intent.order_column)
                order.append(exp.Ordered(this=oc, desc=intent.descending, nulls_first=False))
                select = select.where(exp.Not(this=exp.Is(this=oc.copy(), expression=exp.Null())), copy=False)
        select = select.from_(exp.Table(this=_ident(intent.main)), copy=False)
        for f in intent.filters:
            select = select.where(self.condition(f), copy=False)
        if group and intent.measures:
            select = select.group_by(*group, copy=False)
        if intent.order_measure is not None and intent.limit is not None:
            for d in intent.dims:  # a blank is not a director: leave empty labels out of a ranking
                if d.bucket is None and self._kind(d.column) == "text":
                    col = self.column(d.column)
                    blank = exp.NEQ(this=col.copy(), expression=exp.Literal.string(""))
                    select = select.where(
                        exp.And(this=exp.Not(this=exp.Is(this=col, expression=exp.Null())), expression=blank),
                        copy=False,
                    )
        if intent.order_measure is not None and intent.measures:
            order.append(
                exp.Ordered(
                    this=exp.column(aliases[intent.order_measure]), desc=intent.descending, nulls_first=False
                )
            )
            for g in group:
                order.append(exp.Ordered(this=g.copy()))
        elif group and intent.measures:
            order.extend(exp.Ordered(this=g.copy()) for g in group)
        for o in order:
            select = select.order_by(o, copy=False)
        if intent.limit is not None:
            select = select.limit(intent.limit, copy=False)
        for table, on in self.joins:
            select = select.join(exp.Table(this=_ident(table)), on=on, copy=False)
        return select


def build_sql(intent: Intent, schema: Schema) -> str:
    """The statement as pretty SQL text in the schema's dialect."""
    return Builder(intent, schema).build().sql(dialect=schema.dialect, pretty=True, copy=False)  # a fresh tree: no copy
