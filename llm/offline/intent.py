"""The meaning of a question as the SQL builder needs it: measures, dimensions, filters, order and limit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from llm.offline.linking import Element

Agg = Literal[
    "count",
    "count_distinct",
    "sum",
    "avg",
    "min",
    "max",
    "median",
    "quantile",
    "pct",
    "share",
    "ratio",
    "avg_count",
    "none",
]



def describe_agg(agg: Agg) -> str:
    """Upper-case SQL name of an aggregate for traces."""
    return {"count_distinct": "COUNT(DISTINCT)", "pct": "percentage", "share": "share of total"}.get(
        agg, agg.upper()
    )


@dataclass
class Filter:
    """A condition on one column."""

    column: Element
    op: str
    """One of ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``like``, ``not like``, ``like any`` (a list
    of patterns, any of which matches), ``between``, ``is null``."""
    value: Any = None
    value2: Any = None
    part: str | None = None
    """For time columns: the date part compared (year, month, day)."""

    def describe(self) -> str:
        """A short readable form for the reasoning trace."""
        target = self.column.label() if self.part is None else f"{self.part}({self.column.label()})"
        if isinstance(self.value, float) and self.value.is_integer():
            return Filter(self.column, self.op, int(self.value), self.value2, self.part).describe()
        if isinstance(self.value2, float) and self.value2.is_integer():
            return Filter(self.column, self.op, self.value, int(self.value2), self.part).describe()
        if self.op in ("is null", "is not null"):
            return f"{target} {self.op}"
        if self.op == "in select":
            table, key, column, value = self.value
            return f"{target} is the {table}.{key} of {table}.{column} = {value!r}"
        if self.op == "like any":
            return f"{target} contains " + " or ".join(repr(str(v).strip("%")) for v in self.value)
        if self.op == "between":
            return f"{target} between {self.value} and {self.value2}"
        return f"{target} {self.op} {self.value!r}"


@dataclass
class Measure:
    """One aggregated output column."""

    agg: Agg
    column: Element | None = None
    condition: list[Filter] = field(default_factory=list)
    """For ``pct``: the condition counted (or summed) in the numerator."""
    denominator: Element | None = None
    """For ``ratio``: the measure divided by (SUM(column) / SUM(denominator))."""
    scale: float = 1
    """The unit asked for: the aggregate is divided by this (60 for minutes in hours, 1000 for thousands)."""
    fraction: float = 0.5
    """For ``quantile``: which one (0.9 for the 90th percentile)."""


@dataclass
class Dimension:
    """One grouping column, optionally bucketed by a time part and labelled through a foreign key."""

    column: Element
    bucket: str | None = None
    label: Element | None = None
    """A readable name reached through a foreign key (airlines.name for flights.carrier)."""


@dataclass
class Intent:
    """Everything the builder needs."""

    main: str
    measures: list[Measure] = field(default_factory=list)
    dims: list[Dimension] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    having: list[tuple[Measure, Filter]] = field(default_factory=list)
    """Conditions on a group's aggregate: (measure, condition whose op and value apply to it)."""
    partition: list[Dimension] = field(default_factory=list)
    """Rank within each of these groups (the top rows per group) instead of over all rows."""
    average_over: list[Dimension] = field(default_factory=list)
    """For ``avg_count``: the calendar period whose row counts are averaged (year, month, day)."""
    select: list[Element] = field(default_factory=list)
    """Row-level questions: the columns to list."""
    distinct: bool = False
    order_measure: int | None = None
    """Index into ``measures`` to order by (top-N)."""
    order_column: Element | None = None
    """Row-level questions: the column to order by."""
    descending: bool = True
    limit: int | None = None
    trace: list[str] = field(default_factory=list)
    count_groups: bool = False
    """Count the groups that pass the HAVING conditions instead of listing them ("how many states lose money")."""
    change: str | None = None
    """``diff``: add the change of the first measure from the previous row of the first (time) grouping."""
    spans: list[tuple[int, int]] = field(default_factory=list)
    """Question spans placed by a rule rather than by a mention or cue ("cancelled" → a NULL test)."""
