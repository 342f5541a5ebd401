"""Helpers and word lists several role passes share: spans, one-to-one keys, minutes and units, default aggregates."""

from __future__ import annotations

import re

from llm.offline import lexicon
from llm.offline.intent import Agg
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue, Parser
from llm.offline.text import name_lemmas

CMP = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "="}  # comparator cue kind → SQL operator
AGG_CUES = ("avg", "sum", "max", "min", "median", "quantile")  # cue kinds naming an aggregate
GROUP_CUES = ("by", "which", "top", "bottom", "bucket")  # cue kinds that make the next mention a group


def overlaps(a: Mention | Cue, b: Mention | Cue) -> bool:
    """Whether two spans of the question overlap."""
    return a.start < b.end and b.start < a.end


def one_to_one_table(p: Parser, other: str) -> bool:
    """Whether ``other`` shares the main table's key one-to-one."""
    fks = p.reachable().get(other, [])
    return bool(fks) and all(mine == theirs and one_to_one(p, mine, other) for mine, _, theirs in fks)


def in_minutes(p: Parser, el: Element) -> bool:
    """Whether a column counts minutes (a delay, a runtime): hours are converted for it."""
    c = p.col(el)
    return (
        "minute" in c.description_en.lower()
        or "分钟" in c.description_zh
        or bool({"delay", "time", "runtime"} & set(name_lemmas(c.name)))
    )


EACH_VALUE = re.compile(r"分别|各自|各有|各是|各为|各占|respectively|\bvs\.?\b|\bversus\b|对比|相比", re.IGNORECASE)


def unique(items: list[Element]) -> list[Element]:
    """The elements in their first order, each once."""
    out: list[Element] = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


def one_to_one(p: Parser, main_col: str, other: str) -> bool:
    """Whether the main table and ``other`` share a key one-to-one (omdb and tomatoes by ID)."""
    main, ref = p.table(p.main), p.table(other)
    col = main.column(main_col)
    return bool(col is not None and col.primary_key) or (
        main.row_count is not None and main.row_count == ref.row_count
    )


def default_agg(el: Element) -> Agg:
    """The aggregate a bare measure gets: SUM for additive columns, AVG otherwise (the lexicon names the additive words)."""
    lemmas = name_lemmas(el.column or "")
    # "BoxOffice" splits into box + office; the lexicon may know the compound ("boxoffice").
    return "sum" if set(lemmas) & lexicon.ADDITIVE or "".join(lemmas) in lexicon.ADDITIVE else "avg"


UNIT_WORDS = frozenset({"min", "mins", "minute", "minutes", "分钟", "分", *lexicon.HOUR_WORDS})


def unit_column(p: Parser, n: Cue) -> tuple[int, Element] | None:
    """No column named, but a time unit points at the main table's duration: "longer than 3 hours"."""
    nxt = next((t.text for t in p.tokens if t.start >= n.end), "")
    if n.kind == "number" and nxt and not nxt.isascii():  # "10件": the column measured in 件 (订购数量（件）)
        units = [c for c in p.table(p.main).columns if c.kind == "number" and f"（{nxt}）" in c.description_zh]
        if len(units) == 1:
            return -1, Element(p.main, units[0].name)
    if n.kind != "number_hours" and nxt not in UNIT_WORDS:
        return None
    best: tuple[int, Element] | None = None
    for c in p.table(p.main).columns:
        el = Element(p.main, c.name)
        if c.kind != "number" or "minute" not in c.description_en.lower() or "delay" in name_lemmas(c.name):
            continue
        rank = 2 if {"runtime", "time", "duration"} & set(name_lemmas(c.name)) else 1
        if best is None or rank > best[0]:
            best = (rank, el)
    return (-1, best[1]) if best is not None else None


EQUALITY_LINKS = ("of", "=", "is", "was", "equal", "为", "是", "等于", "达到")


def calendar_name(el: Element) -> str | None:
    """The calendar part a column is named after (``month`` for flights.month), if any."""
    lem = name_lemmas(el.column or "")
    return lem[0] if len(lem) == 1 and lem[0] in lexicon.TIME_PARTS else None


def dated(p: Parser, el: Element) -> bool:
    """A date column (typed, or text described as a date)."""
    if el.column is None:
        return False
    c = p.col(el)
    return c.kind == "time" or (c.kind == "text" and "date" in c.description_en.lower())


def loose_reading(p: Parser, m: Mention, el: Element) -> bool:
    """Whether ``el`` is only a loose reading of the mention: "films" are rows, not the film id."""
    normal = p.pick(m)
    weight = max((w for e, w in m.elements if e == el), default=0.0)
    return weight < 0.5 or (normal is not None and normal.column is None)
