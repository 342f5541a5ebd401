"""Role passes on time: buckets, period-over-period change, date filters, named periods."""

from __future__ import annotations

import re

from datasources.schema import Column
from llm.base import WriterError
from llm.offline import lexicon
from llm.offline.intent import Dimension, Filter
from llm.offline.linking import Element
from llm.offline.parse import Cue, Parser
from llm.offline.roles_shared import (
    CMP,
    EACH_VALUE,
    GROUP_CUES,
    calendar_name,
    dated,
    one_to_one_table,
    overlaps,
)
from llm.offline.roles_state import RoleState
from llm.offline.text import name_lemmas


def time_buckets(s: RoleState) -> None:
    """Classifier words after a number, then time buckets ("monthly", "by month", 每月)."""
    p, intent = s.p, s.intent
    # A classifier right after a number ("前3名", "5部") counts, it names nothing.
    for i, m in enumerate(p.mentions):
        if (
            len(m.text) == 1
            and m.text in lexicon.CLASSIFIERS
            and any(c.end == m.start for c in p.cues if c.kind == "number")
        ):
            s.used.add(i)

    # Time buckets ("monthly", "by month", 每月).
    for c in p.cues_of("bucket"):
        unit_name = c.kind.split(":")[1]
        found = _time_column(p, unit_name) if unit_name != "decade" else _time_column(p, "year")
        if found and not any(d.column == found[0] for d in intent.dims):
            bucket = found[1] if unit_name != "decade" else "decade"
            intent.dims.append(Dimension(found[0], bucket))
            intent.trace.append(
                f"'{c.text}' → group by {found[0].label()}{' (' + bucket + ')' if bucket else ''}"
            )
        s.used.update(i for i, m in enumerate(p.mentions) if overlaps(m, c))


def period_change(s: RoleState) -> None:
    """Period-over-period change (环比) and the calendar word after "which" (哪个月)."""
    p, intent = s.p, s.intent
    # Period-over-period change ("year-over-year", 环比): group by the period, then subtract the previous row.
    for c in p.cues_of("change"):
        unit = c.value or next((d.bucket or calendar_name(d.column) for d in intent.dims), None) or "month"
        found = _time_column(p, unit)
        if found is None:
            raise WriterError(f"'{c.text}': this datasource has no {unit} to compare by.", kind="not_understood")
        if not any(d.column == found[0] for d in intent.dims):
            intent.dims.insert(0, Dimension(found[0], found[1]))
        intent.change = "diff"
        intent.spans.append((c.start, c.end))
        s.used.update(i for i, m in enumerate(p.mentions) if overlaps(m, c))
        intent.trace.append(f"'{c.text}' → by {found[0].label()}, minus the previous {unit}")

    # "哪个月", "哪一年": the calendar word after "which" is grouped on (a lone character links to no column).
    for c in p.cues_of("which"):
        word = next((t for t in p.tokens if t.start >= c.end), None)
        calendar = _ZH_CALENDAR.get(word.text) if word is not None and word.start == c.end else None
        found = _time_column(p, calendar) if calendar is not None else None
        if word is not None and found and not any(d.column == found[0] for d in intent.dims):
            intent.dims.append(Dimension(found[0], found[1]))
            intent.trace.append(f"'{c.text}{word.text}' → group by {found[0].label()}")


def date_filters(s: RoleState) -> None:
    """Decades, holidays, years, months and days → date filters and ranges."""
    p, intent = s.p, s.intent
    for c in p.cues:
        if c.kind == "decade":
            _decade_filter(s, c)
            continue
        if c.kind == "holiday":
            _holiday_filter(s, c)
            continue
        if c.kind not in ("year", "month", "day"):
            continue
        found = _time_column(p, c.kind)
        if found is None:
            intent.trace.append(f"'{c.text}': no {c.kind} column, ignored")
            continue
        el, part = found
        op = "="
        cmp_cue = p.near_before(c.start, ("gt", "ge", "lt", "le"), window=1) or _own_comparator_after(p, c)
        if c.kind == "year":
            year_col = _named_year_column(
                p, cmp_cue.start if cmp_cue is not None and cmp_cue.end <= c.start else c.start
            )
            if year_col is not None and year_col[1] != el:  # "planes built before 1990": the year the noun names
                s.used.add(year_col[0])
                el, part = year_col[1], None
        whole_month = c.kind == "month" and not p.cues_of("day") and not p.cues_of("holiday")
        if cmp_cue is not None and (c.kind == "year" or whole_month and _adjacent(p, cmp_cue, c)):
            # "since 2010", "before March", 3月以后: a comparison on the year or the month number
            op = ">=" if cmp_cue.text in ("since", "以来", "起", "至今") else CMP[cmp_cue.kind]
            s.used_cues.add(id(cmp_cue))
        if c.kind in ("month", "day"):
            same = next((f for f in intent.filters if f.column == el and f.part == part and f.op == "="), None)
            if same is not None and c.kind == "month" and same.value == c.value:
                continue  # "March 10 and March 20": the month said twice
            earlier = [x for x in p.cues if x.kind == "month" and x.end <= c.start]
            # the words between the two months, without a year said with the first ("March 2005 through June")
            joiner = re.sub(r"\d{4}年?|,", " ", p.q[earlier[-1].end : c.start]).strip().lower() if earlier else ""
            if same is not None and c.kind == "month" and whole_month and joiner in _MONTH_JOINERS:
                # "from March through May", 3月到5月 → between; "March and April" → both months
                low, high = sorted((same.value, c.value))
                ranged = _MONTH_JOINERS[joiner] or p.near_before(earlier[-1].start, ("between",), window=0)
                same.op, same.value, same.value2 = ("between", low, high) if ranged else ("in", [low, high], None)
                intent.trace.append(f"'{c.text}' → {same.describe()}")
                if _MONTH_JOINERS[joiner] is None and not any(d.column == el for d in intent.dims):
                    intent.dims.append(Dimension(el, part))  # "May vs June": one group per month
                    intent.trace.append(f"'{joiner}' → group by {el.label()}")
                continue
            if same is not None and c.kind == "month":
                raise WriterError(
                    f"'{c.text}': a date range across months is not something I can write yet.",
                    kind="not_understood",
                    suggestion="Ask month by month, or for whole months (e.g. 'from March through May').",
                )
            if same is not None:  # "December 20 through 31", 12月20日到31日: a range of days
                low, high = sorted((same.value, c.value))
                same.op, same.value, same.value2 = "between", low, high
                intent.trace.append(f"'{c.text}' → {same.describe()}")
                continue
        if (
            any(f.column == el and f.part == part and f.op == "=" for f in intent.filters)
            and c.kind == "year"
        ):
            prev = next(f for f in intent.filters if f.column == el and f.part == part and f.op == "=")
            prev.op, prev.value2 = "between", c.value
            continue
        intent.filters.append(Filter(el, op, c.value, part=part))
        intent.trace.append(f"'{c.text}' → {intent.filters[-1].describe()}")
        s.used.update(i for i, m in enumerate(p.mentions) if overlaps(m, c))
        _date_verb_before(
            p, cmp_cue.start if cmp_cue is not None and cmp_cue.end <= c.start else c.start, s.used
        )

    month_range = any(f.op in ("between", "in") and f.part == "month" or _is_month_col(f.column) and f.op in ("between", "in") for f in intent.filters)
    years = [f for f in intent.filters if f.op == "between" and f.value != f.value2 and (f.part == "year" or "year" in name_lemmas(f.column.column or ""))]
    if month_range and years:
        raise WriterError(
            "A range of months across several years is not something I can write yet.",
            kind="not_understood",
            suggestion="Ask for one year at a time (e.g. 'from March through June 2005').",
        )



def _decade_filter(s: RoleState, c: Cue) -> None:
    """"The 90s", "since the 90s", 90年代以前 → a range of years, or from/before its first year."""
    p, intent = s.p, s.intent
    found = _time_column(p, "year")
    if found is None:
        raise WriterError(
            f"'{c.text}': this datasource has no year to filter on.", kind="not_understood"
        )
    cmp_cue = p.near_before(c.start, ("gt", "ge", "lt", "le"), window=1) or _own_comparator_after(
        p, c
    )
    if cmp_cue is None:
        f = Filter(found[0], "between", c.value, c.value + 9, part=found[1])
    elif cmp_cue.kind in ("gt", "ge"):  # "since the 90s", 90年代以来: from the decade's first year
        f = Filter(found[0], ">=", c.value, part=found[1])
        s.used_cues.add(id(cmp_cue))
    else:  # "before the 90s"
        f = Filter(found[0], "<", c.value, part=found[1])
        s.used_cues.add(id(cmp_cue))
    intent.filters.append(f)
    intent.trace.append(f"'{c.text}' → {f.describe()}")
    _date_verb_before(
        p, cmp_cue.start if cmp_cue is not None and cmp_cue.end <= c.start else c.start, s.used
    )


def _holiday_filter(s: RoleState, c: Cue) -> None:
    """A fixed-date holiday ("Christmas Day", 圣诞节当天) → its month and day."""
    p, intent = s.p, s.intent
    month, day = c.value
    found_m, found_d = _time_column(p, "month"), _time_column(p, "day")
    if found_m is None or found_d is None:
        raise WriterError(f"'{c.text}': this datasource has no date to filter on.", kind="not_understood")
    for (hel, hpart), v in ((found_m, month), (found_d, day)):
        intent.filters.append(Filter(hel, "=", v, part=hpart))
    intent.trace.append(f"'{c.text}' → month {month}, day {day}")
    s.used.update(i for i, m in enumerate(p.mentions) if overlaps(m, c))
    _date_verb_before(p, c.start, s.used)



def named_periods(s: RoleState) -> None:
    """Named periods: "summer", "first half of the year", "Q4", 上半年, 周末 → months or days of the week."""
    p, intent = s.p, s.intent
    for c in p.cues_of("period"):
        part, covered = c.value
        found = _time_column(p, part)
        if found is None:
            raise WriterError(
                f"'{c.text}': this datasource has no {'date' if part == 'dow' else part} to filter on.",
                kind="not_understood",
            )
        el, as_part = found
        split_days = part == "dow" and any(d.column == el and d.bucket == "weekday" for d in intent.dims)
        if split_days and (p.has("compare") or EACH_VALUE.search(p.q)) or any(
            f.column == el and f.part == as_part and f.op in ("in", "between") for f in intent.filters
        ):
            raise WriterError(
                f"'{c.text}': comparing two periods side by side (weekends vs weekdays, summer vs winter) is not "
                "something I can write yet.",
                kind="not_understood",
                suggestion="Ask about one period at a time.",
            )
        values = sorted(covered)
        contiguous = values == list(range(values[0], values[-1] + 1))
        f = (
            Filter(el, "between", values[0], values[-1], part=as_part)
            if contiguous and len(values) > 2
            else Filter(el, "in", list(covered), part=as_part)
        )
        intent.filters.append(f)
        intent.trace.append(f"'{c.text}' → {f.describe()}")
        s.used.update(i for i, m in enumerate(p.mentions) if overlaps(m, c))


_ZH_CALENDAR = {"月": "month", "月份": "month", "年": "year", "年份": "year", "天": "day", "日": "day"}

# Words joining two months: True for a range ("March through May"), False for the two months themselves.
_MONTH_JOINERS: dict[str, bool | None] = {
    **dict.fromkeys(("to", "through", "thru", "until", "till", "-", "–", "~", "到", "至"), True),
    **dict.fromkeys(("and", "or", "和", "与", "或", ",", "、"), False),
    **dict.fromkeys(("vs", "vs.", "versus", "compared with", "compared to", "对比", "相比"), None),
}


def _time_column(p: Parser, part: str) -> tuple[Element, str | None] | None:
    """The main table's column for a calendar part: a ``month`` column, else a date/time column."""
    for name in [p.main, *sorted(p.reachable(), key=lambda n: not one_to_one_table(p, n))]:
        t = p.table(name)
        for c in t.columns:
            if name_lemmas(c.name) == [part] and c.kind in ("number", "text"):
                return Element(t.name, c.name), None
        for c in t.columns:
            if part == "quarter" and name_lemmas(c.name) == ["month"] and c.kind == "number":
                return Element(t.name, c.name), "quarter"  # a quarter is three of the month numbers
        for c in t.columns:
            if c.kind == "time" or _text_date(p, c) and part in ("month", "day", "quarter", "dow"):
                return Element(t.name, c.name), part
        if part == "year":
            for c in t.columns:
                if "year" in name_lemmas(c.name) and c.kind == "number":
                    return Element(t.name, c.name), None
        if name == p.main and part not in ("year", "month", "day", "decade"):
            break  # only calendar parts are looked up through a foreign key
    return None


def _is_month_col(el: Element) -> bool:
    return name_lemmas(el.column or "") == ["month"]


def _text_date(p: Parser, c: Column) -> bool:
    """A date kept as ISO text ("Release date as text YYYY-MM-DD"), whose parts SQLite's strftime reads."""
    return (
        p.schema.dialect == "sqlite"
        and c.kind == "text"
        and "yyyy-mm-dd" in c.description_en.lower()
        and (c.distinct_count or 0) > 1
    )


def _own_comparator_after(p: Parser, c: Cue) -> Cue | None:
    """A comparator after a year ("2000 onwards", 2000年以后), unless it leads to a number of its own."""
    cmp_cue = p.near_after(c.end, ("gt", "ge", "lt", "le"), window=1)
    if cmp_cue is None:
        return None
    owned = any(
        n.kind in ("number", "number_hours", "year")
        and n.start >= cmp_cue.end
        and not p.gap_words(cmp_cue.end, n.start)
        for n in p.cues
    )
    return None if owned else cmp_cue


def _named_year_column(p: Parser, pos: int) -> tuple[int, Element] | None:
    """A year column named by the words right before a year ("aircraft built in 1990" → planes.year)."""
    reach = p.reachable()
    for i, m in enumerate(p.mentions):
        if m.end > pos or len(p.gap_words(m.end, pos)) > 1:
            continue
        for el, _ in m.elements:
            if (
                el.column is not None
                and (el.table == p.main or el.table in reach)
                and "year" in name_lemmas(el.column)
                and p.col(el).kind == "number"
            ):
                return i, el
    return None


def _adjacent(p: Parser, a: Cue, b: Cue) -> bool:
    """Whether two cues touch, with at most an article between ("before March", "since the 1st")."""
    gap = p.q[a.end : b.start] if a.end <= b.start else p.q[b.end : a.start]
    return gap.strip().lower() in ("", "the")


def _date_verb_before(p: Parser, pos: int, used: set[int]) -> None:
    """A date verb right before a date filter is part of that filter: "released in 2014", 2000年以后上映."""
    for i, m in enumerate(p.mentions):
        if i in used or m.end > pos or p.gap_words(m.end, pos):
            continue
        el = p.pick(m)
        if (
            el is not None
            and el.column is not None
            and dated(p, el)
            and not p.near_before(m.start, GROUP_CUES, window=0)
        ):
            used.add(i)


_DAY_OF_MONTH = re.compile(r"\bdays? of (?:the |each |a )?month\b|几号|几日|每月的?(?:哪|几)", re.IGNORECASE)


def calendar_dates(s: RoleState) -> None:
    """"per day", "the coldest day": a day column next to month (and year) columns is a date, not a day of month.

    Grouping by ``day`` alone would add up the 1st of every month; the date is the day with its month and year,
    unless those are fixed by an equality filter or the question asks for the day of the month.
    """
    p, intent = s.p, s.intent
    if _DAY_OF_MONTH.search(p.q):
        return
    for d in list(intent.dims):
        if d.bucket is not None or d.column.column is None or name_lemmas(d.column.column) != ["day"]:
            continue
        table = p.table(d.column.table)
        coarser = []
        for part in ("year", "month"):
            col = next((c for c in table.columns if name_lemmas(c.name) == [part] and c.kind == "number"), None)
            if col is None:
                continue
            el = Element(table.name, col.name)
            fixed = any(f.column == el and f.op == "=" for f in intent.filters) or any(x.column == el for x in intent.dims)
            if not fixed:
                coarser.append(Dimension(el))
        if coarser:
            at = intent.dims.index(d)
            intent.dims[at:at] = coarser
            intent.trace.append(
                f"'day' is a date: grouped by {', '.join(c.column.label() for c in coarser)} and {d.column.label()}"
            )
