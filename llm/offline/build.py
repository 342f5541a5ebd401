"""Turn an :class:`~llm.offline.intent.Intent` into one sqlglot SELECT in the schema's dialect."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, cast

import sqlglot
from sqlglot import exp

from datasources.schema import Schema
from llm.base import WriterError
from llm.offline.intent import Dimension, Filter, Intent, Measure
from llm.offline.linking import Element, is_list_column

# Splitting a comma-separated list column into one row per item, per dialect: the items are exposed as
# ``__item__.value``. SQLite has no split function (and the guard forbids table-valued functions), so its
# items come from a recursive CTE keyed by rowid.
_SPLIT_SQL = {
    "sqlite": "WITH RECURSIVE __item__(k, value, rest) AS (SELECT rowid, '', __col__ || ',' FROM __table__ "
    "UNION ALL SELECT k, TRIM(SUBSTR(rest, 1, INSTR(rest, ',') - 1)), SUBSTR(rest, INSTR(rest, ',') + 1) "
    "FROM __item__ WHERE rest <> '') SELECT 1 FROM __table__ JOIN __item__ ON __item__.k = __table__.rowid",
    "duckdb": "SELECT 1 FROM t CROSS JOIN UNNEST(STRING_SPLIT(__table__.__col__, ',')) AS __item__(value)",
    "postgres": "SELECT 1 FROM t CROSS JOIN LATERAL UNNEST(STRING_TO_ARRAY(__table__.__col__, ',')) AS __item__(value)",
}

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
        self.join_keys: dict[str, list[tuple[str, str]]] = {}  # table → (main column, its column) joined by
        self.splits: list[exp.Join] = []
        self.ctes: list[exp.With] = []
        self.item_exprs: dict[Element, exp.Expression] = {}

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
        return len(tables) > 1 or any(self._is_list(d.column) for d in self.intent.dims)

    def _is_list(self, el: Element) -> bool:
        t = self.schema.table(el.table)
        c = t.column(el.column or "") if t is not None else None
        if c is None or c.kind != "text" or not is_list_column(c) or t is None:
            return False
        # Lists of categories (genres, languages) are split into items; lists of names (directors, cast)
        # have almost one combination per row and are grouped as written, as analysts usually do.
        return c.distinct_count is None or not t.row_count or c.distinct_count <= 0.2 * t.row_count

    def split_items(self, el: Element) -> exp.Expression:
        """One row per item of a comma-separated list column: join a split of it and return the item."""
        template = _SPLIT_SQL.get(self.dialect)
        if template is None:
            raise WriterError(
                f"Grouping by the items of the list column {el.label()} is not supported for {self.dialect}.",
                kind="not_understood",
            )
        alias = f"{_alias_name(el.column or '')}_item"
        names = {"__item__": alias, "__table__": el.table, "__col__": el.column or ""}
        text = template
        for placeholder, name in names.items():
            text = text.replace(placeholder, _ident(name).sql(dialect=self.dialect))
        tree = sqlglot.parse_one(text, read=self.dialect)
        self.splits.append(tree.args["joins"][0])
        with_ = tree.args.get("with_") or tree.args.get("with")
        if isinstance(with_, exp.With):
            self.ctes.append(with_)
        return exp.Trim(this=exp.Column(this=exp.to_identifier("value"), table=exp.to_identifier(alias)))

    def column(self, el: Element, via: str | None = None) -> exp.Expression:
        """A (qualified when joining) column reference, adding the join its table needs.

        ``via``: the main table's key column to join by, when it reaches the table by several (origin, dest).
        """
        if el.table != self.intent.main:
            self._join(el.table, via or self._grouped_key(el.table))
        table = _ident(el.table) if self.qualify else None
        return exp.Column(this=_ident(el.column or ""), table=table)

    def _grouped_key(self, table: str) -> str | None:
        """The key column the question groups by that reaches ``table`` ("by destination … airport name")."""
        main = self.schema.table(self.intent.main)
        keys = {fk.column for fk in main.foreign_keys if fk.ref_table == table} if main is not None else set()
        grouped = [d.column.column for d in self.intent.dims if d.column.table == self.intent.main and d.column.column in keys]
        return grouped[0] if len(grouped) == 1 else None

    def _join(self, table: str, via: str | None = None) -> None:
        main = self.schema.table(self.intent.main)
        other = self.schema.table(table)
        assert main is not None and other is not None
        pairs = [(fk.column, fk.ref_column) for fk in main.foreign_keys if fk.ref_table == table]
        if not pairs:
            pairs = [(fk.ref_column, fk.column) for fk in other.foreign_keys if fk.ref_table == main.name]
        if len({r for _, r in pairs}) < len(pairs):  # alternatives (origin/dest → faa): the one asked for
            pairs = [p for p in pairs if p[0] == via][:1] or pairs[:1]
        joined = self.join_keys.get(table)
        if joined is not None:
            if joined != pairs:
                raise WriterError(
                    f"The question reaches {table} by two keys ({', '.join(k for k, _ in joined + pairs)}); ask "
                    "about one of them at a time.",
                    kind="not_understood",
                )
            return
        self.join_keys[table] = pairs
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
            fmt = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "dow": "%w"}.get(part, "%Y")
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
        if bucket == "weekday":
            if self.dialect == "duckdb":
                return cast(exp.Expression, exp.func("dayname", col))
            if self.dialect == "sqlite":
                return exp.Cast(
                    this=exp.func("strftime", exp.Literal.string("%w"), col), to=exp.DataType.build("INT")
                )
            return exp.Extract(this=exp.var("DOW"), expression=col)
        if self.dialect == "sqlite":
            fmt = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d", "hour": "%Y-%m-%d %H:00"}.get(
                bucket, "%Y-%m"
            )
            return cast(exp.Expression, exp.func("strftime", exp.Literal.string(fmt), col))
        return cast(exp.Expression, exp.func("date_trunc", exp.Literal.string(bucket), col))

    def condition(self, f: Filter, operand: exp.Expression | None = None) -> exp.Expression:
        """One WHERE condition (or, with ``operand``, the same comparison applied to that expression)."""
        if operand is not None:
            col = operand
        elif f.part == "item":  # the items of a list column that is split for grouping
            col = self.item_exprs[f.column].copy()
        else:
            col = self.column(f.column)
            if f.part:
                col = self.time_part(col, f.part)
        if f.op in ("is null", "is not null"):
            isnull = exp.Is(this=col, expression=exp.Null())
            return isnull if f.op == "is null" else exp.Not(this=isnull)
        if f.op == "between":
            return exp.Between(this=col, low=self.literal(f.value), high=self.literal(f.value2))
        if f.op == "in":
            return exp.In(this=col, expressions=[self.literal(v) for v in f.value])
        if f.op == "in select":  # the keys of the other table's rows with this value ("to Miami")
            table, key, column, value = f.value
            query = exp.select(exp.column(key, table=table)).from_(exp.to_identifier(table)).where(
                exp.EQ(this=exp.column(column, table=table), expression=self.literal(value))
            )
            return exp.In(this=col, query=exp.Subquery(this=query))
        if f.op == "like any":  # any of several items of a list column
            likes: list[exp.Expression] = [exp.Like(this=col.copy(), expression=self.literal(v)) for v in f.value]
            return exp.Paren(this=exp.or_(*likes))
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
        """An aggregate expression and its alias, in the unit asked for."""
        expr, alias = self._measure(m)
        if m.scale != 1:
            divisor = exp.Literal.number(f"{float(m.scale):.1f}")
            return exp.Div(this=expr, expression=divisor), alias
        return expr, alias

    def _measure(self, m: Measure) -> tuple[exp.Expression, str]:
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
        if m.agg == "ratio":
            assert col is not None and m.denominator is not None
            den = exp.Sum(this=self.column(m.denominator))
            ratio_num = exp.Mul(this=exp.Literal.number("1.0"), expression=exp.Sum(this=col))
            return exp.Div(
                this=ratio_num, expression=den
            ), f"{name}_per_{_alias_name(m.denominator.column or '')}"
        if m.agg == "share":
            inner: exp.Expression = exp.Sum(this=col) if col is not None else exp.Count(this=exp.Star())
            total = exp.Window(this=exp.Sum(this=inner.copy()))
            return exp.Div(
                this=exp.Mul(this=exp.Literal.number("100.0"), expression=inner), expression=total
            ), f"pct_{name or 'count'}"
        assert col is not None
        if m.agg == "median":
            return exp.Median(this=col), f"median_{name}"
        if m.agg == "quantile":
            fraction = exp.Literal.number(f"{m.fraction:g}")
            return exp.PercentileCont(this=col, expression=fraction), f"p{m.fraction * 100:g}_{name}".replace(".", "_")
        func = cast(
            type[exp.Expression], {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[m.agg]
        )
        prefix = {"sum": "total", "avg": "avg", "min": "min", "max": "max"}[m.agg]
        return func(this=col), f"{prefix}_{name}"

    def dimension(self, d: Dimension) -> tuple[exp.Expression, str]:
        """A grouping expression and its alias."""
        name = _alias_name(d.column.column or "")
        if d.bucket is None and self._is_list(d.column):
            item = self.split_items(d.column)
            self.item_exprs[d.column] = item
            return item, name
        col = self.column(d.column)
        if d.bucket == "quarter" and self._kind(d.column) == "number":  # a month number's quarter, 1-4
            low = exp.IntDiv(this=exp.Paren(this=exp.Sub(this=col, expression=exp.Literal.number(1))), expression=exp.Literal.number(3))
            return exp.Add(this=low, expression=exp.Literal.number(1)), "quarter"
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

    def _sqlite_median(self) -> exp.Select:
        """SQLite has no MEDIAN: average the one or two middle values of the sorted, non-NULL column."""
        measure = self.intent.measures[0]
        assert measure.column is not None
        self.intent.measures = [Measure("count", measure.column)]
        counted = self.build()  # the same FROM, joins and WHERE, counting the column's values
        self.intent.measures = [measure]
        col = self.column(measure.column)
        count = exp.Count(this=col.copy())
        counted.set("expressions", [count.copy()])
        middle = counted.copy()
        middle.set("expressions", [col.copy()])
        middle = middle.where(exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null())), copy=False)
        middle = middle.order_by(col.copy(), copy=False)
        n = counted.copy()
        rows = exp.Sub(this=exp.Literal.number(2), expression=exp.Mod(this=exp.Subquery(this=n), expression=exp.Literal.number(2)))
        skip = counted.copy()
        skip.set("expressions", [exp.Div(this=exp.Paren(this=exp.Sub(this=count.copy(), expression=exp.Literal.number(1))), expression=exp.Literal.number(2), typed=True)])
        middle.set("limit", exp.Limit(expression=exp.Paren(this=rows)))  # parenthesised: sqlglot reads it back
        middle.set("offset", exp.Offset(expression=exp.Subquery(this=skip)))
        name = _alias_name(measure.column.column or "")
        value = exp.Column(this=_ident(measure.column.column or ""))
        return (
            exp.Select()
            .select(exp.alias_(exp.Avg(this=value), f"median_{name}", quoted=False), copy=False)
            .from_(exp.Subquery(this=middle, alias=exp.TableAlias(this=_ident("middle_values"))), copy=False)
        )

    def build(self) -> exp.Select:
        """The SELECT statement."""
        intent = self.intent
        if intent.count_groups:
            return self._count_of_groups()
        if intent.average_over:
            return self._average_of_counts()
        if intent.partition:
            return self._ranked_within()
        if self.dialect == "sqlite" and [m.agg for m in intent.measures] == ["median"] and not intent.dims:
            return self._sqlite_median()
        self.qualify = self._needs_join()
        select = exp.Select()
        group: list[exp.Expression] = []
        order: list[exp.Ordered] = []
        dim_exprs: list[exp.Expression] = []
        for d in intent.dims:
            expr, alias = self.dimension(d)
            dim_exprs.append(expr)
            if d.bucket or alias != (d.column.column or ""):
                select = select.select(exp.alias_(expr, alias, quoted=False), copy=False)
            else:
                select = select.select(expr, copy=False)
            group.append(expr.copy())
            if d.label is not None:
                label = self.column(d.label, via=d.column.column if d.column.table == self.intent.main else None)
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
        if intent.change == "diff" and dim_exprs and intent.measures:
            # The change from the previous period: the first measure minus its value one group earlier.
            first, _ = self.measure(intent.measures[0])
            previous = exp.Window(
                this=exp.Anonymous(this="LAG", expressions=[first.copy()]),
                order=exp.Order(expressions=[exp.Ordered(this=dim_exprs[0].copy())]),
            )
            select = select.select(exp.alias_(exp.Sub(this=first, expression=previous), "change", quoted=False), copy=False)
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
            distinct_values = (
                label_el is None
                and bool(cols)
                and intent.order_column is None
                and all(c.table == main.name and self._kind(c) == "text" for c in cols)
            )
            if not distinct_values and (not cols or label_el is None):
                select = (
                    select.select(exp.Star(), copy=False)
                    if not self.qualify
                    else select.select(exp.Column(this=exp.Star(), table=_ident(main.name)), copy=False)
                )
                cols = [c for c in cols if c.table != main.name]
            for e in cols:
                select = select.select(self.column(e), copy=False)
            if intent.distinct or distinct_values:  # "list the states in Central": each value once
                select = select.distinct(copy=False)
            if intent.order_column is not None:
                oc = self.column(intent.order_column)
                order.append(exp.Ordered(this=oc, desc=intent.descending, nulls_first=False))
                select = select.where(exp.Not(this=exp.Is(this=oc.copy(), expression=exp.Null())), copy=False)
        select = select.from_(exp.Table(this=_ident(intent.main)), copy=False)
        for f in intent.filters:
            select = select.where(self.condition(f), copy=False)
        for d, expr in zip(intent.dims, dim_exprs, strict=True):
            if d.bucket is None and self._is_list(d.column):  # empty lists split into one blank item
                select = select.where(
                    exp.NEQ(this=expr.copy(), expression=exp.Literal.string("")), copy=False
                )
        if group and intent.measures:
            select = select.group_by(*group, copy=False)
        for hm, hf in intent.having:
            agg_expr, _ = self.measure(hm)
            select = select.having(
                self.condition(Filter(hf.column, hf.op, hf.value, hf.value2), agg_expr), copy=False
            )
        if intent.order_measure is not None and intent.limit is not None or intent.having:
            for d, expr in zip(
                intent.dims, dim_exprs, strict=True
            ):  # a blank is not a director: leave it out
                if d.bucket is None and self._kind(d.column) == "text":
                    col = expr.copy()
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
        for join in self.splits:
            select = select.join(join, copy=False)
        if self.ctes:
            key = "with_" if "with_" in exp.Select.arg_types else "with"
            merged = self.ctes[0].copy()
            for extra in self.ctes[1:]:
                merged.set("expressions", [*merged.expressions, *extra.expressions])
            select.set(key, merged)
        return select

    def _ranked_within(self) -> exp.Select:
        """The top rows of each partition group: RANK() over the partition, ordered by the ranked measure."""
        intent = self.intent
        assert intent.order_measure is not None
        inner_intent = replace(intent, partition=[], order_measure=None, limit=None)
        inner = Builder(inner_intent, self.schema).build()
        inner.set("order", None)
        inner.set("limit", None)
        names = [e.alias_or_name for e in inner.expressions]
        positions: list[int] = []
        i = 0
        for d in intent.dims:
            if d in intent.partition:
                positions.append(i)
            i += 2 if d.label is not None else 1
        measure = inner.expressions[i + intent.order_measure]
        measure_expr = measure.this if isinstance(measure, exp.Alias) else measure
        parts = [inner.expressions[j] for j in positions]
        window = exp.Window(
            this=exp.Anonymous(this="RANK"),
            partition_by=[(e.this if isinstance(e, exp.Alias) else e).copy() for e in parts],
            order=exp.Order(expressions=[exp.Ordered(this=measure_expr.copy(), desc=intent.descending)]),
        )
        inner = inner.select(exp.alias_(window, "rnk", quoted=False), copy=False)
        outer = exp.Select().select(*(exp.column(n) for n in names), copy=False)
        outer = outer.from_(
            exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("ranked"))), copy=False
        )
        outer = outer.where(
            exp.LTE(this=exp.column("rnk"), expression=exp.Literal.number(intent.limit or 1)), copy=False
        )
        return outer.order_by(*(exp.column(names[j]) for j in positions), copy=False)

    def _count_of_groups(self) -> exp.Select:
        """COUNT(*) over the groups that pass the HAVING conditions ("how many cities sell over 10,000")."""
        inner = Builder(replace(self.intent, count_groups=False, order_measure=None, limit=None), self.schema).build()
        inner.set("order", None)
        inner.set("limit", None)
        sub = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("passing_groups")))
        count = exp.alias_(exp.Count(this=exp.Star()), "group_count", quoted=False)
        return exp.Select().select(count, copy=False).from_(sub, copy=False)

    def _average_of_counts(self) -> exp.Select:
        """AVG over calendar periods of the row count per period, per remaining group."""
        intent = self.intent
        inner_intent = replace(
            intent,
            dims=[*intent.dims, *intent.average_over],
            average_over=[],
            measures=[Measure("count")],
            order_measure=None,
            limit=None,
            having=[],
        )
        inner = Builder(inner_intent, self.schema).build()
        inner.set("order", None)
        names = [e.alias_or_name for e in inner.expressions]
        n_period = len(intent.average_over)
        keep = names[: len(names) - 1 - n_period]
        outer = exp.Select().select(*(exp.column(n) for n in keep), copy=False)
        avg = exp.Avg(this=exp.column(names[-1]))
        outer = outer.select(exp.alias_(avg, "avg_per_period", quoted=False), copy=False)
        outer = outer.from_(
            exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("periods"))), copy=False
        )
        if keep:
            outer = outer.group_by(*(exp.column(n) for n in keep), copy=False)
        if intent.order_measure is not None:
            outer = outer.order_by(
                exp.Ordered(this=exp.column("avg_per_period"), desc=intent.descending, nulls_first=False),
                copy=False,
            )
        elif keep:
            outer = outer.order_by(*(exp.column(n) for n in keep), copy=False)
        if intent.limit is not None:
            outer = outer.limit(intent.limit, copy=False)
        return outer


_BUILT_AS = {"mysql": "postgres"}
"""Dialects whose statements are built with another dialect's functions, then transpiled by sqlglot."""
_MYSQL_TRUNC = {"year": "%Y-01-01", "quarter": "%Y-%m-01", "month": "%Y-%m-01", "week": "%Y-%m-%d", "day": "%Y-%m-%d",
                "hour": "%Y-%m-%d %H:00:00"}


def _for_mysql(node: exp.Expression) -> exp.Expression:
    """Rewrite the few PostgreSQL functions sqlglot has no faithful MySQL spelling for."""
    if isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)):
        unit = node.args.get("unit")
        fmt = _MYSQL_TRUNC.get((unit.name if unit is not None else "month").lower(), "%Y-%m-01")
        return exp.Anonymous(this="DATE_FORMAT", expressions=[node.this, exp.Literal.string(fmt)])
    if isinstance(node, exp.Extract) and node.this.name.upper() == "DOW":
        return exp.Sub(this=exp.Anonymous(this="DAYOFWEEK", expressions=[node.expression]),
                       expression=exp.Literal.number(1))
    return node


def build_sql(intent: Intent, schema: Schema) -> str:
    """The statement as pretty SQL text in the schema's dialect.

    MySQL statements are built as PostgreSQL ones and transpiled (sqlglot), with date truncation and the
    day of the week rewritten to ``DATE_FORMAT``/``DAYOFWEEK``.
    """
    built_as = _BUILT_AS.get(schema.dialect)
    tree: exp.Expression = Builder(intent, replace(schema, dialect=built_as) if built_as else schema).build()  # type: ignore[arg-type]
    if schema.dialect == "mysql":
        tree = tree.transform(_for_mysql, copy=False)
    return tree.sql(dialect=schema.dialect, pretty=True, copy=False)  # a fresh tree: no copy
