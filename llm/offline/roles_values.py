"""Role passes on values: text patterns (LIKE) and the values the question names."""

from __future__ import annotations

import re

from llm.base import WriterError
from llm.offline.intent import Filter
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue, Parser
from llm.offline.roles_shared import AGG_CUES, overlaps
from llm.offline.roles_state import RoleState
from llm.offline.text import name_lemmas


def text_patterns(s: RoleState) -> None:
    """Text patterns → LIKE on a text column: "cities starting with 'San'", "'Love' in the title", 片名以Star开头."""
    p, intent = s.p, s.intent
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
            s.used.add(idx)
        like = {"prefix": f"{literal}%", "suffix": f"%{literal}", "contains": f"%{literal}%"}[mode]
        s.value_filters.append((c.start, Filter(el, "like", like)))
        s.used.update(i for i, m in enumerate(p.mentions) if overlaps(m, c))
        intent.trace.append(f"'{c.text}' → {el.label()} LIKE {like!r}")


def value_filters(s: RoleState) -> None:
    """Values named in the question → equality, IN or LIKE filters."""
    p, intent = s.p, s.intent
    for i, m in enumerate(p.mentions):
        if not m.values:
            continue
        v = p.pick_value(m)
        if v is None:
            if any(i != j and overlaps(m, o) for j, o in enumerate(p.mentions)):
                continue
            raise WriterError(
                f"'{m.text}' is a value of {m.values[0].table}.{m.values[0].column}, which this question's "
                f"table ({p.main}) cannot reach; rephrase the question around that table.",
                kind="not_understood",
            )
        s.used.add(i)
        if v.table != p.main and _names_a_code(p, m):
            # "San Francisco (SFO)": the name restates the code beside it, which is the filter
            intent.spans.append((m.start, m.end))
            intent.trace.append(f"'{m.text}' names the code beside it")
            continue
        negate = p.near_before(m.start, ("not",), window=1) is not None
        key = _directed_key(p, m, v.table) if not v.is_list and not negate else None
        if key is not None:
            # "flights to Miami": airports is reached by origin and by dest; the direction picks the key, and
            # the name becomes that key's codes (dest IN (SELECT faa FROM airports WHERE name = 'Miami Intl')).
            mine, theirs = key
            f = Filter(Element(p.main, mine), "in select", (v.table, theirs, v.column, v.value))
            s.value_filters.append((m.start, f))
            intent.trace.append(f"'{m.text}' → {f.describe()}")
            continue
        el = Element(v.table, v.column)
        op = ("not like" if negate else "like") if v.is_list else ("!=" if negate else "=")
        f = Filter(el, op, f"%{v.value}%" if v.is_list else v.value)
        same = next(
            (vf for _, vf in s.value_filters if vf.column == el and vf.op in ("=", "in") and op == "="), None
        )
        # "美国电影和英国电影", "films from France and Germany": two items of one list column are either item,
        # unless the question asks for rows holding both ("both", 同时, 都, 合拍).
        listed = next(
            (vf for _, vf in s.value_filters if vf.column == el and vf.op in ("like", "like any") and op == "like"),
            None,
        )
        if same is not None:
            same.value = (same.value if same.op == "in" else [same.value]) + [v.value]
            same.op = "in"
        elif listed is not None and not _BOTH.search(p.q):
            listed.value = (listed.value if listed.op == "like any" else [listed.value]) + [f.value]
            listed.op = "like any"
        else:
            s.value_filters.append((m.start, f))
        intent.trace.append(f"'{m.text}' → value of {el.label()}")
        nxt = next((j for j, other in enumerate(p.mentions) if other.start >= m.end), None)
        if (
            nxt is not None
            and p.mentions[nxt].lemmas[:1] in (("departure",), ("arrival",))
            and not p.gap_words(m.end, p.mentions[nxt].start)
        ):
            s.used.add(nxt)  # "从JFK出发", "departing JFK": a direction word, not a column
            intent.spans.append((p.mentions[nxt].start, p.mentions[nxt].end))
        for j, other in enumerate(
            p.mentions
        ):  # "Furniture category", "region West": the column word is part of the value
            if j != i and any(e == el for e, _ in other.elements):
                gap = p.gap_words(min(m.end, other.end), max(m.start, other.start))
                grouped = p.near_before(other.start, ("by",), window=0, max_between=0) is not None
                if len(gap) <= 1 and not grouped:  # "per engine type, excluding Turbo-fan" still groups
                    s.used.add(j)


_BOTH = re.compile(r"\bboth\b|\bjoint\b|\bco-?produc|同时|合拍|合作|都", re.IGNORECASE)


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
        asked = asked or (i == 0 and i not in inside and not p.has("count", *AGG_CUES))
        # "how many cities start with 'San'", 包含York的城市有几个: the noun is counted (distinct), not the rows
        counted = p.near_before(m.start, ("count",), window=0, max_between=0) is not None or any(
            c2.start >= m.end and {t.text for t in p.gap_words(m.end, c2.start)} <= {"有", "一共", "共", "总共"}
            for c2 in p.cues_of("count")
        )
        label = p.label_column(el.table)
        asked = asked or (counted and i not in inside and (label is None or label.name != el.column))
        return i, el, asked
    return None


def _names_a_code(p: Parser, m: Mention) -> bool:
    """Whether a value is written right before a code of the main table in brackets or beside it ("Boston (BOS)")."""
    for o in p.mentions:
        if o.start < m.end or not o.values or not o.text.isupper():
            continue
        gap = p.q[m.end : o.start]
        if re.fullmatch(r"\s*[（(]?\s*", gap) and any(v.table == p.main for v in o.values):
            return True
        break
    return False


_FROM_WORDS = frozenset({"origin", "departure", "source", "from"})
_TO_WORDS = frozenset({"destination", "arrival", "to", "target", "dest"})


def _directed_key(p: Parser, m: Mention, table: str) -> tuple[str, str] | None:
    """The main table's key to ``table`` that a direction word picks, when it reaches it by several keys.

    "to Miami", "flights out of Newark", 飞往X, 从X出发: (main column, its column in ``table``); None when the
    table is reached by one key (the ordinary join) or the question gives no direction (then it is refused).
    """
    keys = [fk for fk in p.table(p.main).foreign_keys if fk.ref_table == table]
    if len(keys) < 2:
        return None
    cue = p.near_before(m.start, ("from", "to"), window=1)
    after = next((t for t in p.tokens if t.start >= m.end), None)
    direction = cue.kind if cue is not None else ""
    if after is not None and after.lemma in ("departure", "origin") or re.match(r"\s*出发", p.q[m.end :]):
        direction = "from"
    elif not direction and after is not None and after.lemma in ("arrival", "destination"):
        direction = "to"
    words = _FROM_WORDS if direction == "from" else _TO_WORDS if direction == "to" else frozenset()
    picked = [fk for fk in keys if set(name_lemmas(fk.column)) & words]
    return (picked[0].column, picked[0].ref_column) if len(picked) == 1 else None
