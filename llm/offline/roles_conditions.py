"""Role passes on row conditions: numeric comparisons, NULL words, adjective conditions."""

from __future__ import annotations

from llm.base import WriterError
from llm.offline import lexicon
from llm.offline.intent import Filter
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue, Parser
from llm.offline.roles_shared import (
    CMP,
    EQUALITY_LINKS,
    UNIT_WORDS,
    in_minutes,
    loose_reading,
    one_to_one_table,
    overlaps,
    unit_column,
)
from llm.offline.roles_state import RoleState
from llm.offline.text import name_lemmas


def comparisons(s: RoleState) -> None:
    """Numeric comparisons: "more than 100", "超过100", "100以上"; "negative profit" compares with zero."""
    p, intent = s.p, s.intent
    zero_cues = [Cue(c.kind, c.start, c.end, c.text, 0.0) for c in p.cues_of("neg", "pos")]
    for n in [*s.numbers, *zero_cues]:
        if id(n) in s.used_cues:
            continue
        comparator: Cue | None = n
        if n.kind not in ("neg", "pos"):
            comparator = p.near_before(
                n.start, ("gt", "ge", "lt", "le", "eq", "between"), window=1
            ) or p.near_after(n.end, ("gt", "ge", "lt", "le"), window=1)
        if comparator is None:
            comparator = _range_between(p, n, s.numbers, s.used_cues)
        if comparator is None:
            comparator = _equality_link(p, n)
        if comparator is None:
            continue
        phrase = p.q[min(comparator.start, n.start) : max(comparator.end, n.end)]
        op = {"neg": "<", "pos": ">"}.get(comparator.kind) or CMP.get(comparator.kind, ">")
        counted_idx = _counted_rows_after(p, n)
        if counted_idx is None and comparator is not n:
            counted_idx = _counted_rows_before(p, comparator, n)
        if counted_idx is not None and comparator.kind != "between":
            s.used.add(counted_idx)
            s.used_cues.add(id(n))
            s.count_having.append(Filter(Element(p.main), op, _num(n.value)))
            intent.trace.append(f"'{phrase} {p.mentions[counted_idx].text}' → COUNT(*) {op} {_num(n.value)}")
            continue
        target = _cond_target(p, n, s.used_cues) or _comparison_target(p, comparator, n, s.used)
        unit_target = unit_column(p, n)
        if unit_target is not None and (target is None or not in_minutes(p, target[1])):
            target = unit_target  # "films longer than 150 minutes": the duration, not the Oscars named before
        if target is None:
            raise WriterError(
                f"I could not tell which column '{phrase}' applies to; name the measure (e.g. 'runtime over 120').",
                kind="not_understood",
            )
        idx, el = target
        if idx >= 0:
            s.used.add(idx)
        value = n.value * 60 if n.kind == "number_hours" and in_minutes(p, el) else n.value
        if n.text.endswith("%") and not _percent_scale(p, el):
            value = n.value / 100
        unit = next((j for j, mm in enumerate(p.mentions) if mm.start >= n.end), None)
        if (
            unit is not None
            and unit != idx
            and n.kind not in ("neg", "pos")
            and not p.gap_words(n.end, p.mentions[unit].start)
            and not _names_groups(p, p.mentions[unit], el)
        ):
            s.used.add(unit)  # "200 minutes", "300 seats": the unit word after the number
        if comparator.kind == "between":
            second = next((x for x in s.numbers if x.start > n.end and id(x) not in s.used_cues), None)
            if second is None:
                raise WriterError(f"'{phrase}': between what and what?", kind="not_understood")
            s.used_cues.add(id(second))
            high = second.value * 60 if second.kind == "number_hours" and in_minutes(p, el) else second.value
            f = Filter(el, "between", value, high)
        else:
            f = Filter(el, op, _num(value))
        s.used_cues.add(id(n))
        s.used.update(j for j, mm in enumerate(p.mentions) if overlaps(mm, n))
        s.conds.append(f)
        named_agg = (
            p.near_before(p.mentions[idx].start, ("avg", "sum"), window=1, max_between=0)
            if idx >= 0
            else None
        )
        s.compared.append((f, named_agg.kind if named_agg is not None else None))
        intent.trace.append(f"'{phrase}' → {f.describe()}")


def null_conditions(s: RoleState) -> None:
    """Missing values: "cancelled" where the schema says a column is NULL if cancelled."""
    p, intent = s.p, s.intent
    for tok in p.tokens:
        null_col = p.null_condition(tok)
        if null_col is None:
            continue
        negated = p.near_before(tok.start, ("not",), window=1) is not None
        f = Filter(null_col, "is not null" if negated else "is null")
        s.conds.append(f)
        intent.spans.append((tok.start, tok.end))
        s.used.update(i for i, m in enumerate(p.mentions) if m.start <= tok.start < m.end)
        intent.trace.append(f"'{tok.text}' → {f.describe()}")


def adjective_conditions(s: RoleState) -> None:
    """Adjective conditions: "delayed", "unprofitable", 亏损."""
    p, intent = s.p, s.intent
    for c in p.cues_of("cond"):
        if id(c) in s.used_cues:
            continue
        lem, op, val = lexicon.CONDITIONS[c.text]
        cond_el = _cond_column(p, lem)
        if cond_el is None:
            continue
        el = cond_el
        s.used.update(i for i, m in enumerate(p.mentions) if overlaps(m, c))
        ranking = p.near_before(c.start, ("max", "min", "gt", "lt"), window=0)
        if ranking is None and op == "<" and "\u4e00" <= c.text[:1] <= "\u9fff":
            ranking = p.near_after(c.end, ("max", "min"), window=0)  # 亏损最多: the superlative follows
        if ranking is not None and any(
            x.kind == "percent" and ranking.end <= x.start and x.end <= c.start for x in p.cues
        ):
            ranking = None  # "the lowest share of delayed departures": the share of rows is ranked, not the delay
        if ranking is not None:
            # "most profitable", "least profitable": the adjective names the measure to rank by.
            if op == "<" and ranking.kind in ("max", "gt"):
                # "the biggest loss", 亏损最多: the most negative value ranks first.
                s.losses_ranked = True
                intent.trace.append(f"'{p.q[min(ranking.start, c.start) : max(ranking.end, c.end)]}' → lowest {el.label()} first")
            elif op == "<":
                said = p.q[min(ranking.start, c.start) : max(ranking.end, c.end)]
                raise WriterError(
                    f"'{said}' can mean the loss closest to zero or the fewest losses; "
                    "ask for the lowest or highest value of the column instead.",
                    kind="not_understood",
                )
            s.cond_measures.append((Mention(c.start, c.end, c.text), el, None))
            continue
        named_agg = p.near_after(c.end, ("avg", "median", "quantile"), window=1) or p.near_before(
            c.start, ("avg", "median", "quantile"), window=1
        )
        if named_agg is not None:
            # "起飞延误的中位数", "average delay": an aggregate of the adjective's column, not a row condition.
            s.cond_measures.append((Mention(c.start, c.end, c.text), el, named_agg))
            continue
        if any(f.column.table == p.main and lem in name_lemmas(f.column.column or "") for f in s.conds):
            continue
        total = p.near_after(c.end, ("sum",), window=2) or p.near_before(c.start, ("sum",), window=1)
        if total is not None:
            # "states losing money overall", "sub-categories that lost money in total": the group's total.
            f = Filter(el, op, val)
            s.compared.append((f, "sum"))
            s.conds.append(f)  # a row condition when nothing is grouped; the group's total otherwise
            s.used_cues.add(id(total))
            intent.trace.append(f"'{c.text} … {total.text}' → SUM({el.label()}) {op} {val}")
            continue
        s.conds.append(Filter(el, op, val))
        s.adjective_conds.append(s.conds[-1])
        intent.trace.append(f"'{c.text}' → {s.conds[-1].describe()}")


def _percent_scale(p: Parser, el: Element) -> bool:
    """Whether a column stores percentages as 0-100 (else a '50%' in the question means 0.5)."""
    c = p.col(el)
    return "percent" in c.description_en.lower() or "0-100" in c.description_en or "1-100" in c.description_en


def _comparison_target(p: Parser, cmp_cue: Cue, n: Cue, used: set[int]) -> tuple[int, Element] | None:
    """The numeric column a comparison applies to: just before the comparator, else just after the number."""
    candidates: list[tuple[int, int, Element]] = []
    for i, m in enumerate(p.mentions):
        if not m.elements:
            continue
        el = p.pick(m, "numeric")
        if el is None or el.column is None or not p.is_numeric(el) or loose_reading(p, m, el):
            continue
        if m.end <= min(cmp_cue.start, n.start):
            dist = min(cmp_cue.start, n.start) - m.end
        elif m.start >= max(cmp_cue.end, n.end):
            dist = m.start - max(cmp_cue.end, n.end) + 1
        else:
            continue
        candidates.append((dist, i, el))
    if not candidates:
        return None
    dist, i, el = min(candidates, key=lambda c: c[0])
    return i, el


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _counted_rows_after(p: Parser, n: Cue) -> int | None:
    """Whether the number counts the main table's rows, as in "more than 20 films" (the mention's index)."""
    if n.kind != "number" or not float(n.value).is_integer():
        return None
    j = next((j for j, mm in enumerate(p.mentions) if mm.start >= n.end), None)
    if j is None:
        return None
    gap = [
        t
        for t in p.tokens
        if n.end <= t.start and t.end <= p.mentions[j].start and t.text not in lexicon.CLASSIFIERS
    ]
    picked = p.pick(p.mentions[j])
    if gap or picked is None or picked.column is not None:
        return None
    if picked.table != p.main and not one_to_one_table(p, picked.table):
        return None
    return j


def _cond_column(p: Parser, lem: str) -> Element | None:
    """The main table's numeric column for a condition word, preferring one the question also names."""
    cols = [c for c in p.table(p.main).columns if lem in name_lemmas(c.name) and c.kind == "number"]
    if not cols:
        return None
    asked = {t.lemma for t in p.tokens}
    best = max(cols, key=lambda c: len(set(name_lemmas(c.name)) & asked))
    return Element(p.main, best.name)


def _cond_target(p: Parser, n: Cue, used_cues: set[int]) -> tuple[int, Element] | None:
    """A condition adjective after the number names the column compared: "more than 30 min late"."""
    for c in p.cues_of("cond"):
        if c.start < n.end or id(c) in used_cues:
            continue
        gap = [t for t in p.gap_words(n.end, c.start) if t.text not in UNIT_WORDS]
        if gap:
            break
        lem = lexicon.CONDITIONS[c.text][0]
        el = _cond_column(p, lem)
        if el is not None:
            used_cues.add(id(c))
            same = next((i for i, m in enumerate(p.mentions) if overlaps(m, c)), -1)
            return same, el
    return None


def _equality_link(p: Parser, n: Cue) -> Cue | None:
    """A number joined to the numeric column just before it: "a tomatometer of 100", "新鲜度为100"."""
    if n.kind != "number":
        return None
    m = next((m for m in reversed(p.mentions) if m.end <= n.start), None)
    if m is None or p.q[m.end : n.start].strip().lower() not in EQUALITY_LINKS:
        return None
    el = p.pick(m, "numeric")
    if el is None or el.column is None or loose_reading(p, m, el):
        return None
    return Cue("eq", m.end, n.start, p.q[m.end : n.start].strip())


def _counted_rows_before(p: Parser, comparator: Cue, n: Cue) -> int | None:
    """"航班超过1000次": the rows named right before a comparator, counted by the classifier after the number."""
    if n.kind != "number" or not float(n.value).is_integer() or comparator.end > n.start:
        return None
    after = next((t for t in p.tokens if t.start == n.end), None)
    if after is None or after.text not in lexicon.CLASSIFIERS:
        return None
    j = next((j for j, mm in enumerate(p.mentions) if mm.end == comparator.start), None)
    if j is None:
        return None
    picked = p.pick(p.mentions[j])
    if picked is None or picked.column is not None:
        return None
    return j if picked.table == p.main or one_to_one_table(p, picked.table) else None


def _names_groups(p: Parser, m: Mention, compared: Element) -> bool:
    """A text column named after a number ("超过10万的州") is what is counted or grouped, not the number's unit."""
    if any(el == compared for el, _ in m.elements):
        return False
    return any(el.column is not None and p.col(el).kind == "text" for el, _ in m.elements)


def _range_between(p: Parser, n: Cue, numbers: list[Cue], used_cues: set[int]) -> Cue | None:
    """Two numbers joined by to/到 form a range: 在5到10件之间, "from 90 to 120 minutes"."""
    second = next((x for x in numbers if x.start > n.end and id(x) not in used_cues), None)
    if second is None or p.q[n.end : second.start].strip().lower() not in ("到", "至", "to", "-", "~", "–"):
        return None
    closing = p.near_after(second.end, ("between",), window=1)
    opening = p.near_before(n.start, ("between",), window=1)
    if closing is None and opening is None and not p.q[: n.start].rstrip().endswith("在"):
        return None
    return Cue("between", n.start, second.end, p.q[n.start : second.end])
