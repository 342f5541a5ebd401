"""Introspected schemas of the demo datasources: descriptions, keys, samples, counts, caching."""

import re
from pathlib import Path

import pytest

from datasources.registry import Registry
from datasources.schema import Schema, schema_version

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("datasource", ["flights", "superstore", "movies"])
def test_every_table_and_column_is_described_in_both_languages(registry: Registry, datasource: str) -> None:
    schema = registry.schema(datasource)
    assert schema.description_en and CJK.search(schema.description_zh)
    for table in schema.tables:
        assert table.description_en and CJK.search(table.description_zh), table.name
        for column in table.columns:
            assert column.description_en, f"{table.name}.{column.name}"
            assert CJK.search(column.description_zh), f"{table.name}.{column.name}"


def test_flights_schema(registry: Registry) -> None:
    schema = registry.schema("flights")
    assert schema.dialect == "duckdb"
    assert [t.name for t in schema.tables] == ["flights", "airlines", "airports", "planes", "weather"]
    flights = schema.table("flights")
    assert flights is not None and flights.row_count == 336776
    refs = {(fk.column, fk.ref_table, fk.ref_column) for fk in flights.foreign_keys}
    assert {
        ("carrier", "airlines", "carrier"),
        ("tailnum", "planes", "tailnum"),
        ("origin", "airports", "faa"),
        ("dest", "airports", "faa"),
        ("time_hour", "weather", "time_hour"),
    } <= refs
    airports = schema.table("airports")
    assert airports is not None and airports.column("faa").primary_key  # type: ignore[union-attr]
    dep_delay = flights.column("dep_delay")
    assert dep_delay is not None and dep_delay.kind == "number" and "negative" in dep_delay.description_en
    assert flights.column("time_hour").kind == "time"  # type: ignore[union-attr]
    origin = flights.column("origin")
    assert origin is not None and origin.sample_values == ("EWR", "JFK", "LGA") and origin.distinct_count == 3
    dest = flights.column("dest")
    assert dest is not None and dest.sample_values == () and dest.distinct_count and dest.distinct_count > 50


def test_superstore_samples(registry: Registry) -> None:
    table = registry.schema("superstore").table("superstore")
    assert table is not None and table.row_count == 9994
    assert table.column("category").sample_values == ("Furniture", "Office Supplies", "Technology")  # type: ignore[union-attr]
    assert len(table.column("sub_category").sample_values) == 17  # type: ignore[union-attr]
    assert table.column("city").sample_values == ()  # type: ignore[union-attr]
    assert table.column("sales").sample_values == ()  # type: ignore[union-attr]


def test_movies_schema(registry: Registry) -> None:
    schema = registry.schema("movies")
    assert schema.dialect == "sqlite"
    tomatoes = schema.table("tomatoes")
    assert tomatoes is not None
    assert [(f.column, f.ref_table, f.ref_column, f.inferred) for f in tomatoes.foreign_keys] == [
        ("ID", "omdb", "ID", True)
    ]
    omdb = schema.table("omdb")
    assert omdb is not None and omdb.row_count == 17472
    genres = omdb.column("Genre").sample_values  # type: ignore[union-attr]
    assert {"Drama", "Comedy", "Action"} <= set(genres), "list columns sample their items"
    assert omdb.column("Rating").sample_values[:3] == ("G", "GP", "M")  # type: ignore[union-attr]


def test_schema_version_and_round_trip(registry: Registry) -> None:
    schema = registry.schema("flights")
    assert schema.version == schema_version(schema.tables)
    assert Schema.from_dict(schema.to_dict()) == schema


def test_schema_is_cached_by_fingerprint(demo_data_dir: Path) -> None:
    cached = Registry(demo_data_dir)
    uncached = Registry(demo_data_dir, enable_caching=False)
    try:
        assert cached.schema("superstore") is cached.schema("superstore")
        assert uncached.schema("superstore") is not uncached.schema("superstore")
        assert uncached.schema("superstore") == cached.schema("superstore")
        assert cached.fingerprint("superstore") == cached.fingerprint("superstore")
    finally:
        cached.close()
        uncached.close()
