"""Cue words of a question and the :class:`Parser` context (main table, mention helpers) the roles pass reads.

The parser is language-neutral: Chinese and English questions both become a position-ordered stream of
cues (aggregate words, "by", "which", comparators, numbers, dates) and mentions (columns, tables, values).
Roles are then assigned (``roles.assign_roles``) by simple, explainable rules: a numeric column near an aggregate word is a
measure, a column after "by"/"each"/"which" is a dimension, a value is a filter on the column holding it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from datasources.schema import Column, Schema, Table
from llm.base import WriterError
from llm.offline import lexicon
from llm.offline.linking import Element, Mention, ValueRef
from llm.offline.text import Token, name_lemmas, parse_number

_CURRENCIES = frozenset({"美元", "元", "块", "块钱", "dollars", "dollar", "usd", "bucks"})
_ZH_MAGNITUDES = {"万": 10_000, "亿": 100_000_000}
_NUM_RE = re.compile(
    r"^(\d+(?:,\d{3})*(?:\.\d+)?%?|[零〇一二两三四五六七八九十百千万]+)[" + lexicon.CLASSIFIERS + r"]?$"
)


@dataclass
class Cue:
    """A function word of the question."""

    kind: str
    start: int
    end: int
    text: str
    value: Any = None


def _phrase_table() -> dict[tuple[str, ...], list[str]]:
    table: dict[tuple[str, ...], list[str]] = {}
    for kind, words in lexicon.CUES_EN.items():
        for w in words:
            table.setdefault(tuple(w.split()), []).append(kind)
    for w, bucket in lexicon.BUCKET_WORDS.items():
        table.setdefault(tuple(w.split()), []).append("bucket:" + bucket)
    for w in lexicon.CONDITIONS:
        table.setdefault(tuple(w.split()), []).append("cond")
    for w in lexicon.PERIODS:
        table.setdefault(tuple(w.split()), []).append("period")
    for w in lexicon.SCALES:
        table.setdefault(tuple(w.split()), []).append("scale")
    return table


_EN_PHRASES = _phrase_table()
_ZH_CUES: dict[str, list[str]] = {}
for _kind, _words in lexicon.CUES_ZH.items():
    for _w in _words:
        _ZH_CUES.setdefault(_w, []).append(_kind)
for _w, _bucket in lexicon.BUCKET_WORDS.items():
    _ZH_CUES.setdefault(_w, []).append("bucket:" + _bucket)
for _w in lexicon.CONDITIONS:
    _ZH_CUES.setdefault(_w, []).append("cond")
for _w in lexicon.PERIODS:
    _ZH_CUES.setdefault(_w, []).append("period")
for _w in lexicon.SCALES:
    _ZH_CUES.setdefault(_w, []).append("scale")
_CUE_VALUES: dict[str, Any] = {**lexicon.PERIODS, **lexicon.SCALES}


def find_cues(question: str, tokens: list[Token]) -> list[Cue]:
    """Cue words, numbers, months and years, each with its span."""
    cues: list[Cue] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        matched = 0
        if not tok.zh:
            for n in range(min(5, len(tokens) - i), 0, -1):
                words = tuple(t.text for t in tokens[i : i + n])
                kinds = _EN_PHRASES.get(words)
                if kinds and all(not t.zh for t in tokens[i : i + n]):
                    if words in (("min",), ("mins",)) and i > 0 and _NUM_RE.match(tokens[i - 1].text):
                        break  # "30 min": a unit of minutes, not the minimum
                    end = tokens[i + n - 1].end
                    joined = " ".join(words)
                    cues.extend(Cue(k, tok.start, end, joined, _CUE_VALUES.get(joined)) for k in kinds)
                    matched = n
                    break
        else:
            for k in _ZH_CUES.get(tok.text, []):
                cues.append(Cue(k, tok.start, tok.end, tok.text, _CUE_VALUES.get(tok.text)))
        _number_cues(question, tokens, i, cues)
        i += max(matched, 1)
    _years_as_numbers(question, cues)
    cues = _order_statistics(question, cues)
    cues = _holidays(question, cues)
    cues = _period_changes(question, cues)
    cues = _text_patterns(question, cues)
    decades = [c for c in cues if c.kind == "decade"]
    cues = [
        c for c in cues if not (c.kind == "bucket:decade" and any(d.end >= c.end > d.start for d in decades))
    ]
    return sorted(cues, key=lambda c: (c.start, c.end))


_RANGE_JOINERS = ("and", "to", "-", "–", "~", "和", "到", "至", "与")
_MEDIAN = re.compile(r"\bmedian\b|中位数|中位值|中值", re.IGNORECASE)
_QUANTILE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:st|nd|rd|th)?[\s-]*percentile|第?\s*(\d+(?:\.\d+)?)\s*(?:个)?百分位数?|(upper|lower) quartile"
    r"|(第一|第三|上|下)四分位数?",
    re.IGNORECASE,
)


_HOLIDAY = re.compile(
    "(?:"
    + "|".join(rf"\b{re.escape(w)}\b" if w.isascii() else re.escape(w) for w in sorted(lexicon.HOLIDAYS, key=len, reverse=True))
    + ")"
    + r"(?:\s*day)?(?:当天|那天|当日)?",
    re.IGNORECASE,
)


def _holidays(question: str, cues: list[Cue]) -> list[Cue]:
    """A fixed-date holiday is a month and a day ("Christmas Day", 圣诞节当天)."""
    found = []
    for m in _HOLIDAY.finditer(question):
        key = next(
            (w for w in sorted(lexicon.HOLIDAYS, key=len, reverse=True) if m.group(0).lower().startswith(w.lower())),
            None,
        )
        if key is not None:
            found.append(Cue("holiday", m.start(), m.end(), m.group(0), lexicon.HOLIDAYS[key]))
    if not found:
        return cues
    return [c for c in cues if not any(f.start < c.end and c.start < f.end for f in found)] + found


_Q_OPEN, _Q_CLOSE = "'\"‘“「", "'\"’”」"
_QUOTED = rf"[{_Q_OPEN}]([^{_Q_OPEN}{_Q_CLOSE}]+)[{_Q_CLOSE}]"
_LITERAL = rf"(?:{_QUOTED}|([A-Z][A-Za-z0-9.&-]*))"  # quoted text, or one capitalised word
_IN_FIELD = r"(?:\s+(?i:in|within)\s+(?i:the|their|its|his|her)\s+\w+)?"
_TEXT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("prefix", re.compile(rf"(?i:\b(?:start|starts|starting|begin|begins|beginning)\s+with)\s+{_LITERAL}")),
    ("suffix", re.compile(rf"(?i:\b(?:end|ends|ending)\s+(?:in|with))\s+{_LITERAL}")),
    (
        "contains",
        re.compile(
            rf"(?i:\b(?:contain|contains|containing|include|includes|including|mention|mentions|mentioning"
            rf"|with|has|have|having)\s+(?:the\s+(?:word|words|text|string)\s+)?){_QUOTED}{_IN_FIELD}"
        ),
    ),
    ("contains", re.compile(rf"{_QUOTED}(?=\s+(?i:in|within)\s+(?i:the|their|its)\s+\w+){_IN_FIELD}")),
    (  # "with Love in the title": one capitalised word, unquoted, said to be in a text field
        "contains",
        re.compile(
            rf"(?i:\b(?:with|having|has|have))\s+([A-Z][A-Za-z0-9.&'-]*)"
            rf"(?=\s+(?i:in|within)\s+(?i:the|their|its|his|her)\s+\w+){_IN_FIELD}"
        ),
    ),
    ("prefix", re.compile(rf"(?:名字|名称)?以\s*(?:{_QUOTED}|([^\s{_Q_OPEN}]+?))\s*(?:开头|打头|开始的|起头)")),
    ("suffix", re.compile(rf"(?:名字|名称)?以\s*(?:{_QUOTED}|([^\s{_Q_OPEN}]+?))\s*(?:结尾|结束)")),
    ("contains", re.compile(rf"(?:包含|含有|带有|包括)\s*(?:{_QUOTED}|([A-Za-z][A-Za-z0-9.&-]*(?: [A-Za-z][A-Za-z0-9.&-]*)*))")),
)


def _text_patterns(question: str, cues: list[Cue]) -> list[Cue]:
    """Text matched by pattern: "starts with 'San'", "ending in 'ville'", "'Love' in the title", 以New开头, 包含"Star".

    The cue's value is ``(mode, literal, (start, end) of the literal)``; cues inside the phrase go.
    """
    found: list[Cue] = []
    for mode, pattern in _TEXT_PATTERNS:
        for m in pattern.finditer(question):
            group = 1 if m.group(1) is not None else 2
            if m.group(group) is None or any(f.start < m.end() and m.start() < f.end for f in found):
                continue
            literal = m.group(group).strip()
            found.append(Cue("pattern", m.start(), m.end(), m.group(0), (mode, literal, m.span(group))))
    if not found:
        return cues
    return [c for c in cues if not any(f.start < c.end and c.start < f.end for f in found)] + found


_UNITS = "year|quarter|month|week|day"
_PERIOD_CHANGE = re.compile(
    rf"\b({_UNITS})[\s-]+(?:over|on)[\s-]+(?:{_UNITS})\b|\bfrom one ({_UNITS}) to the next\b"
    rf"|\b(yoy|mom)\b|(同比|环比)(?:增长|变化|增减|涨跌)?",
    re.IGNORECASE,
)


def _period_changes(question: str, cues: list[Cue]) -> list[Cue]:
    """Period-over-period change: "year-over-year", "month over month", "from one month to the next", 同比, 环比.

    The cue's value is the period (同比 compares with the year before, 环比 with the period before, so it
    takes the grouping the question asks for, else the month). Cues inside the phrase ("over", "from") go.
    """
    found = []
    for m in _PERIOD_CHANGE.finditer(question):
        word = (m.group(1) or m.group(2) or m.group(3) or m.group(4) or "").lower()
        unit = {"yoy": "year", "mom": "month", "同比": "year", "环比": ""}.get(word, word)
        found.append(Cue("change", m.start(), m.end(), m.group(0), unit))
    if not found:
        return cues
    return [c for c in cues if not any(f.start < c.end and c.start < f.end for f in found)] + found


def _order_statistics(question: str, cues: list[Cue]) -> list[Cue]:
    """Median and percentiles as aggregate cues ("median delay", "90th percentile", 第75百分位数, 中位数).

    The number inside a percentile is its fraction, not a limit or a threshold, so cues inside the span go.
    """
    found: list[Cue] = []
    for m in _MEDIAN.finditer(question):
        found.append(Cue("median", m.start(), m.end(), m.group(0), 0.5))
    for m in _QUANTILE.finditer(question):
        number = m.group(1) or m.group(2)
        if number is not None:
            fraction = float(number) / 100
        else:
            fraction = 0.75 if (m.group(3) or m.group(4) or "").lower() in ("upper", "第三", "上") else 0.25
        if 0 < fraction < 1:
            found.append(Cue("quantile", m.start(), m.end(), m.group(0), fraction))
    if not found:
        return cues
    kept = [c for c in cues if not any(f.start < c.end and c.start < f.end for f in found)]
    return kept + found


def _years_as_numbers(question: str, cues: list[Cue]) -> None:
    """A year-like number that is a quantity: "2000 miles", "$1999", "between 1000 and 2000"."""
    numbers = [c for c in cues if c.kind == "number"]
    for c in cues:
        if c.kind != "year":
            continue
        after = question[c.end :].lstrip().lower()
        unit = re.match(r"[a-z]+|[\u4e00-\u9fff]{1,2}", after)
        before = question[: c.start].rstrip()
        paired = any(
            0 <= c.start - n.end <= 6 and question[n.end : c.start].strip().lower() in _RANGE_JOINERS
            for n in numbers
        )
        if (
            paired
            or before.endswith(("$", "¥", "￥"))
            or (unit is not None and unit.group(0) in lexicon.QUANTITY_UNITS)
        ):
            c.kind = "number"


def _decade(value: float) -> int | None:
    """The first year of a decade written as 90, 1990 or 2000 (as in "the 90s", "1990s", "90年代")."""
    if not value.is_integer():
        return None
    v = int(value)
    if v < 100 and v % 10 == 0:
        return (1900 if v >= 30 else 2000) + v
    return v if 1900 <= v <= 2090 and v % 10 == 0 else None


def _number_cues(question: str, tokens: list[Token], i: int, cues: list[Cue]) -> None:
    tok = tokens[i]
    nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
    prev = tokens[i - 1].text if i > 0 else ""
    if (
        tok.text in lexicon.MONTHS_EN
        and (tok.text != "may" or question[tok.start].isupper())
        and tok.text not in ("mar", "dec", "jan", "sep", "oct", "nov", "aug", "apr", "jun", "jul", "feb")
        or tok.text in ("jan", "feb", "aug", "sept", "oct", "nov", "dec")
        and question[tok.start].isupper()
    ):
        cues.append(Cue("month", tok.start, tok.end, tok.text, lexicon.MONTHS_EN[tok.text]))
        return
    m = _NUM_RE.match(tok.text)
    if m is None and not (tok.text in lexicon.EN_NUMBERS and tok.text not in ("a", "an")):
        if tok.text in ("a", "an", "half") and nxt in lexicon.HOUR_WORDS:
            cues.append(
                Cue(
                    "number_hours", tok.start, tokens[i + 1].end, tok.text, 0.5 if tok.text == "half" else 1.0
                )
            )
        return
    if tok.text in _ZH_MAGNITUDES and _NUM_RE.match(prev):
        return  # the 万 of "1000万" belongs to the number before it
    value = parse_number(m.group(1) if m else tok.text)
    if value is None:
        return
    if nxt in _ZH_MAGNITUDES and not tok.zh:  # "5亿", "3000万": a Chinese magnitude after digits
        cues.append(Cue("number", tok.start, tokens[i + 1].end, tok.text + nxt, value * _ZH_MAGNITUDES[nxt]))
        return
    if nxt[:1] in _ZH_MAGNITUDES and nxt[1:] in _CURRENCIES and not tok.zh:  # "100万美元": jieba keeps 万美元 whole
        cues.append(Cue("number", tok.start, tokens[i + 1].end, tok.text + nxt, value * _ZH_MAGNITUDES[nxt[:1]]))
        return
    if nxt in _CURRENCIES and not tok.zh and not (value.is_integer() and 1900 <= value <= 2100 and nxt == "元"):
        cues.append(Cue("number", tok.start, tokens[i + 1].end, tok.text + nxt, value))  # "1000美元", "50 dollars"
        return
    suffix = question[tok.end : tok.end + 2]
    if (suffix[:1] == "s" and not suffix[1:2].isalpha() or suffix == "'s" or nxt == "年代") and _decade(
        value
    ):
        end = tokens[i + 1].end if nxt in ("年代", "s") else tok.end + len(suffix)
        cues.append(Cue("decade", tok.start, end, question[tok.start : end], _decade(value)))
        return
    if nxt in ("月", "月份") and 1 <= value <= 12:
        cues.append(Cue("month", tok.start, tokens[i + 1].end, tok.text + nxt, int(value)))
    elif nxt in ("日", "号") and 1 <= value <= 31:
        cues.append(Cue("day", tok.start, tokens[i + 1].end, tok.text + nxt, int(value)))
    elif value.is_integer() and 1900 <= value <= 2100 and "%" not in tok.text:
        cues.append(Cue("year", tok.start, tok.end, tok.text, int(value)))
    elif (
        nxt in lexicon.HOUR_WORDS
        or nxt + (tokens[i + 2].text if i + 2 < len(tokens) else "") in lexicon.HOUR_WORDS
    ):
        cues.append(Cue("number_hours", tok.start, tokens[i + 1].end, tok.text, value))
    else:
        kind = "number"
        if prev in lexicon.MONTHS_EN and 1 <= value <= 31 and value.is_integer():
            kind = "day"
        cues.append(Cue(kind, tok.start, tok.end, tok.text, value))


class Parser:
    """Assigns roles to the mentions of one question."""

    def __init__(self, question: str, schema: Schema, tokens: list[Token], mentions: list[Mention]) -> None:
        self.q = question
        self.schema = schema
        self.tokens = tokens
        self.mentions = mentions
        self.cues = find_cues(question, tokens)
        literals = [c.value[2] for c in self.cues if c.kind == "pattern"]
        # The literal of a text pattern is matched as text, never linked as a value or a column.
        self.mentions = [m for m in mentions if not any(a < m.end and m.start < b for a, b in literals)]
        self.trace: list[str] = []
        self.main = self._choose_main()

    # ------------------------------------------------------------------------------------------ helpers

    def table(self, name: str) -> Table:
        """The schema table called ``name``."""
        t = self.schema.table(name)
        assert t is not None
        return t

    def col(self, el: Element) -> Column:
        """The schema column of a column element."""
        c = self.table(el.table).column(el.column or "")
        assert c is not None
        return c

    def cues_of(self, *kinds: str) -> list[Cue]:
        """Cues of the given kinds."""
        return [c for c in self.cues if c.kind in kinds or any(c.kind.startswith(k + ":") for k in kinds)]

    def has(self, *kinds: str) -> bool:
        """Whether any cue of these kinds occurs."""
        return bool(self.cues_of(*kinds))

    def gap_words(self, start: int, end: int) -> list[Token]:
        """Tokens strictly between two offsets, minus filler words."""
        filler = {
            "the",
            "a",
            "an",
            "of",
            "的",
            "是",
            "有",
            "in",
            "for",
            "with",
            "and",
            "that",
            "each",
            "個",
            "are",
            "is",
            "was",
            "were",
            "do",
            "does",
            "did",
            "have",
            "has",
            "had",
            "all",
            "to",
            "by",
        }
        return [t for t in self.tokens if start <= t.start and t.end <= end and t.text not in filler]

    def near_before(
        self, pos: int, kinds: Iterable[str], window: int = 2, max_between: int = 1
    ) -> Cue | None:
        """The closest cue of ``kinds`` ending before ``pos`` with at most ``window`` content words between."""
        kinds = tuple(kinds)
        best: Cue | None = None
        for c in self.cues:
            if c.end <= pos and (c.kind in kinds or any(c.kind.startswith(k + ":") for k in kinds)):
                gap = [t for t in self.gap_words(c.end, pos) if not self._is_mention_or_cue(t)]
                between = [m for m in self.mentions if c.end <= m.start and m.end <= pos]
                if len(gap) <= window and len(between) <= max_between:
                    best = c
        return best

    def near_after(self, pos: int, kinds: Iterable[str], window: int = 2) -> Cue | None:
        """The closest cue of ``kinds`` starting after ``pos``."""
        kinds = tuple(kinds)
        for c in self.cues:
            if c.start >= pos and (c.kind in kinds or any(c.kind.startswith(k + ":") for k in kinds)):
                gap = [t for t in self.gap_words(pos, c.start) if not self._is_mention_or_cue(t)]
                if len(gap) <= window:
                    return c
        return None

    def _is_mention_or_cue(self, t: Token) -> bool:
        return any(c.start <= t.start and t.end <= c.end for c in self.cues)

    def is_numeric(self, el: Element) -> bool:
        """Whether an element is a numeric column."""
        return el.column is not None and self.col(el).kind == "number"

    def is_time_part(self, el: Element) -> bool:
        """Whether a numeric column is a calendar part (year, month, hour ...)."""
        if el.column is None:
            return False
        lem = name_lemmas(el.column)
        return len(lem) == 1 and lem[0] in lexicon.TIME_PARTS

    def is_dimension_like(self, el: Element) -> bool:
        """Text columns, calendar parts and small-cardinality integers are grouped on, not summed."""
        if el.column is None:
            return True
        c = self.col(el)
        if c.kind in ("text", "bool"):
            return True
        if c.kind == "time":
            return True
        return self.is_time_part(el)

    def reachable(self) -> dict[str, list[tuple[str, str, str]]]:
        """Tables one foreign key away from the main table: name -> [(main column, ref table, ref column)]."""
        out: dict[str, list[tuple[str, str, str]]] = {}
        for fk in self.table(self.main).foreign_keys:
            out.setdefault(fk.ref_table, []).append((fk.column, fk.ref_table, fk.ref_column))
        for t in self.schema.tables:
            for fk in t.foreign_keys:
                if fk.ref_table == self.main and t.name != self.main:
                    out.setdefault(t.name, []).append((fk.ref_column, t.name, fk.column))
        return out

    # ------------------------------------------------------------------------------------------ main table

    def _choose_main(self) -> str:
        scores: dict[str, float] = {t.name: 0.0 for t in self.schema.tables}
        for m in self.mentions:
            best: dict[str, float] = {}
            for el, w in m.elements:
                best[el.table] = max(best.get(el.table, 0.0), w)
            for v in m.values:
                best[v.table] = max(best.get(v.table, 0.0), 0.8)
            for name, w in best.items():
                scores[name] += w
        for table in self.schema.tables:
            linked = {fk.ref_table for fk in table.foreign_keys if scores.get(fk.ref_table, 0) > 0}
            if scores[table.name] > 0:
                scores[table.name] += 0.2 * len(linked)
        if not any(scores.values()):
            if len(self.schema.tables) == 1:
                return self.schema.tables[0].name
            raise WriterError(
                "I could not link any word of the question to a table or column of this datasource.",
                kind="not_understood",
            )
        return max(self.schema.tables, key=lambda t: (round(scores[t.name], 3), t.row_count or 0)).name

    # ------------------------------------------------------------------------------------------ picking

    def pick(self, m: Mention, prefer: str = "") -> Element | None:
        """The best element for a mention, preferring the main table and the requested kind."""
        reach = self.reachable()
        best: tuple[float, Element] | None = None
        for el, w in m.elements:
            if el.table != self.main and el.table not in reach:
                continue
            if prefer == "numeric" and (
                el.column is None or not self.is_numeric(el) or self.is_time_part(el)
            ):
                continue
            if el.column is not None and self.col(el).distinct_count == 0:
                continue  # an empty column answers nothing
            s = w + (0.35 if el.table == self.main else 0.0)
            if (
                prefer == "measure"
                and el.column is not None
                and self.is_numeric(el)
                and not self.is_time_part(el)
            ):
                s += 0.3
            if prefer == "dim" and self.is_dimension_like(el):
                s += 0.3
            if el.column is None and el.table != self.main:
                s += 0.05
            if el.column is None and el.table == self.main and w >= 0.8:
                s += 0.45  # "flights" is the rows of flights, not the flight-number column
            if best is None or s > best[0] + 1e-9:
                best = (s, el)
        return best[1] if best else None

    def pick_value(self, m: Mention) -> ValueRef | None:
        """The column a value belongs to, using main table, from/to cues and other mentions."""
        reach = self.reachable()
        mentioned = {el for mm in self.mentions for el, _ in mm.elements}
        direction = ""
        before = self.near_before(m.start, ("from", "to"), window=1)
        if before is not None:
            direction = before.kind
        after = next((t for t in self.tokens if t.start >= m.end), None)
        if after is not None and after.lemma in ("departure", "origin"):
            direction = "from"
        if after is not None and after.lemma in ("arrival", "destination"):
            direction = direction or "to"
        best: tuple[float, ValueRef] | None = None
        for idx, v in enumerate(m.values):
            if v.table != self.main and v.table not in reach:
                continue
            s = (1.0 if v.table == self.main else 0.4) - idx * 0.001
            lem = name_lemmas(v.column)
            if Element(v.table, v.column) in mentioned:
                s += 0.5
            if direction == "from" and {"origin", "departure", "source", "from"} & set(lem):
                s += 0.6
            if direction == "to" and {"destination", "arrival", "to", "target"} & set(lem):
                s += 0.6
            if best is None or s > best[0]:
                best = (s, v)
        return best[1] if best else None

    def null_condition(self, tok: Token) -> Element | None:
        """The main table's column that is NULL when the word holds ("NULL if cancelled", "为空表示航班取消")."""
        key = _event_key(tok.text)
        if len(key) < 3 and not tok.zh:
            return None
        for c in self.table(self.main).columns:
            en = re.search(
                r"\b(?:null|empty|missing|blank) (?:if|when|for) ([a-z ]+)", c.description_en.lower()
            )
            if (
                en
                and not tok.zh
                and key in {_event_key(w) for w in re.split(r"\W+", en.group(1)) if w not in ("or", "and")}
            ):
                return Element(self.main, c.name)
            zh = re.search(r"为空表示([\u4e00-\u9fff]+)", c.description_zh)
            if (
                zh
                and tok.zh
                and len(tok.text) >= 2
                and any(w.endswith(tok.text) for w in re.split("或|和|、", zh.group(1)))
            ):
                return Element(self.main, c.name)
        return None

    def label_column(self, table: str) -> Column | None:
        """The column that names a row of ``table`` (name, title, label), if any."""
        t = self.table(table)
        for c in t.columns:
            if c.kind == "text" and set(name_lemmas(c.name)) & {"name", "movie", "title", "label"}:
                return c
        return None


def _event_key(word: str) -> str:
    """A crude verb stem so cancelled, canceled, cancellation and cancel compare equal."""
    w = word.lower().rstrip("s")
    for suffix in ("lation", "ation", "ed", "ing"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            w = w[: -len(suffix)]
            break
    return w[:-1] if len(w) > 2 and w[-1] == w[-2] else w


__all__ = ["Cue", "Parser", "find_cues"]
