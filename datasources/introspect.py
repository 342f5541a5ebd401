"""Read a datasource's structure, descriptions, keys and value statistics into a :class:`Schema`.

Descriptions come from the database's own comments (DuckDB ``COMMENT ON``) and, for the read-only demo
SQLite file, from :mod:`datasources.demo_metadata`. Keys are the declared ones plus keys inferred from names
(``flights.carrier`` → ``airlines.carrier`` because ``carrier`` is the key of ``airlines``; ``order_id`` →
``orders.id``) plus the demo's shipped join hints; inferred ones are flagged ``inferred=True``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from datasources.connection import Connection
from datasources.demo import decode_comment
from datasources.demo_metadata import DemoDoc
from datasources.errors import QueryFailed, QueryTimeout
from datasources.schema import Column, ForeignKey, Schema, Table, column_kind, schema_version
from datasources.server import CatalogueTable, ServerConnection

SAMPLE_LIMIT = 50
"""Text columns with at most this many distinct values list all of them as samples."""
SERVER_SAMPLE_ROWS = 20_000
"""Database servers: distinct counts and sample values come from at most this many rows per table."""
SERVER_COUNT_CAP = 100_000
"""Database servers: a table the catalogue has no estimate for is counted up to this many rows."""


@dataclass
class _RawTable:
    name: str
    columns: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(name, type, description_en, description_zh)."""
    description: tuple[str, str] = ("", "")
    primary_key: tuple[str, ...] = ()
    foreign_keys: list[ForeignKey] = field(default_factory=list)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def split_list_value(value: str) -> list[str]:
    """Items of a comma-separated list value ("Drama, Crime" → ["Drama", "Crime"])."""
    return [item.strip() for item in value.split(",") if item.strip()]


def introspect(
    conn: Connection,
    datasource_id: str,
    *,
    description: tuple[str, str] = ("", ""),
    doc: DemoDoc | None = None,
) -> Schema:
    """Build the :class:`Schema` of an open datasource (one pass of catalogue and statistics queries)."""
    if isinstance(conn, ServerConnection):
        return _introspect_server(conn, datasource_id, description)
    raw = _duckdb_tables(conn) if conn.dialect == "duckdb" else _sqlite_tables(conn)
    if doc is not None:
        raw = _apply_doc(raw, doc)
    _infer_foreign_keys(raw, doc)
    tables = tuple(_with_statistics(conn, t, doc) for t in raw)
    return Schema(
        datasource_id=datasource_id,
        dialect=conn.dialect,
        tables=tables,
        description_en=description[0],
        description_zh=description[1],
        version=schema_version(tables),
    )


def _duckdb_tables(conn: Connection) -> list[_RawTable]:
    where = "database_name = current_database() AND schema_name = 'main'"
    tables: dict[str, _RawTable] = {}
    for name, comment in conn.fetchall(
        f"SELECT table_name, comment FROM duckdb_tables() WHERE {where} AND NOT internal "
        f"UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE {where} AND NOT internal ORDER BY 1"
    ):
        tables[name] = _RawTable(name, description=decode_comment(comment))
    for table, column, data_type, comment in conn.fetchall(
        f"SELECT table_name, column_name, data_type, comment FROM duckdb_columns() WHERE {where} "
        "ORDER BY table_name, column_index"
    ):
        if table in tables:
            tables[table].columns.append((column, data_type, *decode_comment(comment)))
    for table, ctype, cols, ref_table, ref_cols in conn.fetchall(
        "SELECT table_name, constraint_type, constraint_column_names, referenced_table, referenced_column_names "
        f"FROM duckdb_constraints() WHERE {where} AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')"
    ):
        if table not in tables:
            continue
        if ctype == "PRIMARY KEY":
            tables[table].primary_key = tuple(cols)
        else:
            tables[table].foreign_keys.extend(
                ForeignKey(c, ref_table, r) for c, r in zip(cols, ref_cols, strict=False)
            )
    return list(tables.values())


def _sqlite_tables(conn: Connection) -> list[_RawTable]:
    tables: list[_RawTable] = []
    for (name,) in conn.fetchall(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ):
        table = _RawTable(name)
        pk: list[tuple[int, str]] = []
        for _cid, column, data_type, _notnull, _default, pk_pos in conn.fetchall(
            f"PRAGMA table_info({_quote(name)})"
        ):
            table.columns.append((column, data_type or "", "", ""))
            if pk_pos:
                pk.append((pk_pos, column))
        table.primary_key = tuple(c for _, c in sorted(pk))
        for row in conn.fetchall(f"PRAGMA foreign_key_list({_quote(name)})"):
            ref_table, column, ref_column = row[2], row[3], row[4]
            table.foreign_keys.append(ForeignKey(column, ref_table, ref_column or column))
        tables.append(table)
    return tables


def _apply_doc(raw: list[_RawTable], doc: DemoDoc) -> list[_RawTable]:
    """Fill in shipped descriptions and key hints, and order tables as the demo lists them."""
    order = {name: i for i, name in enumerate(doc.tables)}
    for table in raw:
        tdoc = doc.tables.get(table.name)
        if tdoc is None:
            continue
        if not any(table.description):
            table.description = tdoc.description
        table.columns = [
            (
                name,
                dtype,
                en or tdoc.columns.get(name, ("", ""))[0],
                zh or tdoc.columns.get(name, ("", ""))[1],
            )
            for name, dtype, en, zh in table.columns
        ]
        if not table.primary_key:
            table.primary_key = tdoc.primary_key
    by_name = {t.name: t for t in raw}
    for table_name, column, ref_table, ref_column in doc.foreign_keys:
        if table_name in by_name and ref_table in by_name:
            by_name[table_name].foreign_keys.append(ForeignKey(column, ref_table, ref_column, inferred=True))
    return sorted(raw, key=lambda t: (order.get(t.name, len(order)), t.name))


def _singular(word: str) -> Iterable[str]:
    yield word
    if word.endswith("ies"):
        yield word[:-3] + "y"
    if word.endswith("es"):
        yield word[:-2]
    if word.endswith("s"):
        yield word[:-1]


def _infer_foreign_keys(raw: list[_RawTable], doc: DemoDoc | None) -> None:
    """Add name-based references: a column named like another table's single-column key, or ``<table>_id``.

    Candidate names are indexed once (key name → tables keyed by it; ``<singular>_<key>`` → table), so
    each column costs a dictionary look-up: linear in columns, not columns × tables (1,000 tables: 65 s → <1 s).
    The earliest table in ``raw`` order wins, as it did when every table was scanned in turn.
    """
    keyed = [(i, t.name, t.primary_key[0]) for i, t in enumerate(raw) if len(t.primary_key) == 1]
    by_key: dict[str, list[tuple[int, str, str]]] = {}
    by_name: dict[str, list[tuple[int, str, str]]] = {}
    for entry in keyed:
        _, ref_table, ref_pk = entry
        by_key.setdefault(ref_pk.lower(), []).append(entry)
        for s in dict.fromkeys(_singular(ref_table)):
            for name in dict.fromkeys((f"{s}_{ref_pk}".lower(), f"{s}{ref_pk}".lower())):
                by_name.setdefault(name, []).append(entry)
    types = {t.name: {c[0]: c[1] for c in t.columns} for t in raw}
    for table in raw:
        known = {fk.column.lower() for fk in table.foreign_keys}
        own_pk = {c.lower() for c in table.primary_key}
        for column, dtype, _, _ in table.columns:
            lowered = column.lower()
            if lowered in known:
                continue
            candidates = list(by_name.get(lowered, ()))
            if own_pk != {lowered}:
                candidates += by_key.get(lowered, ())
            for _, ref_table, ref_pk in sorted(dict.fromkeys(candidates)):
                if ref_table == table.name:
                    continue
                if column_kind(types[ref_table].get(ref_pk, "")) == column_kind(dtype):
                    table.foreign_keys.append(ForeignKey(column, ref_table, ref_pk, inferred=True))
                    known.add(lowered)
                    break


def _with_statistics(conn: Connection, table: _RawTable, doc: DemoDoc | None) -> Table:
    """Row count, distinct counts and (for low-cardinality text) every distinct value."""
    qt = _quote(table.name)
    distinct_fn = "approx_count_distinct({})" if conn.dialect == "duckdb" else "count(DISTINCT {})"
    exprs = ["count(*)"] + [distinct_fn.format(_quote(c[0])) for c in table.columns]
    stats = conn.fetchall(f"SELECT {', '.join(exprs)} FROM {qt}")[0]
    row_count = int(stats[0])
    lists = doc.list_columns if doc else frozenset()
    columns = []
    for (name, dtype, en, zh), distinct in zip(table.columns, stats[1:], strict=True):
        samples: tuple[str, ...] = ()
        if column_kind(dtype) == "text":
            if (table.name, name) in lists and distinct <= 20_000:
                values = {
                    item
                    for (v,) in conn.fetchall(
                        f"SELECT DISTINCT {_quote(name)} FROM {qt} WHERE {_quote(name)} IS NOT NULL"
                    )
                    for item in split_list_value(str(v))
                }
                samples = tuple(sorted(values)) if len(values) <= SAMPLE_LIMIT else ()
            elif distinct <= SAMPLE_LIMIT * 1.2:  # approx_count_distinct can overshoot a little
                found = conn.fetchall(
                    f"SELECT DISTINCT CAST({_quote(name)} AS TEXT) AS v FROM {qt} WHERE {_quote(name)} IS NOT NULL "
                    f"ORDER BY v LIMIT {SAMPLE_LIMIT + 1}"
                )
                if len(found) <= SAMPLE_LIMIT:
                    samples = tuple(str(v) for (v,) in found)
                    distinct = len(found)
        columns.append(
            Column(
                name=name,
                type=dtype,
                description_en=en,
                description_zh=zh,
                primary_key=name in table.primary_key,
                sample_values=samples,
                distinct_count=int(distinct),
            )
        )
    return Table(
        name=table.name,
        columns=tuple(columns),
        description_en=table.description[0],
        description_zh=table.description[1],
        foreign_keys=tuple(table.foreign_keys),
        row_count=row_count,
    )


# --------------------------------------------------------------------------------------------------- servers


def _introspect_server(conn: ServerConnection, datasource_id: str, description: tuple[str, str]) -> Schema:
    """Catalogue queries for structure, comments, keys and row estimates; bounded samples for values."""
    catalogue = conn.catalogue()
    raw = [
        _RawTable(
            t.name,
            columns=[(name, dtype, *decode_comment(comment)) for name, dtype, comment in t.columns],
            description=decode_comment(t.comment),
            primary_key=t.primary_key,
            foreign_keys=[ForeignKey(c, ref, ref_c) for c, ref, ref_c in t.foreign_keys],
        )
        for t in catalogue
    ]
    _infer_foreign_keys(raw, None)
    tables = tuple(_server_statistics(conn, r, t) for r, t in zip(raw, catalogue, strict=True))
    return Schema(
        datasource_id=datasource_id,
        dialect=conn.dialect,
        tables=tables,
        description_en=description[0],
        description_zh=description[1],
        version=schema_version(tables),
    )


def _server_statistics(conn: ServerConnection, table: _RawTable, entry: CatalogueTable) -> Table:
    """Row count from the catalogue (bounded count when it has none) and values from a bounded sample.

    A failing or slow statistics query (a heavy view, a missing privilege) leaves the statistics out; the
    table itself is still described.
    """
    qt = entry.qualified
    row_count = entry.row_estimate
    if not entry.is_view and not row_count:
        counted = _try(conn, f"SELECT count(*) FROM (SELECT 1 AS one FROM {qt} LIMIT {SERVER_COUNT_CAP}) AS s")
        row_count = int(counted[0][0]) if counted else row_count
    text = [c for c in table.columns if column_kind(c[1]) == "text"]
    distinct: dict[str, int] = {}
    samples: dict[str, tuple[str, ...]] = {}
    if text and row_count != 0:
        names = ", ".join(conn.quote(c[0]) for c in text)
        counts = _try(
            conn,
            f"SELECT {', '.join(f'count(DISTINCT {conn.quote(c[0])})' for c in text)} "
            f"FROM (SELECT {names} FROM {qt} LIMIT {SERVER_SAMPLE_ROWS}) AS s",
        )
        for (name, _, _, _), found in zip(text, counts[0] if counts else (), strict=False):
            n = int(found)
            if row_count and row_count > SERVER_SAMPLE_ROWS and n > SAMPLE_LIMIT:
                n = int(n * row_count / SERVER_SAMPLE_ROWS)  # extrapolated: the sample saw a part of it
            distinct[name] = n
            if n <= SAMPLE_LIMIT:
                q = conn.quote(name)
                values = _try(
                    conn,
                    f"SELECT DISTINCT v FROM (SELECT {q} AS v FROM {qt} LIMIT {SERVER_SAMPLE_ROWS}) AS s "
                    f"WHERE v IS NOT NULL ORDER BY v LIMIT {SAMPLE_LIMIT + 1}",
                )
                if values is not None and len(values) <= SAMPLE_LIMIT:
                    samples[name] = tuple(str(v) for (v,) in values)
    columns = tuple(
        Column(
            name=name,
            type=dtype,
            description_en=en,
            description_zh=zh,
            primary_key=name in table.primary_key,
            sample_values=samples.get(name, ()),
            distinct_count=distinct.get(name),
        )
        for name, dtype, en, zh in table.columns
    )
    return Table(
        name=table.name,
        columns=columns,
        description_en=table.description[0],
        description_zh=table.description[1],
        foreign_keys=tuple(table.foreign_keys),
        row_count=row_count,
    )


def _try(conn: ServerConnection, sql: str) -> list[tuple[Any, ...]] | None:
    try:
        return conn.fetchall(sql)
    except (QueryFailed, QueryTimeout):
        return None
