"""The state the role passes share while they read one question (``roles.assign_roles`` runs them in order)."""

from __future__ import annotations

from dataclasses import dataclass, field

from llm.offline import lexicon
from llm.offline.intent import Filter, Intent, Measure
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue, Parser


@dataclass
class RoleState:
    """What one pass leaves for the next: the intent so far, the words used, and the roles not yet placed."""

    p: Parser
    """The parsed question: tokens, mentions, cues and the schema."""
    intent: Intent
    """The intent being built; passes append dimensions, filters, measures and the trace."""
    reach: dict[str, list[tuple[str, str, str]]]
    """Tables one foreign key away from the main table (``Parser.reachable``)."""
    numbers: list[Cue]
    """Number cues (plain or in hours)."""
    scales: list[Cue]
    """Units of the answer ("in thousands")."""
    sup: list[Cue]
    """Superlative cues (max/min words that rank, not aggregate function words unless 'which' is asked)."""
    count_cues: list[Cue]
    """"How many", "number of": what the question counts."""
    superlative: Cue | None
    """The first superlative cue."""
    counting: bool
    """Whether the question counts anything."""
    percent: bool
    """Whether the question asks for a percentage (the ratios pass may take it as a ratio instead)."""
    used: set[int] = field(default_factory=set)
    """Indexes of mentions already given a role (or known to name nothing)."""
    used_cues: set[int] = field(default_factory=set)
    """``id`` of the cues already consumed."""
    conds: list[Filter] = field(default_factory=list)
    """Numeric/adjective conditions (candidates for a percentage numerator)."""
    value_filters: list[tuple[int, Filter]] = field(default_factory=list)
    """Filters on named values, with the offset where the value was said."""
    compared: list[tuple[Filter, str | None]] = field(default_factory=list)
    """Each numeric condition and the aggregate word naming its column."""
    count_having: list[Filter] = field(default_factory=list)
    """"More than 20 films": conditions on the number of rows per group."""
    cond_measures: list[tuple[Mention, Element, Cue | None]] = field(default_factory=list)
    """Adjectives that name the measure ("most profitable") rather than a condition."""
    losses_ranked: bool = False
    adjective_conds: list[Filter] = field(default_factory=list)
    """Row conditions said by an adjective or verb ("lost money", 亏损): a group's total when groups are counted."""
    """"The biggest loss": the most negative value ranks first."""
    measures: list[tuple[Mention, Element, Cue | None]] = field(default_factory=list)
    """Measure mentions, their column and the aggregate cue before or after them."""
    dims: list[tuple[Mention, Element, bool]] = field(default_factory=list)
    """Dimension mentions, their column and whether they are grouped on."""
    entity: Mention | None = None
    """The main table's noun (the rows counted or listed)."""
    labels: dict[int, Element] = field(default_factory=dict)
    """Dimension mention (by ``id``) → readable label column through a foreign key."""
    others: list[tuple[Mention, str]] = field(default_factory=list)
    """Mentions of other tables (dimensions via a foreign key)."""
    ratio_of: dict[int, Element] = field(default_factory=dict)
    """Measure mention (by ``id``) → the denominator column of its ratio."""
    having: list[tuple[Measure, Filter]] = field(default_factory=list)
    """Conditions on groups."""
    count_distinct: Element | None = None
    """"How many airlines": the column counted distinct."""
    dim_mentions: dict[Element, Mention] = field(default_factory=dict)
    """Each grouped column and the mention that named it."""

    @classmethod
    def start(cls, p: Parser) -> RoleState:
        """The state before any pass: an empty intent and the cue lists the passes read."""
        asks_which = any(t.text in ("which", "哪", "哪个", "哪些", "哪家") for t in p.tokens)
        sup = [
            c
            for c in p.cues
            if c.kind in ("max", "min") and (c.text not in lexicon.AGG_FUNCTION_WORDS or asks_which)
        ]
        count_cues = p.cues_of("count")
        return cls(
            p=p,
            intent=Intent(main=p.main),
            reach=p.reachable(),
            numbers=[c for c in p.cues if c.kind in ("number", "number_hours")],
            scales=p.cues_of("scale"),
            sup=sup,
            count_cues=count_cues,
            superlative=sup[0] if sup else None,
            counting=bool(count_cues),
            percent=p.has("percent"),
        )
