"""Role passes on the remaining mentions: measures, dimensions, the counted entity, ratios."""

from __future__ import annotations

import re

from llm.offline import lexicon
from llm.offline.intent import Filter, Intent
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue, Parser
from llm.offline.roles_shared import (
    AGG_CUES,
    EQUALITY_LINKS,
    GROUP_CUES,
    dated,
    default_agg,
    loose_reading,
    one_to_one,
    overlaps,
)
from llm.offline.roles_state import RoleState
from llm.offline.text import Token, name_lemmas


def mention_roles(s: RoleState) -> None:
    """Every mention not used yet: a measure, a dimension, a condition or the counted entity."""
    p, intent = s.p, s.intent
    for i, m in enumerate(p.mentions):
        if i in s.used or not m.elements:
            continue
        group_cue = p.near_before(m.start, GROUP_CUES, window=2)
        if (
            group_cue is not None
            and group_cue.kind == "which"
            and _mention_between(p, group_cue.end, m.start)
        ):
            group_cue = None  # "which origin had the windiest days": "which" asks about origin only
        agg_cue = p.near_before(m.start, AGG_CUES, window=2, max_between=0)
        prefer = "dim" if group_cue is not None else "measure" if agg_cue is not None else ""
        picked = p.pick(m, prefer)
        if agg_cue is not None and agg_cue.kind in ("avg", "sum"):
            numeric_el = p.pick(m, "numeric")  # an average of 评分 is of the numeric rating, not the text one
            if numeric_el is not None and not loose_reading(p, m, numeric_el):
                picked = numeric_el
        ranked = p.pick(m, "numeric") if agg_cue is None and _ranked_here(p, m) else None
        if ranked is not None and not loose_reading(p, m, ranked):
            # "highest rated movie", "评分最高": a superlative on the word makes it a number to rank by.
            picked = ranked
            group_cue = None
        if picked is None:
            continue
        el = picked
        null_test = _null_test(p, m, el) if el.column is not None and agg_cue is None else None
        if null_test is not None and el.column is not None:
            # "movies that don't have a Metacritic score", "有票房数据的电影": a missing value is NULL.
            f, span = Filter(el, null_test[0]), null_test[1]
            s.conds.append(f)
            intent.spans.append(span)
            intent.trace.append(f"'{p.q[span[0]:span[1]]}' → {f.describe()}")
            continue
        if el.column is not None and agg_cue is None and _absence(p, m) and p.is_numeric(el):
            # "orders with no discount", 没有折扣的: nothing of it (at most zero when it can go negative)
            signed = "negative" in p.col(el).description_en.lower() or "负" in p.col(el).description_zh
            s.conds.append(Filter(el, "<=" if signed else "=", 0))
            intent.spans.extend((t.start, t.end) for t in _absence_words(p, m))
            intent.trace.append(f"'{m.text}' → {s.conds[-1].describe()}")
            continue
        if el.column is not None and agg_cue is None and _presence(p, m) and p.is_numeric(el):
            s.conds.append(Filter(el, ">", 0))  # "orders that had a discount": discount > 0
            intent.trace.append(f"'{m.text}' → {s.conds[-1].describe()}")
            continue
        if el.column is None:
            if el.table == p.main:
                s.entity = s.entity or m
            else:
                s.others.append((m, el.table))
            continue
        weight = max(w for e, w in m.elements if e == el)
        ranked_only = (
            agg_cue is not None
            and agg_cue.kind in ("max", "min")
            and agg_cue.text not in lexicon.AGG_FUNCTION_WORDS
        )
        if weight < 0.5 and group_cue is None and (agg_cue is None or ranked_only):
            continue  # a modifier alone ("departed", "the most departures") is too weak to be a measure or a group
        if (
            group_cue is not None
            and group_cue.kind.startswith("bucket")
            and dated(p, el)
            and any(d.bucket is not None or p.is_time_part(d.column) for d in intent.dims)
        ):
            continue  # "每年上映的": the release is what the yearly bucket already counts by
        if p.is_dimension_like(el):
            ranked_subject = p.near_after(m.end, ("max", "min"), window=0) is not None and any(
                t.text in ("with", "having", "that", "has", "had") for t in p.tokens if m.end <= t.start
            )  # "the sub-category with the highest sales in each region"
            s.dims.append((m, el, group_cue is not None or _after_superlative(p, m) or ranked_subject))
            via = next(
                (
                    fk
                    for fk in p.table(el.table).foreign_keys
                    if fk.column == el.column
                    and any(e.table == fk.ref_table and e.column is None for e, _ in m.elements)
                ),
                None,
            )
            label = p.label_column(via.ref_table) if via is not None else None
            if via is not None and label is not None:
                s.labels[id(m)] = Element(via.ref_table, label.name)
        else:
            after_agg = p.near_after(m.end, ("sum", "avg", "median", "quantile"), window=0)
            if agg_cue is not None and agg_cue.kind in ("max", "min") and after_agg is not None:
                agg_cue = after_agg  # "the most miles in total": ranked by the total, not by the maximum
            s.measures.append((m, el, agg_cue or after_agg))

    s.measures.extend(s.cond_measures)


def foreign_dimensions(s: RoleState) -> None:
    """Other-table mentions become dimensions through a foreign key: "by airline" → carrier + airlines.name."""
    p = s.p
    for m, table in s.others:
        label = p.label_column(table)
        fks = s.reach.get(table, [])
        if fks and all(mine == theirs and one_to_one(p, mine, table) for mine, _, theirs in fks):
            s.entity = s.entity or m  # a 1:1 table (same key): its rows are the main table's rows
            continue
        if not fks:
            continue
        main_col, ref_table, ref_col = fks[0]
        if ref_table != table:
            continue
        el = Element(p.main, main_col)
        if any(x[1] == el for x in s.dims):
            continue
        grouped = p.near_before(m.start, GROUP_CUES, window=2) is not None or _after_superlative(p, m)
        s.dims.append((m, el, grouped))
        if label is not None:
            s.labels[id(m)] = Element(table, label.name)


def ratios(s: RoleState) -> None:
    """Ratios of two measures: "profit margin", 利润率 (profit over sales), "profit per unit" (over quantity)."""
    p, intent = s.p, s.intent
    s.measures, s.percent = _ratios(p, s.measures, s.ratio_of, s.percent, intent)


_NULL_NEG = re.compile(
    r"(?:don't|doesn't|didn't|do not|does not|did not|never|missing|lacking|no|without|"
    r"没有|无|缺少|缺失|没)\s*(?:have|has|had|got|记录|记录了)?\s*(?:a|an|any)?\s*$",
    re.IGNORECASE,
)

_NULL_POS = re.compile(r"(?:have|has|had|with|有)\s*(?:a|an|any)?\s*$", re.IGNORECASE)

_DATA_WORD = re.compile(
    r"^\s*(?:data|figures?|numbers?|values?|information|info|on record|recorded|listed|数据|记录|信息|数字)", re.IGNORECASE
)

_STRONG_NEG = re.compile(r"(?:n't|not|never|missing|lacking|没有|缺少|缺失)", re.IGNORECASE)


def _null_test(p: Parser, m: Mention, el: Element) -> tuple[str, tuple[int, int]] | None:
    """IS NULL / IS NOT NULL for "don't have a score", "no year on record", "has box office figures", 有票房数据.

    "no discount" on a numeric column stays "= 0" (see :func:`_absence`): a bare "no"/"without" means NULL only
    with a data word after the column ("no year on record") or on a column that is not a number.
    """
    before = p.q[max(0, m.start - 24) : m.start]
    after = p.q[m.end : m.end + 14]
    data_after = _DATA_WORD.match(after)
    end = m.end + (data_after.end() if data_after else 0)
    neg = _NULL_NEG.search(before)
    if neg is not None:
        strong = _STRONG_NEG.search(neg.group(0)) is not None
        if strong or data_after or not p.is_numeric(el):
            return "is null", (m.start - len(before) + neg.start(), end)
    pos = _NULL_POS.search(before)
    if pos is not None and data_after:
        return "is not null", (m.start - len(before) + pos.start(), end)
    return None


def _absence_words(p: Parser, m: Mention) -> list[Token]:
    """The "no" / "without a" / 没有 in front of a mention read as an absence."""
    before = [t for t in p.tokens if t.end <= m.start][-2:]
    return [t for t in before if t.text in ("no", "zero", "without", "a", "an", "any", "没有", "无", "没", "未", "不")]


def _after_superlative(p: Parser, m: Mention) -> bool:
    """Chinese "销售额最高的城市": a dimension right after a superlative (and 的) is grouped.

    In "which origin had the windiest days" the group is the one after "which"; the noun after the
    superlative is what is ranked, not a second group.
    """
    if p.near_before(m.start, ("max", "min"), window=1) is None:
        return False
    which = p.near_before(m.start, ("which",), window=6, max_between=3)
    return (
        which is None
        or which.text in ("what", "什么")
        or not any(which.end <= o.start and o.end <= m.start and o.elements for o in p.mentions)
    )


def _ranked_here(p: Parser, m: Mention) -> bool:
    """A superlative on the word itself, right before it, or (Chinese) right after it: 评分最高, highest rated."""
    if any(overlaps(c, m) for c in p.cues_of("max", "min")):
        return True
    before = p.near_before(m.start, ("max", "min"), window=0, max_between=0)
    if before is not None and before.text not in lexicon.AGG_FUNCTION_WORDS:
        return True
    return p.near_after(m.end, ("max", "min"), window=0) is not None and any(t.zh for t in p.tokens)


def _equality_link_follows(p: Parser, m: Mention) -> bool:
    """Whether "of <number>" follows the mention ("a tomatometer of 100" is not "any tomatometer")."""
    rest = p.q[m.end :].strip().lower()
    word = next(
        (w for w in EQUALITY_LINKS if rest.startswith(w + " ") or (not w.isascii() and rest.startswith(w))),
        None,
    )
    if word is None:
        return False
    tail = rest[len(word) :].strip()
    return bool(tail) and (tail[0].isdigit() or tail.split(" ")[0] in lexicon.EN_NUMBERS)


def _absence(p: Parser, m: Mention) -> bool:
    """Having none of a measure: "with no discount", "without a delay", 没有折扣的, 无折扣."""
    before = [t.text for t in p.tokens if t.end <= m.start][-2:]
    after = next((t.text for t in p.tokens if t.start >= m.end), "")
    if before and before[-1] in ("没有", "无", "没", "未", "不") and after == "的":
        return not _ranked_here(p, m)
    if before and before[-1] in ("no", "zero", "without"):
        return True
    return len(before) == 2 and before[0] == "without" and before[1] in ("a", "an", "any")


def _presence(p: Parser, m: Mention) -> bool:
    """Owning some amount of a measure ("had a discount", "won an Oscar", 有折扣的), i.e. more than zero."""
    before = [t.text for t in p.tokens if t.end <= m.start][-2:]
    after = next((t.text for t in p.tokens if t.start >= m.end), "")
    if before and before[-1] == "过" and len(before) == 2:  # 获得 过 奥斯卡奖: jieba splits the aspect marker
        before = [before[0] + "过"]
    if before and before[-1] in ("有", "获得", "获", "得过", "拿过", "带", "获得过", "赢得", "赢得过", "有过") and after == "的":
        return not _ranked_here(p, m)
    if any(c.kind == "eq" for c in p.cues if c.start >= m.end and not p.gap_words(m.end, c.start)):
        return False
    if _equality_link_follows(p, m):
        return False
    return (
        len(before) == 2
        and before[1] in ("a", "an", "any")
        and before[0] in ("had", "has", "have", "with", "got", "won", "received", "earned", "win", "get")
    )


def _mention_between(p: Parser, start: int, end: int) -> bool:
    return any(start <= o.start and o.end <= end and o.elements for o in p.mentions)


def _main_column(p: Parser, lem: str) -> Element | None:
    """The main table's numeric column whose name has this lemma."""
    for c in p.table(p.main).columns:
        if c.kind == "number" and lem in name_lemmas(c.name):
            return Element(p.main, c.name)
    return None


def _ratios(
    p: Parser,
    measures: list[tuple[Mention, Element, Cue | None]],
    ratio_of: dict[int, Element],
    percent: bool,
    intent: Intent,
) -> tuple[list[tuple[Mention, Element, Cue | None]], bool]:
    """Measures that are a ratio of two sums: a margin (profit / sales) or "A per B" of two measures."""
    en = next((t for t in p.tokens if t.text in lexicon.MARGIN_WORDS), None)
    zh = next((w for w in lexicon.MARGIN_WORDS if not w.isascii() and w in p.q), None)
    num, den = _main_column(p, "profit"), _main_column(p, "sales")
    if (en is not None or zh is not None) and num is not None and den is not None:
        start = en.start if en is not None else p.q.index(zh or "")
        end = en.end if en is not None else start + len(zh or "")
        anchor = next((x for x in measures if x[1] == num), None) or (
            Mention(start, end, p.q[start:end]),
            num,
            None,
        )
        at = next((i for i, x in enumerate(measures) if x[1] == num), len(measures))
        rest = [x for x in measures if x[1] != num]
        measures = rest[:at] + [anchor] + rest[at:]
        ratio_of[id(anchor[0])] = den
        percent = any(not (start <= c.start < end) for c in p.cues_of("percent"))
        intent.trace.append(f"'{p.q[start:end]}' → profit over sales")
    for x in list(measures):
        m2, el2, _ = x
        per = p.near_before(m2.start, ("by",), window=0, max_between=0)
        if per is None or per.text not in ("per", "a") or default_agg(el2) != "sum":
            continue
        first = next(
            (y for y in measures if y[0].end <= per.start and y[1] != el2 and id(y[0]) not in ratio_of), None
        )
        if first is None:
            continue
        ratio_of[id(first[0])] = el2
        measures.remove(x)
        intent.trace.append(f"'{first[0].text} {per.text} {m2.text}' → a ratio of sums")
    return measures, percent
