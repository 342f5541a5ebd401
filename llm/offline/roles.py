"""Role assignment: which mention is a measure, a dimension, a filter, a limit or the thing counted."""

from __future__ import annotations

import re

from datasources.schema import Column
from llm.base import WriterError
from llm.offline import lexicon
from llm.offline.intent import Agg, Dimension, Filter, Intent, Measure, describe_agg
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue, Parser
from llm.offline.text import Token, name_lemmas, stem

_ZH_CALENDAR = {"月": "month", "月份": "month", "年": "year", "年份": "year", "天": "day", "日": "day"}
_CMP = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "="}
_AGG_CUES = ("avg", "sum", "max", "min", "median", "quantile")
_GROUP_CUES = ("by", "which", "top", "bottom", "bucket")


# Words joining two months: True for a range ("March through May"), False for the two months themselves.
_MONTH_JOINERS: dict[str, bool | None] = {
    **dict.fromkeys(("to", "through", "thru", "until", "till", "-", "–", "~", "到", "至"), True),
    **dict.fromkeys(("and", "or", "和", "与", "或", ",", "、"), False),
    **dict.fromkeys(("vs", "vs.", "versus", "compared with", "compared to", "对比", "相比"), None),
}


def _overlaps(a: Mention | Cue, b: Mention | Cue) -> bool:
    return a.start < b.end and b.start < a.end


def _time_column(p: Parser, part: str) -> tuple[Element, str | None] | None:
    """The main table's column for a calendar part: a ``month`` column, else a date/time column."""
    for name in [p.main, *sorted(p.reachable(), key=lambda n: not _one_to_one_table(p, n))]:
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


def _one_to_one_table(p: Parser, other: str) -> bool:
    """Whether ``other`` shares the main table's key one-to-one."""
    fks = p.reachable().get(other, [])
    return bool(fks) and all(mine == theirs and _one_to_one(p, mine, other) for mine, _, theirs in fks)


def _minutes(p: Parser, el: Element) -> bool:
    c = p.col(el)
    return (
        "minute" in c.description_en.lower()
        or "分钟" in c.description_zh
        or bool({"delay", "time", "runtime"} & set(name_lemmas(c.name)))
    )


def assign_roles(p: Parser) -> Intent:  # noqa: C901 - one readable pass over the question
    """Build the intent of the question parsed by ``p``."""
    intent = Intent(main=p.main)
    used: set[int] = set()
    used_cues: set[int] = set()
    conds: list[Filter] = []  # numeric/adjective conditions (candidates for a percentage numerator)
    value_filters: list[tuple[int, Filter]] = []
    reach = p.reachable()

    # A classifier right after a number ("前3名", "5部") counts, it names nothing.
    for i, m in enumerate(p.mentions):
        if (
            len(m.text) == 1
            and m.text in lexicon.CLASSIFIERS
            and any(c.end == m.start for c in p.cues if c.kind == "number")
        ):
            used.add(i)

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
        used.update(i for i, m in enumerate(p.mentions) if _overlaps(m, c))

    # Text patterns: "cities starting with 'San'", "'Love' in the title", 片名以Star开头 → LIKE on a text column.
    for c in p.cues_of("pattern"):
        mode, literal, _ = c.value
        matched = _pattern_column(p, c)
        if matched is None:
            raise WriterError(
                f"'{c.text}': I could not tell which text column to match; name it (e.g. 'titles containing …').",
                kind="not_understood",
            )
        idx, el, keep = matched
        if not keep:
            used.add(idx)
        like = {"prefix": f"{literal}%", "suffix": f"%{literal}", "contains": f"%{literal}%"}[mode]
        value_filters.append((c.start, Filter(el, "like", like)))
        used.update(i for i, m in enumerate(p.mentions) if _overlaps(m, c))
        intent.trace.append(f"'{c.text}' → {el.label()} LIKE {like!r}")

    # Period-over-period change ("year-over-year", 环比): group by the period, then subtract the previous row.
    for c in p.cues_of("change"):
        unit = c.value or next((d.bucket or _calendar_name(d.column) for d in intent.dims), None) or "month"
        found = _time_column(p, unit)
        if found is None:
            raise WriterError(f"'{c.text}': this datasource has no {unit} to compare by.", kind="not_understood")
        if not any(d.column == found[0] for d in intent.dims):
            intent.dims.insert(0, Dimension(found[0], found[1]))
        intent.change = "diff"
        intent.spans.append((c.start, c.end))
        used.update(i for i, m in enumerate(p.mentions) if _overlaps(m, c))
        intent.trace.append(f"'{c.text}' → by {found[0].label()}, minus the previous {unit}")

    # "哪个月", "哪一年": the calendar word after "which" is grouped on (a lone character links to no column).
    for c in p.cues_of("which"):
        word = next((t for t in p.tokens if t.start >= c.end), None)
        calendar = _ZH_CALENDAR.get(word.text) if word is not None and word.start == c.end else None
        found = _time_column(p, calendar) if calendar is not None else None
        if word is not None and found and not any(d.column == found[0] for d in intent.dims):
            intent.dims.append(Dimension(found[0], found[1]))
            intent.trace.append(f"'{c.text}{word.text}' → group by {found[0].label()}")

    # Values → equality (or LIKE for list columns) filters.
    for i, m in enumerate(p.mentions):
        if not m.values:
            continue
        v = p.pick_value(m)
        if v is None:
            if any(i != j and _overlaps(m, o) for j, o in enumerate(p.mentions)):
                continue
            raise WriterError(
                f"'{m.text}' is a value of {m.values[0].table}.{m.values[0].column}, which this question's "
                f"table ({p.main}) cannot reach; rephrase the question around that table.",
                kind="not_understood",
            )
        used.add(i)
        negate = p.near_before(m.start, ("not",), window=1) is not None
        el = Element(v.table, v.column)
        op = ("not like" if negate else "like") if v.is_list else ("!=" if negate else "=")
        f = Filter(el, op, f"%{v.value}%" if v.is_list else v.value)
        same = next(
            (vf for _, vf in value_filters if vf.column == el and vf.op in ("=", "in") and op == "="), None
        )
        # "美国电影和英国电影", "films from France and Germany": two items of one list column are either item,
        # unless the question asks for rows holding both ("both", 同时, 都, 合拍).
        listed = next(
            (vf for _, vf in value_filters if vf.column == el and vf.op in ("like", "like any") and op == "like"),
            None,
        )
        if same is not None:
            same.value = (same.value if same.op == "in" else [same.value]) + [v.value]
            same.op = "in"
        elif listed is not None and not _BOTH.search(p.q):
            listed.value = (listed.value if listed.op == "like any" else [listed.value]) + [f.value]
            listed.op = "like any"
        else:
            value_filters.append((m.start, f))
        intent.trace.append(f"'{m.text}' → value of {el.label()}")
        nxt = next((j for j, other in enumerate(p.mentions) if other.start >= m.end), None)
        if (
            nxt is not None
            and p.mentions[nxt].lemmas[:1] in (("departure",), ("arrival",))
            and not p.gap_words(m.end, p.mentions[nxt].start)
        ):
            used.add(nxt)  # "从JFK出发", "departing JFK": a direction word, not a column
            intent.spans.append((p.mentions[nxt].start, p.mentions[nxt].end))
        for j, other in enumerate(
            p.mentions
        ):  # "Furniture category", "region West": the column word is part of the value
            if j != i and any(e == el for e, _ in other.elements):
                gap = p.gap_words(min(m.end, other.end), max(m.start, other.start))
                grouped = p.near_before(other.start, ("by",), window=0, max_between=0) is not None
                if len(gap) <= 1 and not grouped:  # "per engine type, excluding Turbo-fan" still groups
                    used.add(j)

    # Dates: years, months, days.
    numbers = [c for c in p.cues if c.kind in ("number", "number_hours")]
    for c in p.cues:
        if c.kind == "decade":
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
                used_cues.add(id(cmp_cue))
            else:  # "before the 90s"
                f = Filter(found[0], "<", c.value, part=found[1])
                used_cues.add(id(cmp_cue))
            intent.filters.append(f)
            intent.trace.append(f"'{c.text}' → {f.describe()}")
            _date_verb_before(
                p, cmp_cue.start if cmp_cue is not None and cmp_cue.end <= c.start else c.start, used
            )
            continue
        if c.kind == "holiday":
            month, day = c.value
            found_m, found_d = _time_column(p, "month"), _time_column(p, "day")
            if found_m is None or found_d is None:
                raise WriterError(f"'{c.text}': this datasource has no date to filter on.", kind="not_understood")
            for (hel, hpart), v in ((found_m, month), (found_d, day)):
                intent.filters.append(Filter(hel, "=", v, part=hpart))
            intent.trace.append(f"'{c.text}' → month {month}, day {day}")
            used.update(i for i, m in enumerate(p.mentions) if _overlaps(m, c))
            _date_verb_before(p, c.start, used)
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
                used.add(year_col[0])
                el, part = year_col[1], None
        whole_month = c.kind == "month" and not p.cues_of("day") and not p.cues_of("holiday")
        if cmp_cue is not None and (c.kind == "year" or whole_month and _adjacent(p, cmp_cue, c)):
            # "since 2010", "before March", 3月以后: a comparison on the year or the month number
            op = ">=" if cmp_cue.text in ("since", "以来", "起", "至今") else _CMP[cmp_cue.kind]
            used_cues.add(id(cmp_cue))
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
        used.update(i for i, m in enumerate(p.mentions) if _overlaps(m, c))
        _date_verb_before(
            p, cmp_cue.start if cmp_cue is not None and cmp_cue.end <= c.start else c.start, used
        )

    month_range = any(f.op in ("between", "in") and f.part == "month" or _is_month_col(f.column) and f.op in ("between", "in") for f in intent.filters)
    years = [f for f in intent.filters if f.op == "between" and f.value != f.value2 and (f.part == "year" or "year" in name_lemmas(f.column.column or ""))]
    if month_range and years:
        raise WriterError(
            "A range of months across several years is not something I can write yet.",
            kind="not_understood",
            suggestion="Ask for one year at a time (e.g. 'from March through June 2005').",
        )

    # Named periods: "summer", "first half of the year", "Q4", 上半年, 周末 → months or days of the week.
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
        if split_days and (p.has("compare") or _EACH_VALUE.search(p.q)) or any(
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
        used.update(i for i, m in enumerate(p.mentions) if _overlaps(m, c))

    # Units of the answer: "in hours", "in thousands", 以万为单位 (the unit word is not a column).
    scales = p.cues_of("scale")
    for c in scales:
        used.update(i for i, m in enumerate(p.mentions) if _overlaps(m, c))

    # Top-N limits: "top 5", "前5", "5 busiest".
    asks_which = any(t.text in ("which", "哪", "哪个", "哪些", "哪家") for t in p.tokens)
    sup = [
        c
        for c in p.cues
        if c.kind in ("max", "min") and (c.text not in lexicon.AGG_FUNCTION_WORDS or asks_which)
    ]
    for n in numbers:
        before = p.near_before(n.start, ("top", "bottom", "list"), window=0)
        after = p.near_after(n.end, ("max", "min"), window=0)
        sup_before = p.near_before(n.start, ("max", "min"), window=0)
        cmp_after = p.near_after(n.end, ("gt", "ge", "lt", "le"), window=1)
        if (
            (before is not None and before.kind in ("top", "bottom"))
            or after is not None
            or (
                sup_before is not None
                and cmp_after is None
                and float(n.value).is_integer()
                and n.kind == "number"
            )
        ):
            intent.limit = int(n.value)
            used_cues.add(id(n))
            if before is not None and before.kind == "bottom":
                intent.descending = False

    # Numeric comparisons: "more than 100", "超过100", "100以上"; "negative profit" compares with zero.
    compared: list[tuple[Filter, str | None]] = []  # each condition and the aggregate word naming its column
    count_having: list[Filter] = []  # "more than 20 films": a condition on the number of rows per group
    zero_cues = [Cue(c.kind, c.start, c.end, c.text, 0.0) for c in p.cues_of("neg", "pos")]
    for n in [*numbers, *zero_cues]:
        if id(n) in used_cues:
            continue
        comparator: Cue | None = n
        if n.kind not in ("neg", "pos"):
            comparator = p.near_before(
                n.start, ("gt", "ge", "lt", "le", "eq", "between"), window=1
            ) or p.near_after(n.end, ("gt", "ge", "lt", "le"), window=1)
        if comparator is None:
            comparator = _range_between(p, n, numbers, used_cues)
        if comparator is None:
            comparator = _equality_link(p, n)
        if comparator is None:
            continue
        phrase = p.q[min(comparator.start, n.start) : max(comparator.end, n.end)]
        op = {"neg": "<", "pos": ">"}.get(comparator.kind) or _CMP.get(comparator.kind, ">")
        counted_idx = _counted_rows_after(p, n)
        if counted_idx is None and comparator is not n:
            counted_idx = _counted_rows_before(p, comparator, n)
        if counted_idx is not None and comparator.kind != "between":
            used.add(counted_idx)
            used_cues.add(id(n))
            count_having.append(Filter(Element(p.main), op, _num(n.value)))
            intent.trace.append(f"'{phrase} {p.mentions[counted_idx].text}' → COUNT(*) {op} {_num(n.value)}")
            continue
        target = _cond_target(p, n, used_cues) or _comparison_target(p, comparator, n, used)
        unit_target = _unit_target(p, n)
        if unit_target is not None and (target is None or not _minutes(p, target[1])):
            target = unit_target  # "films longer than 150 minutes": the duration, not the Oscars named before
        if target is None:
            raise WriterError(
                f"I could not tell which column '{phrase}' applies to; name the measure (e.g. 'runtime over 120').",
                kind="not_understood",
            )
        idx, el = target
        if idx >= 0:
            used.add(idx)
        value = n.value * 60 if n.kind == "number_hours" and _minutes(p, el) else n.value
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
            used.add(unit)  # "200 minutes", "300 seats": the unit word after the number
        if comparator.kind == "between":
            second = next((x for x in numbers if x.start > n.end and id(x) not in used_cues), None)
            if second is None:
                raise WriterError(f"'{phrase}': between what and what?", kind="not_understood")
            used_cues.add(id(second))
            high = second.value * 60 if second.kind == "number_hours" and _minutes(p, el) else second.value
            f = Filter(el, "between", value, high)
        else:
            f = Filter(el, op, _num(value))
        used_cues.add(id(n))
        used.update(j for j, mm in enumerate(p.mentions) if _overlaps(mm, n))
        conds.append(f)
        named_agg = (
            p.near_before(p.mentions[idx].start, ("avg", "sum"), window=1, max_between=0)
            if idx >= 0
            else None
        )
        compared.append((f, named_agg.kind if named_agg is not None else None))
        intent.trace.append(f"'{phrase}' → {f.describe()}")

    # Missing values: "cancelled" where the schema says a column is NULL if cancelled.
    for tok in p.tokens:
        null_col = p.null_condition(tok)
        if null_col is None:
            continue
        negated = p.near_before(tok.start, ("not",), window=1) is not None
        f = Filter(null_col, "is not null" if negated else "is null")
        conds.append(f)
        intent.spans.append((tok.start, tok.end))
        used.update(i for i, m in enumerate(p.mentions) if m.start <= tok.start < m.end)
        intent.trace.append(f"'{tok.text}' → {f.describe()}")

    # Adjective conditions: "delayed", "unprofitable", 亏损.
    cond_measures: list[tuple[Mention, Element, Cue | None]] = []
    losses_ranked = False
    for c in p.cues_of("cond"):
        if id(c) in used_cues:
            continue
        lem, op, val = lexicon.CONDITIONS[c.text]
        cond_el = _cond_column(p, lem)
        if cond_el is None:
            continue
        el = cond_el
        used.update(i for i, m in enumerate(p.mentions) if _overlaps(m, c))
        ranking = p.near_before(c.start, ("max", "min", "gt", "lt"), window=0)
        if ranking is None and op == "<" and "\u4e00" <= c.text[:1] <= "\u9fff":
            ranking = p.near_after(c.end, ("max", "min"), window=0)  # 亏损最多: the superlative follows
        if ranking is not None:
            # "most profitable", "least profitable": the adjective names the measure to rank by.
            if op == "<" and ranking.kind in ("max", "gt"):
                # "the biggest loss", 亏损最多: the most negative value ranks first.
                losses_ranked = True
                intent.trace.append(f"'{p.q[min(ranking.start, c.start) : max(ranking.end, c.end)]}' → lowest {el.label()} first")
            elif op == "<":
                said = p.q[min(ranking.start, c.start) : max(ranking.end, c.end)]
                raise WriterError(
                    f"'{said}' can mean the loss closest to zero or the fewest losses; "
                    "ask for the lowest or highest value of the column instead.",
                    kind="not_understood",
                )
            cond_measures.append((Mention(c.start, c.end, c.text), el, None))
            continue
        named_agg = p.near_after(c.end, ("avg", "median", "quantile"), window=1) or p.near_before(
            c.start, ("avg", "median", "quantile"), window=1
        )
        if named_agg is not None:
            # "起飞延误的中位数", "average delay": an aggregate of the adjective's column, not a row condition.
            cond_measures.append((Mention(c.start, c.end, c.text), el, named_agg))
            continue
        if any(f.column.table == p.main and lem in name_lemmas(f.column.column or "") for f in conds):
            continue
        total = p.near_after(c.end, ("sum",), window=2) or p.near_before(c.start, ("sum",), window=1)
        if total is not None:
            # "states losing money overall", "sub-categories that lost money in total": the group's total.
            f = Filter(el, op, val)
            compared.append((f, "sum"))
            conds.append(f)  # a row condition when nothing is grouped; the group's total otherwise
            used_cues.add(id(total))
            intent.trace.append(f"'{c.text} … {total.text}' → SUM({el.label()}) {op} {val}")
            continue
        conds.append(Filter(el, op, val))
        intent.trace.append(f"'{c.text}' → {conds[-1].describe()}")

    # Remaining mentions: measures, dimensions, the counted entity.
    measures: list[tuple[Mention, Element, Cue | None]] = []
    dims: list[tuple[Mention, Element, bool]] = []
    entity: Mention | None = None
    labels: dict[int, Element] = {}  # dimension mention -> readable label column through a foreign key
    others: list[tuple[Mention, str]] = []  # other-table mentions (dimension via foreign key)
    count_cues = p.cues_of("count")
    for i, m in enumerate(p.mentions):
        if i in used or not m.elements:
            continue
        group_cue = p.near_before(m.start, _GROUP_CUES, window=2)
        if (
            group_cue is not None
            and group_cue.kind == "which"
            and _mention_between(p, group_cue.end, m.start)
        ):
            group_cue = None  # "which origin had the windiest days": "which" asks about origin only
        agg_cue = p.near_before(m.start, _AGG_CUES, window=2, max_between=0)
        prefer = "dim" if group_cue is not None else "measure" if agg_cue is not None else ""
        picked = p.pick(m, prefer)
        if agg_cue is not None and agg_cue.kind in ("avg", "sum"):
            numeric_el = p.pick(m, "numeric")  # an average of 评分 is of the numeric rating, not the text one
            if numeric_el is not None and not _weak(p, m, numeric_el):
                picked = numeric_el
        ranked = p.pick(m, "numeric") if agg_cue is None and _ranked_here(p, m) else None
        if ranked is not None and not _weak(p, m, ranked):
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
            conds.append(f)
            intent.spans.append(span)
            intent.trace.append(f"'{p.q[span[0]:span[1]]}' → {f.describe()}")
            continue
        if el.column is not None and agg_cue is None and _absence(p, m) and p.is_numeric(el):
            # "orders with no discount", 没有折扣的: nothing of it (at most zero when it can go negative)
            signed = "negative" in p.col(el).description_en.lower() or "负" in p.col(el).description_zh
            conds.append(Filter(el, "<=" if signed else "=", 0))
            intent.spans.extend((t.start, t.end) for t in _absence_words(p, m))
            intent.trace.append(f"'{m.text}' → {conds[-1].describe()}")
            continue
        if el.column is not None and agg_cue is None and _presence(p, m) and p.is_numeric(el):
            conds.append(Filter(el, ">", 0))  # "orders that had a discount": discount > 0
            intent.trace.append(f"'{m.text}' → {conds[-1].describe()}")
            continue
        if el.column is None:
            if el.table == p.main:
                entity = entity or m
            else:
                others.append((m, el.table))
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
            and _dated(p, el)
            and any(d.bucket is not None or p.is_time_part(d.column) for d in intent.dims)
        ):
            continue  # "每年上映的": the release is what the yearly bucket already counts by
        if p.is_dimension_like(el):
            ranked_subject = p.near_after(m.end, ("max", "min"), window=0) is not None and any(
                t.text in ("with", "having", "that", "has", "had") for t in p.tokens if m.end <= t.start
            )  # "the sub-category with the highest sales in each region"
            dims.append((m, el, group_cue is not None or _after_superlative(p, m) or ranked_subject))
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
                labels[id(m)] = Element(via.ref_table, label.name)
        else:
            after_agg = p.near_after(m.end, ("sum", "avg", "median", "quantile"), window=0)
            if agg_cue is not None and agg_cue.kind in ("max", "min") and after_agg is not None:
                agg_cue = after_agg  # "the most miles in total": ranked by the total, not by the maximum
            measures.append((m, el, agg_cue or after_agg))

    measures.extend(cond_measures)

    # Other-table mentions become dimensions through a foreign key ("by airline" → carrier + airlines.name).
    for m, table in others:
        label = p.label_column(table)
        fks = reach.get(table, [])
        if fks and all(mine == theirs and _one_to_one(p, mine, table) for mine, _, theirs in fks):
            entity = entity or m  # a 1:1 table (same key): its rows are the main table's rows
            continue
        if not fks:
            continue
        main_col, ref_table, ref_col = fks[0]
        if ref_table != table:
            continue
        el = Element(p.main, main_col)
        if any(x[1] == el for x in dims):
            continue
        grouped = p.near_before(m.start, _GROUP_CUES, window=2) is not None or _after_superlative(p, m)
        dims.append((m, el, grouped))
        if label is not None:
            labels[id(m)] = Element(table, label.name)

    superlative = sup[0] if sup else None
    counting = bool(count_cues)
    percent = p.has("percent")

    # Ratios of two measures: "profit margin", 利润率 (profit over sales), "profit per unit" (over quantity).
    ratio_of: dict[int, Element] = {}
    measures, percent = _ratios(p, measures, ratio_of, percent, intent)

    # Conditions on groups (HAVING): "airlines with average delay over 15", "利润为负的州", "directors with
    # more than 20 films". A bare measure ("利润") is compared per group only when the question is about the
    # groups themselves: no row noun, no count, no explicit "by" grouping.
    by_grouped = any(d.bucket for d in intent.dims) or any(
        g and p.near_before(m.start, ("by",), window=2) is not None for m, _, g in dims
    )
    having: list[tuple[Measure, Filter]] = []
    groups_counted = _counted_groups(p, count_cues, dims)
    if dims or intent.dims:
        for f, agg_word in compared:
            # "销售额超过1万美元的城市有几个", "how many cities have sales over 10,000": the groups are counted, so
            # an additive measure compared bare is the group's total (a non-additive one stays per row).
            group_total = groups_counted is not None and entity is None and _default_agg(f.column) == "sum"
            if agg_word is None and (entity is not None or counting or by_grouped or f.op == "between") and not (
                group_total and not by_grouped and f.op != "between"
            ):
                continue
            having.append((Measure(agg_word or _default_agg(f.column), f.column), f))  # type: ignore[arg-type]
        having += [(Measure("count"), f) for f in count_having]
    elif count_having:
        raise WriterError(
            "The question compares a number of rows, but names no group to count them in (e.g. 'directors with "
            "more than 20 films').",
            kind="not_understood",
        )
    if having and groups_counted is not None:
        intent.count_groups = True
        intent.trace.append(f"{groups_counted} → count the groups that pass")
    if having:
        conds = [f for f in conds if all(f is not h for _, h in having)]
        dims = [(m, el, True) for m, el, _ in dims]
        for hm, hf in having:
            intent.trace.append(
                f"group condition: {describe_agg(hm.agg)}({hf.column.label()}) {hf.op} {hf.value}"
            )

    # "Nolan films and their box office": the rows themselves, with the named columns.
    if (
        p.has("rows")
        and entity is not None
        and not counting
        and not intent.dims
        and not any(g for _, _, g in dims)
        and measures
        and all(cue is None for _, _, cue in measures)
    ):
        intent.select = _unique([el for _, el, _ in measures] + intent.select)
        intent.trace.append("list the rows with " + ", ".join(el.label() for _, el, _ in measures))
        measures = []

    # Count targets: "how many airlines" → COUNT(DISTINCT carrier) unless it is the main table itself.
    count_distinct: Element | None = None
    for c in count_cues:
        following = [m for m in p.mentions if m.start >= c.end]
        first_after = min(following, key=lambda m: m.start) if following else None
        counted = next(
            (
                d
                for d in dims
                if not d[2]
                and first_after is not None
                and d[0] is first_after
                and len(p.gap_words(c.end, first_after.start)) <= 2
            ),
            None,
        )
        if counted is None:
            counted = next(
                (
                    d
                    for d in dims
                    if not d[2]
                    and 0 <= c.start - d[0].end <= 6
                    and p.q[d[0].end : c.start].strip(" 的有是") == ""
                ),
                None,
            )
        grouped_too = counted is not None and any(d[1] == counted[1] for d in dims if d is not counted)
        if grouped_too and counted is not None:
            # "number of planes built after 2005 by manufacturer": a column counted distinct within its own
            # groups is always 1, so the noun names the rows counted, not the column.
            dims.remove(counted)
            intent.spans.append((counted[0].start, counted[0].end))
        elif counted is not None and not p.near_before(counted[0].start, ("by",), window=1):
            count_distinct = counted[1]
            dims.remove(counted)

    prev_dim_end = 0
    dim_mentions: dict[Element, Mention] = {}
    dims.sort(key=lambda d: d[0].start)
    for m, el, grouped in dims:
        prev_dim = intent.dims[-1] if intent.dims else None
        joined = p.q[prev_dim_end : m.start].strip().lower() if prev_dim is not None else ""
        bare_group = (
            not grouped
            and prev_dim is not None
            and joined in ("and", "&", ",", "和", "与", "及", "、", "以及")
        )
        prev_dim_end = m.end
        dim_label = labels.get(id(m))
        if grouped or bare_group:
            prev_dim_end = m.end
            if _dated(p, el) and any(d.bucket or _calendar_name(d.column) for d in intent.dims):
                # "每年各上映了多少部": the release verb of rows already grouped by a period, not its raw date
                intent.spans.append((m.start, m.end))
                continue
            if not any(d.column == el for d in intent.dims):
                dim_mentions[el] = m
                intent.dims.append(Dimension(el, None, dim_label))
                named = f" (named by {dim_label.label()} via {el.label()})" if dim_label is not None else ""
                intent.trace.append(f"'{m.text}' → group by {el.label()}{named}")
        else:
            intent.select.append(el)

    # "compare JFK and LGA", "horror vs comedies": several values of one column asked side by side are groups.
    if (p.has("compare") or _asks_each_value(p)) and not intent.dims:
        _compare_groups(intent, value_filters)
    elif intent.dims:
        # "Consumer vs Corporate sales by region", 各地区家具与科技类的利润: several named values of one column
        # split each group too (the split answer holds their sum; the sum alone would hide the comparison).
        _compare_groups(intent, value_filters)

    # "the highest-grossing comedy": a superlative and its measure in front of a value noun rank those rows.
    if entity is None and sup and not intent.dims and measures and not counting:
        noun = _ranked_value_noun(p, sup[0], [m for m, _, _ in measures], value_filters)
        if noun is not None:
            entity = noun
            intent.trace.append(f"'{sup[0].text} … {noun.text}': the {noun.text} rows are ranked")

    # "Which movie has the most reviews": a superlative about the rows themselves orders them.
    row_level = (
        superlative is not None
        and not intent.dims
        and entity is not None
        and measures
        and not counting
        and all(cue is None or cue.kind in ("max", "min") for _, _, cue in measures)
    )
    if row_level:
        assert superlative is not None
        ordered = min(measures, key=lambda x: abs(x[0].start - superlative.start))
        intent.order_column = ordered[1]
        intent.select = _unique([el for _, el, _ in measures] + intent.select)
        intent.descending = _sup_kind(superlative, ordered[1], losses_ranked) == "max"
        intent.limit = intent.limit or (10 if _asks_several(p, entity) else 1)
        intent.trace.append(f"'{superlative.text}' → order rows by {ordered[1].label()}")
        measures = []

    # Measures.
    for m, el, cue in measures:
        agg: Agg
        if id(m) in ratio_of:
            intent.measures.append(Measure("ratio", el, denominator=ratio_of[id(m)]))
            intent.trace.append(f"'{m.text}' → SUM({el.label()}) / SUM({ratio_of[id(m)].label()})")
            continue
        if cue is not None and cue.kind in _AGG_CUES:
            agg = cue.kind  # type: ignore[assignment]
            if agg in ("max", "min") and (intent.dims or entity is not None):
                if cue.text not in lexicon.AGG_FUNCTION_WORDS:
                    agg = _default_agg(el)
            for extra in _agg_chain(p, cue):  # "min and max air time"
                intent.measures.append(Measure(extra.kind, el))  # type: ignore[arg-type]
                intent.trace.append(f"'{extra.text} {m.text}' → {extra.kind.upper()}({el.label()})")
        elif superlative is not None and not intent.dims and entity is None and not counting:
            agg = superlative.kind  # type: ignore[assignment]
        else:
            agg = _default_agg(el)
        intent.measures.append(Measure(agg, el))
        if agg == "quantile" and cue is not None:
            intent.measures[-1].fraction = float(cue.value)
        if agg in ("median", "quantile") and p.schema.dialect == "sqlite" and (
            agg == "quantile" or intent.dims or len(measures) > 1 or having
        ):  # one median over all the rows is written without MEDIAN (the builder sorts and takes the middle)
            raise WriterError(
                f"'{cue.text if cue is not None else agg}': this datasource is SQLite, which has no median or "
                "percentile function, so I would have to answer with an average instead; I did not.",
                kind="not_understood",
                suggestion="Ask for the average, minimum or maximum instead, or load the data into DuckDB.",
            )
        intent.trace.append(f"'{m.text}' → {agg.upper()}({el.label()})")

    for c in scales:
        divisor, minutes_only = c.value
        scaled = [
            x
            for x in intent.measures
            if x.agg in ("sum", "avg", "min", "max")
            and x.column is not None
            and (not minutes_only or _minutes(p, x.column))
        ]
        if not scaled:
            raise WriterError(f"'{c.text}': I could not tell which number to convert.", kind="not_understood")
        for x in scaled:
            x.scale = divisor
        intent.trace.append(f"'{c.text}' → divide by {divisor:g}")

    # Percentages: the condition(s) become the numerator.
    if percent:
        cond = conds or [f for pos, f in value_filters if pos > p.cues_of("percent")[0].start]
        if not cond and not intent.dims:
            # "飞往ATL的航班占全部航班的比例": with nothing after the cue, the named rows are the numerator.
            cond = [f for _, f in value_filters]
        if cond:
            base = intent.measures[0].column if intent.measures else None
            intent.measures = [Measure("pct", base, list(cond))]
            conds = [] if conds else conds
            value_filters = [(pos, f) for pos, f in value_filters if f not in cond]
            intent.trace.append("percentage of rows where " + " and ".join(f.describe() for f in cond))
        elif intent.dims:
            base = intent.measures[0].column if intent.measures else None
            intent.measures = [Measure("share", base)]
            intent.trace.append("share of the total per group")
    intent.filters.extend(f for _, f in value_filters)
    intent.filters.extend(conds)
    for hm, hf in having:
        if not any(x.agg == hm.agg and x.column == hm.column for x in intent.measures):
            intent.measures.append(hm)
        intent.having.append((hm, hf))

    # Counting.
    if count_distinct is not None and not intent.measures:
        intent.measures.append(Measure("count_distinct", count_distinct))
        intent.trace.append(f"count distinct {count_distinct.label()}")
    if (
        intent.measures
        and entity is not None
        and all(m.agg in ("sum", "avg", "min", "max") for m in intent.measures)
        and any(_counts_entity(p, c, entity) for c in count_cues)
    ):
        # "纽约市的订单数量和总利润", "number of flights and average delay": the count is a measure too.
        intent.measures.insert(0, Measure("count"))
        intent.trace.append(f"'{entity.text}' counted → COUNT(*) of {p.main}")
    unit_sum = _counted_unit(p, count_cues)
    if not intent.measures and unit_sum is not None:
        # "一共卖出了多少件": a count in a column's own unit (订购数量（件）) is that column's total.
        intent.measures.append(Measure("sum", unit_sum[1]))
        intent.spans.append(unit_sum[0])
        intent.trace.append(f"'{p.q[unit_sum[0][0] : unit_sum[0][1]]}' → SUM({unit_sum[1].label()})")
    if not intent.measures and (counting or intent.dims):
        intent.measures.append(Measure("count"))
        intent.trace.append(f"aggregate COUNT(*) of {p.main}")
    _average_per_period(p, intent)

    # Superlatives and limits.
    which = p.has("which")
    order_cues = p.cues_of("order")
    ranked_first = superlative is not None and any(
        t.text == "first" and t.start >= superlative.end and not p.gap_words(superlative.end, t.start)
        for t in p.tokens
    )
    order_only = intent.limit is None and (bool(order_cues) or ranked_first)
    if superlative is not None and intent.dims:
        intent.order_measure = 0
        kind = _sup_kind(superlative, intent.measures[0].column if intent.measures else None, losses_ranked)
        intent.descending = kind == "max" if intent.limit is None or intent.descending else False
        if kind == "min":
            intent.descending = False
        explicit_limit = intent.limit is not None
        if intent.limit is None and not order_only:
            intent.limit = 1 if which or not p.has("top") else 10
        if _ranked_within(p, intent, dim_mentions) and not explicit_limit:
            intent.limit = 1
    elif order_only and intent.dims and intent.measures:
        intent.order_measure = 0
        intent.descending = order_cues[0].text not in lexicon.ASCENDING_WORDS
        intent.trace.append(f"'{order_cues[0].text}' → order by {describe_agg(intent.measures[0].agg)}")
    elif superlative is not None and not intent.measures:
        # Row-level: "which flight had the longest delay", "top 10 movies by box office".
        order_col = next((x[1] for x in measures), None)
        if order_col is None:
            numeric = [x for x in intent.select if p.is_numeric(x)]
            order_col = numeric[0] if numeric else None
        if order_col is None and superlative.text in _DURATION_SUPERLATIVES:
            duration = _unit_target(p, Cue("number_hours", superlative.end, superlative.end, "", 1))
            order_col = duration[1] if duration is not None else None  # "the 5 longest movies": by runtime
        if order_col is not None:
            intent.order_column = order_col
            intent.descending = _sup_kind(superlative, order_col, losses_ranked) == "max"
            intent.limit = intent.limit or (10 if _asks_several(p, entity) else 1)
    elif intent.limit is not None and intent.dims and intent.measures:
        intent.order_measure = 0

    if not intent.measures and not intent.dims:
        row_cols = [m[1] for m in measures] + intent.select
        if intent.order_column is None and not row_cols and not intent.filters and entity is None:
            raise WriterError(
                "I could not tell what to compute: name a measure (e.g. total sales) or what to count.",
                kind="not_understood",
            )
        intent.select = _unique(row_cols)
        if intent.order_column is None and p.has("max", "min") is False and intent.limit is None:
            pass
    if (
        not intent.dims
        and not intent.measures
        and intent.order_column is None
        and not intent.select
        and not intent.filters
    ):
        raise WriterError("I could not understand the question.", kind="not_understood")
    intent.spans.extend((p.mentions[i].start, p.mentions[i].end) for i in used)
    return intent


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


def _counted_groups(p: Parser, count_cues: list[Cue], dims: list[tuple[Mention, Element, bool]]) -> str | None:
    """Whether a count asks for the number of groups; the words that say so (for the trace), else None.

    "how many cities have total sales over 10,000", 有多少个城市…: the count right before the first grouping;
    "总利润为负的子类别有几个": the count asked at the end, right after the only grouping.
    """
    for c in count_cues:
        counted_dims = [d for d in dims if d[0].start >= c.end and len(p.gap_words(c.end, d[0].start)) <= 2]
        if counted_dims and counted_dims[0][0] is min((d[0] for d in dims), key=lambda m: m.start):
            return f"'{c.text} {counted_dims[0][0].text}'"
        last = max((d[0] for d in dims), key=lambda m: m.start, default=None)
        if last is None or last.end > c.start or len(dims) != 1 or p.q[c.end :].strip(" ？?。.！!"):
            continue
        if {t.text for t in p.gap_words(last.end, c.start)} <= {"有", "一共", "共", "总共"}:
            return f"'{last.text}…{c.text}'"
    return None


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


_EACH_VALUE = re.compile(r"分别|各自|各有|各是|各为|各占|respectively|\bvs\.?\b|\bversus\b|对比|相比", re.IGNORECASE)
_BOTH = re.compile(r"\bboth\b|\bjoint\b|\bco-?produc|同时|合拍|合作|都", re.IGNORECASE)
_WHICH_OR = re.compile(
    r"\bwhich\b.*\bor\b|\b(?:more|fewer|less|higher|lower|better|worse|bigger|smaller)\b.*\bor\b|哪(?:个|家|一个)",
    re.IGNORECASE,
)


def _asks_each_value(p: Parser) -> bool:
    """Two named values asked side by side: "A and B respectively", "A vs B", "did more leave from A or B"."""
    return bool(_EACH_VALUE.search(p.q) or _WHICH_OR.search(p.q))


def _compare_groups(intent: Intent, value_filters: list[tuple[int, Filter]]) -> None:
    """Group by the column whose values are compared, keeping only those values (items of a list column)."""
    by_column: dict[Element, list[Filter]] = {}
    for _, f in value_filters:
        if f.op in ("in", "like", "like any") and all(d.column != f.column for d in intent.dims):
            by_column.setdefault(f.column, []).append(f)
    for el, filters in by_column.items():
        if filters[0].op == "in":
            intent.dims.append(Dimension(el))
            intent.trace.append(f"compared values → group by {el.label()}")
            return
        patterns = [v for f in filters for v in (f.value if f.op == "like any" else [f.value])]
        if len(patterns) >= 2:  # list column: one LIKE per value becomes one group per item
            items = [str(v).strip("%") for v in patterns]
            value_filters[:] = [(pos, f) for pos, f in value_filters if f not in filters]
            value_filters.append((0, Filter(el, "in", items, part="item")))
            intent.dims.append(Dimension(el))
            intent.trace.append(f"compared items → group by items of {el.label()} in {items}")
            return


def _unique(items: list[Element]) -> list[Element]:
    out: list[Element] = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


def _one_to_one(p: Parser, main_col: str, other: str) -> bool:
    """Whether the main table and ``other`` share a key one-to-one (omdb and tomatoes by ID)."""
    main, ref = p.table(p.main), p.table(other)
    col = main.column(main_col)
    return bool(col is not None and col.primary_key) or (
        main.row_count is not None and main.row_count == ref.row_count
    )


def _percent_scale(p: Parser, el: Element) -> bool:
    """Whether a column stores percentages as 0-100 (else a '50%' in the question means 0.5)."""
    c = p.col(el)
    return "percent" in c.description_en.lower() or "0-100" in c.description_en or "1-100" in c.description_en


def _default_agg(el: Element) -> Agg:
    lemmas = name_lemmas(el.column or "")
    # "BoxOffice" splits into box + office; the lexicon may know the compound ("boxoffice").
    return "sum" if set(lemmas) & lexicon.ADDITIVE or "".join(lemmas) in lexicon.ADDITIVE else "avg"


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


def _comparison_target(p: Parser, cmp_cue: Cue, n: Cue, used: set[int]) -> tuple[int, Element] | None:
    """The numeric column a comparison applies to: just before the comparator, else just after the number."""
    candidates: list[tuple[int, int, Element]] = []
    for i, m in enumerate(p.mentions):
        if not m.elements:
            continue
        el = p.pick(m, "numeric")
        if el is None or el.column is None or not p.is_numeric(el) or _weak(p, m, el):
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


_UNIT_WORDS = frozenset({"min", "mins", "minute", "minutes", "分钟", "分", *lexicon.HOUR_WORDS})


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
    if picked.table != p.main and not _one_to_one_table(p, picked.table):
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
        gap = [t for t in p.gap_words(n.end, c.start) if t.text not in _UNIT_WORDS]
        if gap:
            break
        lem = lexicon.CONDITIONS[c.text][0]
        el = _cond_column(p, lem)
        if el is not None:
            used_cues.add(id(c))
            same = next((i for i, m in enumerate(p.mentions) if _overlaps(m, c)), -1)
            return same, el
    return None


def _unit_target(p: Parser, n: Cue) -> tuple[int, Element] | None:
    """No column named, but a time unit points at the main table's duration: "longer than 3 hours"."""
    nxt = next((t.text for t in p.tokens if t.start >= n.end), "")
    if n.kind == "number" and nxt and not nxt.isascii():  # "10件": the column measured in 件 (订购数量（件）)
        units = [c for c in p.table(p.main).columns if c.kind == "number" and f"（{nxt}）" in c.description_zh]
        if len(units) == 1:
            return -1, Element(p.main, units[0].name)
    if n.kind != "number_hours" and nxt not in _UNIT_WORDS:
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


def _ranked_here(p: Parser, m: Mention) -> bool:
    """A superlative on the word itself, right before it, or (Chinese) right after it: 评分最高, highest rated."""
    if any(_overlaps(c, m) for c in p.cues_of("max", "min")):
        return True
    before = p.near_before(m.start, ("max", "min"), window=0, max_between=0)
    if before is not None and before.text not in lexicon.AGG_FUNCTION_WORDS:
        return True
    return p.near_after(m.end, ("max", "min"), window=0) is not None and any(t.zh for t in p.tokens)


_EQUALITY_LINKS = ("of", "=", "is", "was", "equal", "为", "是", "等于", "达到")


def _equality_link(p: Parser, n: Cue) -> Cue | None:
    """A number joined to the numeric column just before it: "a tomatometer of 100", "新鲜度为100"."""
    if n.kind != "number":
        return None
    m = next((m for m in reversed(p.mentions) if m.end <= n.start), None)
    if m is None or p.q[m.end : n.start].strip().lower() not in _EQUALITY_LINKS:
        return None
    el = p.pick(m, "numeric")
    if el is None or el.column is None or _weak(p, m, el):
        return None
    return Cue("eq", m.end, n.start, p.q[m.end : n.start].strip())


def _equality_link_follows(p: Parser, m: Mention) -> bool:
    """Whether "of <number>" follows the mention ("a tomatometer of 100" is not "any tomatometer")."""
    rest = p.q[m.end :].strip().lower()
    word = next(
        (w for w in _EQUALITY_LINKS if rest.startswith(w + " ") or (not w.isascii() and rest.startswith(w))),
        None,
    )
    if word is None:
        return False
    tail = rest[len(word) :].strip()
    return bool(tail) and (tail[0].isdigit() or tail.split(" ")[0] in lexicon.EN_NUMBERS)


def _counts_entity(p: Parser, c: Cue, entity: Mention) -> bool:
    """A count word right beside the row noun: "number of orders", "how many flights", 订单数量, 航班数."""
    if c.end <= entity.start:
        return not p.gap_words(c.end, entity.start)
    counts_next = any(m.start >= c.end and not p.gap_words(c.end, m.start) for m in p.mentions)
    return not counts_next and entity.end <= c.start and not p.gap_words(entity.end, c.start)


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


def _pattern_column(p: Parser, c: Cue) -> tuple[int, Element, bool] | None:
    """The text column a pattern matches: one named inside it ("in the title"), else the noun just before it.

    The third item says whether the noun still asks for the rows or groups ("which cities start with …").
    """
    inside = [i for i, m in enumerate(p.mentions) if c.start <= m.start and m.end <= c.end]
    before = sorted(
        (i for i, m in enumerate(p.mentions) if m.end <= c.start and len(p.gap_words(m.end, c.start)) <= 2),
        key=lambda i: -p.mentions[i].end,
    )
    after = [  # 以S开头的州: in Chinese the noun follows
        i for i, m in enumerate(p.mentions) if m.start >= c.end and len(p.gap_words(c.end, m.start)) == 0
    ][:1]
    for i in [*inside, *before, *after]:
        m = p.mentions[i]
        texts = [el for el, _ in m.elements if el.column is not None and p.col(el).kind == "text"]
        only_text = Mention(m.start, m.end, m.text, [(e, w) for e, w in m.elements if e in texts], [], m.lemmas)
        el = p.pick(only_text, "dim") if texts else None
        if el is None:
            label = p.label_column(m.elements[0][0].table) if m.elements and m.elements[0][0].column is None else None
            if label is None:
                continue
            el = Element(m.elements[0][0].table, label.name)  # "titles", "airports whose …": the name column
        asker = p.near_before(m.start, ("which", "by"), window=0)
        asked = i not in inside and asker is not None and asker.text != "whose"  # "airports whose name …" asks no name
        # "cities whose name starts with San": the first noun of a question that aggregates nothing is listed.
        asked = asked or (i == 0 and i not in inside and not p.has("count", *_AGG_CUES))
        # "how many cities start with 'San'", 包含York的城市有几个: the noun is counted (distinct), not the rows
        counted = p.near_before(m.start, ("count",), window=0, max_between=0) is not None or any(
            c2.start >= m.end and {t.text for t in p.gap_words(m.end, c2.start)} <= {"有", "一共", "共", "总共"}
            for c2 in p.cues_of("count")
        )
        label = p.label_column(el.table)
        asked = asked or (counted and i not in inside and (label is None or label.name != el.column))
        return i, el, asked
    return None


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
    return j if picked.table == p.main or _one_to_one_table(p, picked.table) else None


def _names_groups(p: Parser, m: Mention, compared: Element) -> bool:
    """A text column named after a number ("超过10万的州") is what is counted or grouped, not the number's unit."""
    if any(el == compared for el, _ in m.elements):
        return False
    return any(el.column is not None and p.col(el).kind == "text" for el, _ in m.elements)


def _counted_unit(p: Parser, count_cues: list[Cue]) -> tuple[tuple[int, int], Element] | None:
    """"多少件": a count word followed by the unit a numeric column of the main table is measured in."""
    for c in count_cues:
        tok = next((t for t in p.tokens if t.start == c.end and t.zh), None)
        if tok is None:
            continue
        for col in p.table(p.main).columns:
            if col.kind == "number" and (f"（{tok.text}）" in col.description_zh or f"({tok.text})" in col.description_zh):
                return (tok.start, tok.end), Element(p.main, col.name)
    return None


def _calendar_name(el: Element) -> str | None:
    """The calendar part a column is named after (``month`` for flights.month), if any."""
    lem = name_lemmas(el.column or "")
    return lem[0] if len(lem) == 1 and lem[0] in lexicon.TIME_PARTS else None


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


def _dated(p: Parser, el: Element) -> bool:
    """A date column (typed, or text described as a date)."""
    if el.column is None:
        return False
    c = p.col(el)
    return c.kind == "time" or (c.kind == "text" and "date" in c.description_en.lower())


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
    if before and before[-1] in ("有", "获得", "获", "得过", "拿过", "带", "获得过") and after == "的":
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


def _agg_chain(p: Parser, cue: Cue) -> list[Cue]:
    """Aggregate words joined to ``cue`` by "and" or a comma: "min and max air time", "最大值和最小值"."""
    out: list[Cue] = []
    current = cue
    for c in sorted(
        (c for c in p.cues if c.kind in _AGG_CUES and c.end <= cue.start), key=lambda c: -c.start
    ):
        between = p.q[c.end : current.start].strip().lower()
        if between in ("and", "&", ",", "和", "与", "、", "及", "/") and c.kind != current.kind:
            out.append(c)
            current = c
        elif between:
            break
    return out


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


def _mention_between(p: Parser, start: int, end: int) -> bool:
    return any(start <= o.start and o.end <= end and o.elements for o in p.mentions)


def _weak(p: Parser, m: Mention, el: Element) -> bool:
    """Whether ``el`` is only a loose reading of the mention: "films" are rows, not the film id."""
    normal = p.pick(m)
    weight = max((w for e, w in m.elements if e == el), default=0.0)
    return weight < 0.5 or (normal is not None and normal.column is None)


def _date_verb_before(p: Parser, pos: int, used: set[int]) -> None:
    """A date verb right before a date filter is part of that filter: "released in 2014", 2000年以后上映."""
    for i, m in enumerate(p.mentions):
        if i in used or m.end > pos or p.gap_words(m.end, pos):
            continue
        el = p.pick(m)
        if (
            el is not None
            and el.column is not None
            and _dated(p, el)
            and not p.near_before(m.start, _GROUP_CUES, window=0)
        ):
            used.add(i)


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
        if per is None or per.text not in ("per", "a") or _default_agg(el2) != "sum":
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


_PERIOD_PARTS = {"day": ("year", "month", "day"), "month": ("year", "month"), "year": ("year",)}


def _average_per_period(p: Parser, intent: Intent) -> None:
    """The count per calendar period averaged over the periods: "average flights per day", 每天平均多少航班."""
    if not p.has("avg") or [m.agg for m in intent.measures] != ["count"]:
        return
    for d in intent.dims:
        unit = d.bucket or next(iter(name_lemmas(d.column.column or "")), "")
        if unit not in _PERIOD_PARTS or (d.bucket is None and not p.is_time_part(d.column)):
            continue
        cols = {lem: c for c in p.table(d.column.table).columns for lem in name_lemmas(c.name)[:1]}
        parts = _PERIOD_PARTS[unit]
        if all(part in cols and cols[part].kind == "number" for part in parts):
            period = [Dimension(Element(d.column.table, cols[part].name)) for part in parts]
        elif d.bucket is not None:
            period = [d]
        else:
            continue
        intent.dims.remove(d)
        intent.average_over = period
        intent.measures[0] = Measure("avg_count")
        intent.trace.append(
            f"average over each {unit} ({', '.join(x.column.label() for x in period)}) of the count per {unit}"
        )
        return


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
