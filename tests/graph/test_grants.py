"""Datasource grants in the graph: ``select_datasource`` considers only ``allowed_datasources``.

The real offline writer answers; the demo data has flights, superstore and movies.
"""

from __future__ import annotations

from typing import Any

import pytest

from graph.builder import build_graph
from graph.settings import Settings
from llm.offline import OfflineWriter
from tests.graph.conftest import by_type, collect, make_context

ALICE = {"name": "alice", "roles": ["analyst"], "attrs": {}}


async def run(settings: Settings, registry: Any, **inputs: Any) -> list[dict[str, Any]]:
    context = make_context(settings, registry, OfflineWriter())
    return await collect(build_graph(), inputs, context)


def chosen(events: list[dict[str, Any]]) -> str:
    done = next(e for e in by_type(events, "step_complete") if e["stepId"] == "step_002")
    return str(done["result"]["data"]["chosen"])


def refusal(events: list[dict[str, Any]]) -> dict[str, Any]:
    error = by_type(events, "step_error")
    assert error and error[0]["stepId"] == "step_002", events[-1]
    assert events[-1]["type"] == "stream_error"
    return dict(error[0]["error"])


async def test_only_granted_datasources_are_considered(settings: Settings, registry: Any) -> None:
    open_mode = await run(settings, registry, question="各地区的总销售额", locale="zh")
    assert chosen(open_mode) == "superstore"
    granted = await run(settings, registry, question="各地区的总销售额", locale="zh", principal=ALICE,
                        allowed_datasources=["superstore"])
    assert chosen(granted) == "superstore" and granted[-1]["type"] == "final_complete"
    scores = next(e for e in by_type(granted, "step_complete") if e["stepId"] == "step_002")["result"]["data"]["scores"]
    assert [s["id"] for s in scores] == ["superstore"]  # the others were never scored
    elsewhere = await run(settings, registry, question="各地区的总销售额", locale="zh", principal=ALICE,
                          allowed_datasources=["flights", "movies"])
    assert by_type(elsewhere, "step_error") or chosen(elsewhere) != "superstore"


@pytest.mark.parametrize(("question", "extra"), [
    ("how many flights are in the flights data?", {}),
    ("average departure delay by airline", {"datasource_id": "flights"}),
])
async def test_a_datasource_that_is_not_granted_is_refused(settings: Settings, registry: Any, question: str,
                                                           extra: dict[str, Any]) -> None:
    events = await run(settings, registry, question=question, locale="en", principal=ALICE,
                       allowed_datasources=["superstore"], **extra)
    error = refusal(events)
    assert error["code"] == "INSUFFICIENT_PERMISSIONS" and "flights" in error["message"].lower()
    assert error["suggestion"] and "administrator" in error["suggestion"]


async def test_no_granted_datasource_at_all(settings: Settings, registry: Any) -> None:
    events = await run(settings, registry, question="how many orders", locale="en", principal=ALICE,
                       allowed_datasources=[])
    assert refusal(events)["code"] == "INSUFFICIENT_PERMISSIONS"


async def test_a_granted_datasource_named_in_the_question_is_fine(settings: Settings, registry: Any) -> None:
    events = await run(settings, registry, question="how many flights are in the flights data?", locale="en",
                       principal=ALICE, allowed_datasources=["flights"])
    assert chosen(events) == "flights"
