"""The dev set through the offline writer and the real demo databases, plus the comparison rules."""

from typing import Any

import pytest

from evals.accuracy import DATASETS, compare_results, gold_is_ordered, load_dataset, load_examples, run_eval

TARGET = 0.90


@pytest.mark.slow
async def test_dev_set_accuracy_meets_target(registry: Any) -> None:
    examples = load_dataset(DATASETS / "dev.jsonl")
    report = await run_eval(examples, registry)
    print(report.format())
    assert report.accuracy >= TARGET, report.format()


async def test_every_example_question_answers_correctly(registry: Any) -> None:
    report = await run_eval(load_examples(), registry)
    assert not report.failures, report.format()


def test_dev_set_shape() -> None:
    examples = load_dataset(DATASETS / "dev.jsonl")
    assert len(examples) >= 80
    assert sum(e.locale == "zh" for e in examples) >= len(examples) / 3
    assert {e.datasource for e in examples} == {"flights", "superstore", "movies"}
    assert len({e.id for e in examples}) == len(examples)


def test_examples_cover_each_datasource_in_both_languages() -> None:
    examples = load_examples()
    for ds in ("flights", "superstore", "movies"):
        mine = [e for e in examples if e.datasource == ds]
        assert 4 <= len(mine) <= 6
        assert {e.locale for e in mine} == {"en", "zh"}


def test_unordered_gold_ignores_row_order() -> None:
    gold = [("a", 1), ("b", 2)]
    assert compare_results(["k", "v"], gold, ["k", "v"], [("b", 2), ("a", 1)], ordered=False)


def test_ordered_gold_requires_row_order() -> None:
    gold = [("a", 1), ("b", 2)]
    assert not compare_results(["k", "v"], gold, ["k", "v"], [("b", 2), ("a", 1)], ordered=True)
    assert compare_results(["k", "v"], gold, ["k", "v"], [("a", 1), ("b", 2)], ordered=True)


def test_extra_prediction_columns_are_allowed_in_any_position() -> None:
    gold = [("a", 1.0), ("b", 2.0)]
    pred = [("x", 1.0, "a"), ("y", 2.0, "b")]
    assert compare_results(["k", "v"], gold, ["code", "v", "name"], pred, ordered=False)


def test_missing_gold_column_fails() -> None:
    assert not compare_results(["k", "v"], [("a", 1)], ["v"], [(1,)], ordered=False)


def test_wrong_value_and_wrong_row_count_fail() -> None:
    assert not compare_results(["v"], [(1.0,)], ["v"], [(1.1,)], ordered=False)
    assert not compare_results(["v"], [(1,), (2,)], ["v"], [(1,)], ordered=False)


def test_float_tolerance_and_null_equality() -> None:
    assert compare_results(["v"], [(1.0,)], ["v"], [(1.0 + 1e-9,)], ordered=True)
    assert compare_results(["v"], [(100000.0,)], ["v"], [(100000.00001,)], ordered=True)
    assert compare_results(["k", "v"], [(None, 1)], ["k", "v"], [(None, 1)], ordered=False)
    assert not compare_results(["v"], [(None,)], ["v"], [(0,)], ordered=False)


def test_columns_must_pair_within_rows() -> None:
    gold = [("a", 1), ("b", 2)]
    pred = [("a", 2), ("b", 1)]  # each column matches as a multiset, the rows do not
    assert not compare_results(["k", "v"], gold, ["k", "v"], pred, ordered=False)


def test_gold_order_detection() -> None:
    assert gold_is_ordered("SELECT a FROM t ORDER BY a", "duckdb")
    assert not gold_is_ordered("SELECT a FROM (SELECT a FROM t ORDER BY a) s", "duckdb")
