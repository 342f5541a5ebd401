"""Role passes on ranking: answer units, top-N limits, ranked rows, superlatives and ORDER BY."""

from __future__ import annotations

import re

from llm.base import WriterError
from llm.offline import lexicon
from llm.offline.intent import Filter, Intent, describe_agg
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue, Parser
from llm.offline.roles_shared import overlaps, unique, unit_column
from llm.offline.roles_state import RoleState
from llm.offline.text import name_lemmas, stem


def answer_units(s: RoleState) -> None:
    """Units of the answer: "in hours", "in thousands", 以万为单位 (the unit word is not a column)."""
    p = s.p
    for c in s.scales:
        s.used.update(i for i, m in enumerate(p.mentions) if overlaps(m, c))


def top_limits(s: RoleState) -> None:
    """Top-N limits: "top 5", "前5", "5 busiest"."""
    p, intent = s.p, s.intent
    for n in s.numbers:
        before = p.near_before(n.start, ("top", "bottom", "list"), window=0)
        after = p.near_after(n.end, ("max", "min"), window=0)
        sup_before = p.near_before(n.start, ("max", "min"), window=0)
        cmp_after = p.near_after(n.end, ("gt", "ge", "lt", "le"), window=1)
        # "which 3 sub-categories have the highest …": the number of groups asked for, when something ranks them
        which_n = p.near_before(n.start, ("which",), window=0) is not None and bool(s.sup) and cmp_after is None
        if (
            (which_n and float(n.value).is_integer() and n.kind == "number")
            or (before is not None and before.kind in ("top", "bottom"))
            or after is not None
            or (
                sup_before is not None
                and cmp_after is None
                and float(n.value).is_integer()
                and n.kind == "number"
            )
        ):
            intent.limit = int(n.value)
            s.used_cues.add(id(n))
            if before is not None and before.kind == "bottom":
                intent.descending = False


def ranked_rows(s: RoleState) -> None:
    """A superlative about the rows themselves ("which movie has the most reviews") orders them."""
    p, intent = s.p, s.intent
    # "the highest-grossing comedy": a superlative and its measure in front of a value noun rank those rows.
    if s.entity is None and s.sup and not intent.dims and s.measures and not s.counting:
        noun = _ranked_value_noun(p, s.sup[0], [m for m, _, _ in s.measures], s.value_filters)
        if noun is not None:
            s.entity = noun
            intent.trace.append(f"'{s.sup[0].text} … {noun.text}': the {noun.text} rows are ranked")

    # "Which movie has the most reviews": a superlative about the rows themselves orders them.
    row_level = (
        s.superlative is not None
        and not intent.dims
        and s.entity is not None
        and s.measures
        and not s.counting
        and all(cue is None or cue.kind in ("max", "min") for _, _, cue in s.measures)
    )
    if row_level:
        superlative = s.superlative
        assert superlative is not None
        ordered = min(s.measures, key=lambda x: abs(x[0].start - superlative.start))
        intent.order_column = ordered[1]
        intent.select = unique([el for _, el, _ in s.measures] + intent.select)
        intent.descending = _sup_kind(superlative, ordered[1], s.losses_ranked) == "max"
        intent.limit = intent.limit or (10 if _asks_several(p, s.entity) else 1)
        intent.trace.append(f"'{superlative.text}' → order rows by {ordered[1].label()}")
        s.measures = []


def superlatives(s: RoleState) -> None:
    """Superlatives, ORDER BY and LIMIT."""
    p, intent = s.p, s.intent
    which = p.has("which")
    order_cues = p.cues_of("order")
    ranked_first = s.superlative is not None and any(
        t.text == "first" and t.start >= s.superlative.end and not p.gap_words(s.superlative.end, t.start)
        for t in p.tokens
    )
    order_only = intent.limit is None and (bool(order_cues) or ranked_first)
    if s.superlative is not None and intent.dims:
        intent.order_measure = 0
        kind = _sup_kind(s.superlative, intent.measures[0].column if intent.measures else None, s.losses_ranked)
        intent.descending = kind == "max" if intent.limit is None or intent.descending else False
        if kind == "min":
            intent.descending = False
        explicit_limit = intent.limit is not None
        if intent.limit is None and not order_only:
            intent.limit = 1 if which or not p.has("top") else 10
        if _ranked_within(p, intent, s.dim_mentions) and not explicit_limit:
            intent.limit = 1
    elif order_only and intent.dims and intent.measures and _ordered_by_group(p, order_cues[0], intent):
        # "按月份排序", "sorted by month": the groups in their own order, which is the default
        if order_cues[0].text not in lexicon.ASCENDING_WORDS and order_cues[0].text not in ("排序", "sorted", "sort", "ordered"):
            raise WriterError(
                f"'{order_cues[0].text}': I can list the groups in their own order or by the measure; ask for one of "
                "those (e.g. 'sorted by month' or 'from highest to lowest').",
                kind="not_understood",
            )
        intent.trace.append(f"'{order_cues[0].text}' → in the order of the groups")
    elif order_only and intent.dims and intent.measures:
        intent.order_measure = 0
        intent.descending = order_cues[0].text not in lexicon.ASCENDING_WORDS
        intent.trace.append(f"'{order_cues[0].text}' → order by {describe_agg(intent.measures[0].agg)}")
    elif s.superlative is not None and not intent.measures:
        # Row-level: "which flight had the longest delay", "top 10 movies by box office".
        order_col = next((x[1] for x in s.measures), None)
        if order_col is None:
            numeric = [x for x in intent.select if p.is_numeric(x)]
            order_col = numeric[0] if numeric else None
        if order_col is None and s.superlative.text in _DURATION_SUPERLATIVES:
            duration = unit_column(p, Cue("number_hours", s.superlative.end, s.superlative.end, "", 1))
            order_col = duration[1] if duration is not None else None  # "the 5 longest movies": by runtime
        if order_col is not None:
            intent.order_column = order_col
            intent.descending = _sup_kind(s.superlative, order_col, s.losses_ranked) == "max"
            intent.limit = intent.limit or (10 if _asks_several(p, s.entity) else 1)
    elif intent.limit is not None and intent.dims and intent.measures:
        intent.order_measure = 0


_DURATION_SUPERLATIVES = frozenset({"longest", "shortest", "最长", "最短"})

_TRAILING_ASK = frozenset(
    {"?", "？", "is", "was", "是", "哪部", "哪个", "哪一部", "哪家", "哪些", "什么", "呢", "的"}
)


def _ranked_value_noun(
    p: Parser, sup: Cue, measured: list[Mention], value_filters: list[tuple[int, Filter]]
) -> Mention | None:
    """The value right after a superlative and its measure words, standing for rows: "highest-grossing comedy"."""
    for pos, _ in value_filters:
        if pos < sup.end:
            continue
        noun = next((m for m in p.mentions if m.start == pos), None)
        if noun is None:
            return None
        gap = [
            t
            for t in p.gap_words(sup.end, pos)
            if not any(m.start <= t.start and t.end <= m.end for m in measured)
        ]
        rest = [t for t in p.tokens if t.start >= noun.end and t.text not in _TRAILING_ASK]
        return noun if not gap and not rest else None
    return None


def _asks_several(p: Parser, entity: Mention | None) -> bool:
    """A ranking without a number asks for a list ("top movies", "highest rated films"), else for one row."""
    if p.has("which") and not any(t.text in ("哪些",) for t in p.tokens):
        return False
    if any(c.text in ("top", "leading", "排名前") for c in p.cues_of("top")):
        return True
    if entity is None:
        return False
    text = entity.text.lower()
    return text.isascii() and text.endswith("s") and stem(text) != text


def _sup_kind(sup: Cue, measure: Element | None, losses: bool = False) -> str:
    """Max or min for a superlative: the worst profit is the lowest, the worst delay the highest.

    ``losses``: the superlative ranks a loss ("the biggest loss"), so the largest is the lowest value.
    """
    if losses:
        return "min"
    bad = measure is not None and bool(set(name_lemmas(measure.column or "")) & lexicon.BAD_MEASURES)
    if sup.text in ("worst", "最差", "worse"):
        return "max" if bad else "min"
    if sup.text in ("best", "最好", "better"):
        return "min" if bad else "max"
    return sup.kind


_EACH_WORDS = frozenset(
    {
        "each",
        "every",
        "for each",
        "for every",
        "in each",
        "of each",
        "per",
        "每个",
        "每",
        "各",
        "各个",
        "每一个",
        "每家",
        "每种",
        "各家",
        "各种",
    }
)


def _ranked_within(p: Parser, intent: Intent, dim_mentions: dict[Element, Mention]) -> bool:
    """Rank inside each group: "the most profitable city in each region", 每个类别中销售额最高的子类别."""
    each = []
    for d in intent.dims:
        m = dim_mentions.get(d.column)
        cue = p.near_before(m.start, ("by",), window=1) if m is not None else None
        if cue is not None and cue.text in _EACH_WORDS:
            each.append(d)
    if each and len(each) < len(intent.dims) and intent.measures:
        intent.partition = each
        intent.trace.append(f"ranked within each {', '.join(d.column.label() for d in each)}")
        return True
    return False


def _ordered_by_group(p: Parser, cue: Cue, intent: Intent) -> bool:
    """Whether an order word names a grouping as its key: "按月份排序", "sorted by month", "ordered by region"."""
    grouped = {d.column for d in intent.dims} | {d.label for d in intent.dims if d.label is not None}
    for m in p.mentions:
        if not any(el in grouped for el, _ in m.elements):
            continue
        if m.end <= cue.start and p.q[m.end : cue.start].strip() in ("", "来", "进行") and re.search(r"按照?\s*$", p.q[: m.start]):
            return True
        if m.start >= cue.end and re.fullmatch(r"\s*by\s+(?:the\s+)?", p.q[cue.end : m.start], re.IGNORECASE):
            return True
    return False
