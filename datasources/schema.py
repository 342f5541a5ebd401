"""The schema of a datasource as every other layer sees it: plain, frozen, JSON-friendly dataclasses.

Introspection (``datasources.registry``) produces these; the SQL writers, the prompts, the SQL guard and
the API all read them. Nothing here touches a database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ColumnKind = Literal["text", "number", "time", "bool", "other"]
Dialect = Literal["duckdb", "sqlite", "postgres", "mysql"]

_NUMBER_TYPES = ("INT", "DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL", "HUGEINT", "BIGINT", "SMALLINT")
_TIME_TYPES = ("DATE", "TIME", "TIMESTAMP", "DATETIME", "INTERVAL")
_TEXT_TYPES = ("CHAR", "TEXT", "STRING", "VARCHAR", "CLOB", "UUID", "ENUM")


def column_kind(sql_type: str) -> ColumnKind:
    """Classify a database type name into the coarse kind that linking and charting care about."""
    upper = sql_type.upper()
    if upper.startswith("BOOL"):
        return "bool"
    if any(t in upper for t in _TIME_TYPES):
        return "time"
    if any(t in upper for t in _NUMBER_TYPES):
        return "number"
    if any(t in upper for t in _TEXT_TYPES) or upper == "":
        return "text"
    return "other"


@dataclass(frozen=True)
class Column:
    """One column of a table."""

    name: str
    """The column's name exactly as the database spells it."""
    type: str
    """The database's type name, e.g. ``INTEGER``, ``VARCHAR``, ``TIMESTAMP``."""
    description_en: str = ""
    """A short English description (from the column comment or the demo metadata)."""
    description_zh: str = ""
    """A short Chinese description."""
    primary_key: bool = False
    """Whether the column is (part of) the table's primary key."""
    sample_values: tuple[str, ...] = ()
    """Distinct values of a low-cardinality text column (empty for other columns)."""
    distinct_count: int | None = None
    """Approximate number of distinct values, when introspection measured it."""

    @property
    def kind(self) -> ColumnKind:
        """The coarse kind of the column's type."""
        return column_kind(self.type)


@dataclass(frozen=True)
class ForeignKey:
    """A reference from ``table.column`` to ``ref_table.ref_column``."""

    column: str
    """The referencing column in the owning table."""
    ref_table: str
    """The referenced table."""
    ref_column: str
    """The referenced column."""
    inferred: bool = False
    """True when the key was inferred from names rather than declared by the database."""


@dataclass(frozen=True)
class Table:
    """One table (or view) of a datasource."""

    name: str
    """The table's name exactly as the database spells it."""
    columns: tuple[Column, ...]
    """The columns, in database order."""
    description_en: str = ""
    """A short English description."""
    description_zh: str = ""
    """A short Chinese description."""
    foreign_keys: tuple[ForeignKey, ...] = ()
    """Declared or inferred references from this table to others."""
    row_count: int | None = None
    """Number of rows when known."""

    def column(self, name: str) -> Column | None:
        """Return the column called ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)


@dataclass(frozen=True)
class Schema:
    """Everything a SQL writer may know about one datasource."""

    datasource_id: str
    """The registry id of the datasource."""
    dialect: Dialect
    """The sqlglot dialect that SQL for this datasource is written in."""
    tables: tuple[Table, ...]
    """The tables, in a stable order."""
    description_en: str = ""
    """What the datasource is about, in English."""
    description_zh: str = ""
    """What the datasource is about, in Chinese."""
    version: str = field(default="")
    """A digest of the structure (tables, columns, types, keys): it changes whenever the schema does."""

    def table(self, name: str) -> Table | None:
        """Return the table called ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((t for t in self.tables if t.name.lower() == lowered), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (used by the API and stored in graph state)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """Rebuild a schema from :meth:`to_dict` output."""
        tables = tuple(
            Table(
                name=t["name"],
                columns=tuple(Column(**{**c, "sample_values": tuple(c.get("sample_values", ()))}) for c in t["columns"]),
                description_en=t.get("description_en", ""),
                description_zh=t.get("description_zh", ""),
                foreign_keys=tuple(ForeignKey(**fk) for fk in t.get("foreign_keys", ())),
                row_count=t.get("row_count"),
            )
            for t in data["tables"]
        )
        return cls(
            datasource_id=data["datasource_id"],
            dialect=data["dialect"],
            tables=tables,
            description_en=data.get("description_en", ""),
            description_zh=data.get("description_zh", ""),
            version=data.get("version", ""),
        )


def schema_version(tables: tuple[Table, ...]) -> str:
    """Digest of the structural part of a schema: names, types and keys, not descriptions or samples."""
    shape = [
        [t.name, [[c.name, c.type, c.primary_key] for c in t.columns], [[f.column, f.ref_table, f.ref_column] for f in t.foreign_keys]]
        for t in tables
    ]
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
