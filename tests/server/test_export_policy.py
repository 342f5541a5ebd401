"""An export re-runs the recorded SQL under the requesting user's row filters and hidden columns."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from datasources.policy import PolicyRule, StaticPolicies
from datasources.registry import Registry
from graph.settings import Settings
from server.errors import ApiError
from server.routes.export import run_checked

WEST = {"name": "alice", "roles": ["analyst"], "attrs": {"region": "West"}}
RULES = StaticPolicies([PolicyRule("superstore", "superstore", roles=("analyst",), row_filter="region = :user.region",
                                   hidden_columns=("profit",))])


@pytest.fixture
def services(demo_data_dir: Path) -> Any:
    registry = Registry(demo_data_dir)
    yield SimpleNamespace(registry=registry, settings=Settings(data_dir=demo_data_dir, _env_file=None),  # type: ignore[call-arg]
                          engine=SimpleNamespace(context=SimpleNamespace(policies=RULES)))
    registry.close()


async def test_export_applies_the_principals_policy(services: Any) -> None:
    sql = "SELECT region, count(*) AS n FROM superstore GROUP BY region ORDER BY region"
    everyone = await run_checked(services, "superstore", sql, 100)
    assert [r[0] for r in everyone.rows] == ["Central", "East", "South", "West"]
    alice = await run_checked(services, "superstore", sql, 100, WEST)  # type: ignore[arg-type]
    assert [r[0] for r in alice.rows] == ["West"]
    with pytest.raises(ApiError) as info:
        await run_checked(services, "superstore", "SELECT sum(profit) FROM superstore", 100, WEST)  # type: ignore[arg-type]
    assert info.value.status == 403 and info.value.code == "COLUMN_NOT_PERMITTED"
