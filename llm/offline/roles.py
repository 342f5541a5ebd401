"""Role assignment: which mention is a measure, a dimension, a filter, a limit or the thing counted."""

from __future__ import annotations

from llm.base import WriterError
from llm.offline import lexicon
from llm.offline.intent import Agg, Dimension, Filter, Intent, Measure
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue, Parser
from llm.offline.text import name_lemmas

_CMP = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "="}
_AGG_CUES = ("avg", "sum", "max", "min")
_GROUP_CUES = ("by", "which", "top", "bottom", "bucket")


def _overlaps(a: Mention | Cue, b: Mention | Cue) -> bool:
    return a.start < b.end and b.start < a.end


def _time_column(p: Parser, part: str) -> tuple[Element, str | None] | None:
    """The main table's column for a calendar part: a ``month`` column, else a date/time column."""
    t = p.table(p.main)
    for c in t.columns:
        if name_lemmas(c.name) == [part] and c.kind in ("number", "text"):
            return Element(t.name, c.name), None
    for c in t.columns:
        if c.kind == "time":
            return Element(t.name, c.name), part
    if part == "year":
        for c in t.columns:
            if "year" in name_lemmas(c.name) and c.kind == "number":
                return Element(t.name, c.name), None
    return None


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

    # Values → equality (or LIKE for list columns) filters.
    for i, m in enumerate(p.mentions):
        if not m.values:
            continue
        v = p.pick_value(m)
        if v is None:
            continue
        used.add(i)
        negate = p.near_before(m.start, ("not",), window=1) is not None
        el = Element(v.table, v.column)
        op = ("not like" if negate else "like") if v.is_list else ("!=" if negate else "=")
        f = Filter(el, op, f"%{v.value}%" if v.is_list else v.value)
        same = next(
            (vf for _, vf in value_filters if vf.column == el and vf.op in ("=", "in") and op == "="), None
        )
        if same is not None:
            same.value = (same.value if same.op == "in" else [same.value]) + [v.value]
            same.op = "in"
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
        for j, other in enumerate(
            p.mentions
        ):  # "Furniture category", "region West": the column word is part of the value
            if j != i and any(e == el for e, _ in other.elements):
                gap = p.gap_words(min(m.end, other.end), max(m.start, other.start))
                if len(gap) <= 1:
                    used.add(j)

    # Dates: years, months, days.
    numbers = [c for c in p.cues if c.kind in ("number", "number_hours")]
    for c in p.cues:
        if c.kind not in ("year", "month", "day"):
            continue
        found = _time_column(p, c.kind)
        if found is None:
            intent.trace.append(f"'{c.text}': no {c.kind} column, ignored")
            continue
        el, part = found
        op = "="
        cmp_cue = p.near_before(c.start, ("gt", "ge", "lt", "le"), window=1) or p.near_after(
            c.end, ("gt", "ge", "lt", "le"), window=1
        )
        if cmp_cue is not None and c.kind == "year":
            op = ">=" if cmp_cue.text in ("since", "以来", "起") else _CMP[cmp_cue.kind]
            used_cues.add(id(cmp_cue))
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

    # Top-N limits: "top 5", "前5", "5 busiest".
    sup = [c for c in p.cues if c.kind in ("max", "min")]
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

    # Numeric comparisons: "more than 100", "超过100", "100以上".
    for n in numbers:
        if id(n) in used_cues:
            continue
        cmp_cue = p.near_before(n.start, ("gt", "ge", "lt", "le", "eq", "between"), window=1) or p.near_after(
            n.end, ("gt", "ge", "lt", "le"), window=1
        )
        if cmp_cue is None:
            continue
        target = _comparison_target(p, cmp_cue, n, used)
        if target is None:
            continue
        idx, el = target
        used.add(idx)
        value = n.value * 60 if n.kind == "number_hours" and _minutes(p, el) else n.value
        if n.text.endswith("%") and not _percent_scale(p, el):
            value = n.value / 100
        unit = next((j for j, mm in enumerate(p.mentions) if mm.start >= n.end), None)
        if unit is not None and unit != idx and not p.gap_words(n.end, p.mentions[unit].start):
            used.add(unit)  # "200 minutes", "300 seats": the unit word after the number
        op = _CMP.get(cmp_cue.kind, ">")
        if cmp_cue.kind == "between":
            second = next((x for x in numbers if x.start > n.end and id(x) not in used_cues), None)
            if second is None:
                continue
            used_cues.add(id(second))
            high = second.value * 60 if second.kind == "number_hours" and _minutes(p, el) else second.value
            f = Filter(el, "between", value, high)
        else:
            f = Filter(el, op, int(value) if float(value).is_integer() else value)
        used_cues.add(id(n))
        used.update(j for j, mm in enumerate(p.mentions) if _overlaps(mm, n))
        conds.append(f)
        intent.trace.append(
            f"'{p.q[min(cmp_cue.start, n.start) : max(cmp_cue.end, n.end)]}' → {f.describe()}"
        )

    # Adjective conditions: "delayed", "unprofitable", 亏损.
    cond_measures: list[tuple[Mention, Element, Cue | None]] = []
    for c in p.cues_of("cond"):
        lem, op, val = lexicon.CONDITIONS[c.text]
        col = next(
            (cc for cc in p.table(p.main).columns if lem in name_lemmas(cc.name) and cc.kind == "number"),
            None,
        )
        if col is None:
            continue
        el = Element(p.main, col.name)
        used.update(i for i, m in enumerate(p.mentions) if _overlaps(m, c))
        if p.near_before(c.start, ("max", "min", "gt", "lt"), window=0) is not None:
            # "most profitable", "least profitable": the adjective names the measure to rank by.
            cond_measures.append((Mention(c.start, c.end, c.text), el, None))
            continue
        if any(f.column.table == p.main and lem in name_lemmas(f.column.column or "") for f in conds):
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
        agg_cue = p.near_before(m.start, _AGG_CUES, window=2, max_between=0)
        prefer = "dim" if group_cue is not None else "measure" if agg_cue is not None else ""
        picked = p.pick(m, prefer)
        if picked is None:
            continue
        el = picked
        if el.column is None:
            if el.table == p.main:
                entity = entity or m
            else:
                others.append((m, el.table))
            continue
        weight = max(w for e, w in m.elements if e == el)
        if weight < 0.5 and group_cue is None and agg_cue is None:
            continue  # a modifier alone ("departed", "minutes") is too weak to be a measure or a group
        if p.is_dimension_like(el):
            dims.append((m, el, group_cue is not None or _after_superlative(p, m)))
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
            after_agg = p.near_after(m.end, ("sum", "avg"), window=0)
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
        if counted is not None and not p.near_before(counted[0].start, ("by",), window=1):
            count_distinct = counted[1]
            dims.remove(counted)

    prev_dim_end = 0
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
            if not any(d.column == el for d in intent.dims):
                intent.dims.append(Dimension(el, None, dim_label))
                named = f" (named by {dim_label.label()} via {el.label()})" if dim_label is not None else ""
                intent.trace.append(f"'{m.text}' → group by {el.label()}{named}")
        else:
            intent.select.append(el)

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
        intent.descending = superlative.kind == "max"
        intent.limit = intent.limit or (1 if p.has("which") or not p.has("top") else 10)
        intent.trace.append(f"'{superlative.text}' → order rows by {ordered[1].label()}")
        measures = []

    # Measures.
    for m, el, cue in measures:
        agg: Agg
        if cue is not None and cue.kind in _AGG_CUES:
            agg = cue.kind  # type: ignore[assignment]
            if agg in ("max", "min") and (intent.dims or entity is not None):
                agg = _default_agg(el)
        elif superlative is not None and not intent.dims and entity is None and not counting:
            agg = superlative.kind  # type: ignore[assignment]
        else:
            agg = _default_agg(el)
        intent.measures.append(Measure(agg, el))
        intent.trace.append(f"'{m.text}' → {agg.upper()}({el.label()})")

    # Percentages: the condition(s) become the numerator.
    if percent:
        cond = conds or [f for pos, f in value_filters if pos > p.cues_of("percent")[0].start]
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

    # Counting.
    if count_distinct is not None and not intent.measures:
        intent.measures.append(Measure("count_distinct", count_distinct))
        intent.trace.append(f"count distinct {count_distinct.label()}")
    if not intent.measures and (counting or intent.dims):
        intent.measures.append(Measure("count"))
        intent.trace.append(f"aggregate COUNT(*) of {p.main}")

    # Superlatives and limits.
    which = p.has("which")
    if superlative is not None and intent.dims:
        intent.order_measure = 0
        intent.descending = superlative.kind == "max" if intent.limit is None or intent.descending else False
        if superlative.kind == "min":
            intent.descending = False
        if intent.limit is None:
            intent.limit = 1 if which or not p.has("top") else 10
    elif superlative is not None and not intent.measures:
        # Row-level: "which flight had the longest delay", "top 10 movies by box office".
        order_col = next((x[1] for x in measures), None)
        if order_col is None:
            numeric = [x for x in intent.select if p.is_numeric(x)]
            order_col = numeric[0] if numeric else None
        if order_col is not None:
            intent.order_column = order_col
            intent.descending = superlative.kind == "max"
            intent.limit = intent.limit or (1 if which or not p.has("top") else 10)
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
    return intent


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
    lem = set(name_lemmas(el.column or ""))
    return "sum" if lem & lexicon.ADDITIVE else "avg"


def _after_superlative(p: Parser, m: Mention) -> bool:
    """Chinese "销售额最高的城市": a dimension right after a superlative (and 的) is grouped."""
    return p.near_before(m.start, ("max", "min"), window=1) is not None


def _comparison_target(p: Parser, cmp_cue: Cue, n: Cue, used: set[int]) -> tuple[int, Element] | None:
    """The numeric column a comparison applies to: just before the comparator, else just after the number."""
    candidates: list[tuple[int, int, Element]] = []
    for i, m in enumerate(p.mentions):
        if not m.elements:
            continue
        el = p.pick(m, "measure")
        if el is None or el.column is None or not p.is_numeric(el):
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
