"""The value index links question words to the columns that store them."""

import time

from datasources.registry import Registry
from datasources.values import ValueIndex, normalize


def where(matches: list) -> set[tuple[str, str, str]]:  # type: ignore[type-arg]
    return {(m.table, m.column, m.value) for m in matches}


def test_lookup_is_exact_and_case_insensitive(registry: Registry) -> None:
    flights = registry.values("flights")
    # Only columns that really store the value: no 2013 flight from New York flew *to* JFK, so not dest.
    assert where(flights.lookup("jfk")) == {
        ("airports", "faa", "JFK"),
        ("flights", "origin", "JFK"),
        ("weather", "origin", "JFK"),
    }
    assert where(flights.lookup("UA")) >= {("airlines", "carrier", "UA"), ("flights", "carrier", "UA")}
    assert where(flights.lookup("united air lines inc.")) == {("airlines", "name", "United Air Lines Inc.")}
    assert where(registry.values("superstore").lookup("Furniture")) == {
        ("superstore", "category", "Furniture")
    }
    nolan = registry.values("movies").lookup("Christopher Nolan")
    assert ("omdb", "Director", "Christopher Nolan") in where(nolan)
    assert all(m.in_list for m in nolan), "Director holds comma-separated lists: filter with LIKE"
    assert registry.values("flights").lookup("Christopher Nolan") == []


def test_search_finds_every_mention(registry: Registry) -> None:
    text = "How many United Air Lines flights left JFK for Los Angeles in 2013?"
    matches = registry.values("flights").search(text)
    found = where(matches)
    assert ("airlines", "name", "United Air Lines Inc.") in found
    assert ("airports", "faa", "JFK") in found and ("flights", "origin", "JFK") in found
    assert ("airports", "name", "Los Angeles Intl") in found
    united = next(m for m in matches if m.column == "name" and m.table == "airlines")
    assert text[united.start : united.end] == united.phrase == "United Air Lines"


def test_search_prefers_longest_matches_and_skips_common_words(registry: Registry) -> None:
    matches = registry.values("superstore").search(
        "Show total sales of Office Supplies in New York City by region"
    )
    assert where(matches) == {
        ("superstore", "category", "Office Supplies"),
        ("superstore", "city", "New York City"),
    }, "no 'New York' state match inside 'New York City', no stop words like 'show' or 'total'"


def test_search_in_chinese_and_mixed_text(registry: Registry) -> None:
    found = where(registry.values("flights").search("JFK机场出发的航班平均延误多少？"))
    assert ("airports", "faa", "JFK") in found
    movies = where(registry.values("movies").search("Christopher Nolan导演的剧情片 dramas"))
    assert ("omdb", "Director", "Christopher Nolan") in movies and ("omdb", "Genre", "Drama") in movies


def test_index_from_plain_entries_handles_cjk_substrings() -> None:
    index = ValueIndex([("city", "name", "北京市", False), ("city", "name", "Zürich", False)])
    assert where(index.search("北京市的销售额是多少")) == {("city", "name", "北京市")}
    assert where(index.lookup("zurich")) == {("city", "name", "Zürich")}
    assert normalize("  PG-13 ") == "pg 13"


def test_build_and_search_are_fast(registry: Registry) -> None:
    schema = registry.schema("superstore")
    started = time.perf_counter()
    index = ValueIndex.build(registry.connect("superstore"), schema)
    assert time.perf_counter() - started < 1.0
    movies = registry.values("movies")
    question = "Which Christopher Nolan films starring Christian Bale won Oscars in the United States?"
    started = time.perf_counter()
    for _ in range(200):
        movies.search(question)
    assert (time.perf_counter() - started) / 200 < 0.002
    assert len(index) > 500
