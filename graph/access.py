"""The row and column policy of one run: the run's principal, the chosen datasource's rules, its schema.

Open mode (no principal: the embedded default, no users configured) has no policy at all. Every node that
shows a schema to a writer or runs SQL asks here, so the writer's view and the enforced rewrite agree.
"""

from __future__ import annotations

import asyncio

from datasources.policy import AccessPolicy, PolicyError, PolicyProvider, policy_from_rules, visible_schema
from datasources.schema import Schema
from graph.context import Context
from graph.errors import SQLBotError, Text
from graph.protocol import ErrorCode
from graph.state import Principal, State


def policy_for(principal: Principal | None, policies: PolicyProvider, schema: Schema) -> AccessPolicy | None:
    """The policy of ``principal`` on ``schema``'s datasource; None in open mode or when no rule applies.

    Raises:
        SQLBotError: ``INSUFFICIENT_PERMISSIONS`` when a configured rule is malformed (fail closed).
    """
    if principal is None:
        return None
    rules = policies.rules(schema.datasource_id)
    if not rules:
        return None
    try:
        policy = policy_from_rules(rules, principal, schema)
    except PolicyError as exc:
        raise SQLBotError(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            Text(f"The access policy of this datasource is misconfigured: {exc.message}",
                 f"该数据源的访问策略配置有误：{exc.message}"),
            suggestion=Text("Ask an administrator to fix the policy file (SQLBOT_POLICY_FILE).",
                            "请联系管理员修正策略文件（SQLBOT_POLICY_FILE）。"),
        ) from exc
    return None if policy.empty else policy


def resolve_policy(state: State, context: Context, schema: Schema) -> AccessPolicy | None:
    """The policy for the run's principal on ``schema``'s datasource (see :func:`policy_for`)."""
    return policy_for(state.get("principal"), context.policies, schema)


async def writer_schema(state: State, context: Context, datasource_id: str) -> tuple[Schema, AccessPolicy | None]:
    """The schema a writer may see (hidden columns left out) and the policy it came from."""
    schema = await asyncio.to_thread(context.registry.schema, datasource_id)
    policy = resolve_policy(state, context, schema)
    return visible_schema(schema, policy), policy
