"""Role assignment: which mention is a measure, a dimension, a filter, a limit or the thing counted.

``assign_roles`` runs the role passes in order over one ``RoleState`` (``roles_state.py``); each pass is a
function in the module of its topic (``roles_time``, ``roles_values``, ``roles_conditions``, ``roles_mentions``,
``roles_groups``, ``roles_ranking``, ``roles_measures``), and the helpers several passes share are in
``roles_shared``. The order matters: a pass reads what the earlier ones marked used or decided.
"""

from __future__ import annotations

from collections.abc import Callable

from llm.base import WriterError
from llm.offline.intent import Intent
from llm.offline.parse import Parser
from llm.offline.roles_conditions import adjective_conditions, comparisons, null_conditions
from llm.offline.roles_groups import (
    compare_values,
    count_targets,
    group_conditions,
    group_dimensions,
    row_listing,
)
from llm.offline.roles_measures import (
    aggregate_measures,
    collect_filters,
    counting,
    percentages,
    scale_measures,
)
from llm.offline.roles_mentions import foreign_dimensions, mention_roles, ratios
from llm.offline.roles_ranking import answer_units, ranked_rows, superlatives, top_limits
from llm.offline.roles_shared import unique
from llm.offline.roles_state import RoleState
from llm.offline.roles_time import calendar_dates, date_filters, named_periods, period_change, time_buckets
from llm.offline.roles_values import text_patterns, value_filters

PASSES: tuple[Callable[[RoleState], None], ...] = (
    time_buckets,
    text_patterns,
    period_change,
    value_filters,
    date_filters,
    named_periods,
    answer_units,
    top_limits,
    comparisons,
    null_conditions,
    adjective_conditions,
    mention_roles,
    foreign_dimensions,
    ratios,
    group_conditions,
    row_listing,
    count_targets,
    group_dimensions,
    compare_values,
    ranked_rows,
    aggregate_measures,
    scale_measures,
    percentages,
    collect_filters,
    counting,
    superlatives,
    calendar_dates,
)
"""The role passes, in the order they read the question."""


def assign_roles(p: Parser) -> Intent:
    """Build the intent of the question parsed by ``p``."""
    s = RoleState.start(p)
    for role_pass in PASSES:
        role_pass(s)
    return _finish(s)


def _finish(s: RoleState) -> Intent:
    """Refuse a question with nothing to compute; record the words used."""
    p, intent = s.p, s.intent
    if not intent.measures and not intent.dims:
        row_cols = [m[1] for m in s.measures] + intent.select
        if intent.order_column is None and not row_cols and not intent.filters and s.entity is None:
            raise WriterError(
                "I could not tell what to compute: name a measure (e.g. total sales) or what to count.",
                kind="not_understood",
            )
        intent.select = unique(row_cols)
    if (
        not intent.dims
        and not intent.measures
        and intent.order_column is None
        and not intent.select
        and not intent.filters
    ):
        raise WriterError("I could not understand the question.", kind="not_understood")
    intent.spans.extend((p.mentions[i].start, p.mentions[i].end) for i in s.used)
    return intent
