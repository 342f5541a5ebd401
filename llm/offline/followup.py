"""Follow-ups in a chat: turn "only for Furniture", "那利润呢", "and by category?" into the refined question.

The offline writer answers one question at a time, so a follow-up is rewritten against the question it
refines, as text, and then parsed like any other question: a refinement is appended, a new measure or
grouping replaces the old one's words, a new top-N replaces the old one, and "which is highest" ranks the
last answer's groups. The readback says what was carried over; a follow-up that cannot be tied to the
previous question is refused rather than answered on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from datasources.schema import Schema
from llm.base import Turn
from llm.offline.linking import Element, Mention, link
from llm.offline.parse import Parser, find_cues
from llm.offline.roles import assign_roles
from llm.offline.text import tokenize

_EN_OPEN = re.compile(
    r"^\s*(?:and|also|ok(?:ay)?|now|then|so)?[\s,]*(?:what|how)\s+about\s+|^\s*(?:and|now|also)\s+|^\s*(?:ok(?:ay)?|then)[\s,]+",
    re.IGNORECASE,
)
_EN_ONLY = re.compile(r"^\s*(?:only|just)\s+(?:for\s+|in\s+|on\s+)?|\s+only\s*[?.!]*\s*$", re.IGNORECASE)
_EN_INSTEAD = re.compile(r"\s*(?:instead|then|too)\s*[?.!]*\s*$", re.IGNORECASE)
_ZH_OPEN = re.compile(r"^\s*(?:那么?|那如果|如果|再|然后|还有|另外)\s*")
_ZH_ONLY = re.compile(r"^\s*(?:只看|只要|只算|仅看|仅限|只|仅)\s*")
_ZH_SWAP = re.compile(r"^\s*(?:换成|改成|改为|换为|换)\s*")
_ZH_TAIL = re.compile(r"\s*(?:的呢|呢|吧|怎么样|如何)?\s*[?？。!！]*\s*$")
# "which is highest", "which year had the most?", 哪个最高, 哪一年最多: a pick from the last answer's groups (one
# noun at most between "which" and the superlative, and nothing after it).
_PICK = re.compile(
    r"^\s*(?:and\s+)?(?:which|what)(?:\s+one|\s+[a-z][\w-]*)?\s+(?:is|was|has|had|have|did|does|got|saw)?\s*"
    r"(?:the\s+)?(highest|most|largest|biggest|best|top|longest|lowest|least|smallest|fewest|worst|shortest)"
    r"\s*[?.!]*\s*$"
    r"|^\s*(?:其中)?哪(?:个|一个|家|些|里|一|)[\u4e00-\u9fff]{0,3}?(最高|最多|最大|最好|最长|最贵|最低|最少|最小|最差|最短)"
    r"\s*[?？]*\s*$",
    re.IGNORECASE,
)
_ZH_NUMERALS = "一二两三四五六七八九十"
_TOP = re.compile(rf"\b(?:top|first)\s+\d+|前\s*(?:\d+|[{_ZH_NUMERALS}]+)\s*(?:名|个|位)?", re.IGNORECASE)
_TOP_ALONE = re.compile(
    rf"^\s*(?:(?:only\s+)?(?:the\s+)?(?:top|first)\s+\d+\s*(?:only)?|(?:只看|只要)?前\s*(?:\d+|[{_ZH_NUMERALS}]+)\s*(?:名|个|位)?(?:就行|就好)?)"
    r"\s*[?？.。!！]*\s*$",
    re.IGNORECASE,
)
_PREP = re.compile(r"^\s*(?:in|for|on|from|at|during|between|since|before|after|excluding|except)\s+", re.IGNORECASE)
_BY = re.compile(
    r"^\s*(?:(?:(?:now\s+)?(?:break|split|broken|group|show|do|see)\s+(?:it\s+|this\s+|that\s+|them\s+)?(?:down\s+|up\s+|out\s+)?)?"
    r"(?:by|per|for each)|按照?|按|分)\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Resolved:
    """A follow-up rewritten as a standalone question, and what was carried over."""

    question: str
    carried: str
    """A readback of what came from the previous question (empty when nothing did)."""


def _numeric(schema: Schema, el: Element) -> bool:
    table = schema.table(el.table)
    col = table.column(el.column) if table is not None and el.column else None
    return col is not None and col.kind == "number"


def looks_like_follow_up(question: str) -> bool:
    """Whether the question leans on the previous one (opening words, "only", "呢", a bare pick)."""
    q = question.strip()
    return bool(
        _EN_OPEN.search(q)
        or _EN_ONLY.search(q)
        or _ZH_OPEN.search(q)
        or _ZH_ONLY.search(q)
        or _ZH_SWAP.search(q)
        or re.search(r"呢\s*[?？]*\s*$", q)
        or _PICK.match(q)
        or (_PREP.match(q) is not None and len(q.split()) <= 5)
        or _TOP_ALONE.match(q)
        or (_BY.match(q) is not None and len(q.split()) <= 8 and not re.search(r"[\u4e00-\u9fff]", q))
    )


def standalone(history: Sequence[Turn], schema: Schema, values: object) -> str | None:
    """The last question of the chat written out in full (earlier follow-ups resolved), if any."""
    current: str | None = None
    for turn in history:
        if current is not None and looks_like_follow_up(turn.question):
            r = resolve(current, turn.question, schema, values, "en")
            current = r.question if r is not None else turn.question
        else:
            current = turn.question
    return current


def _strip(question: str) -> str:
    q = _EN_OPEN.sub("", question.strip())
    q = _ZH_OPEN.sub("", q)
    q = _ZH_TAIL.sub("", q)
    return _EN_INSTEAD.sub("", q).strip().rstrip("?？.。!！")


def _measure_and_dims(question: str, schema: Schema, values: object) -> tuple[list[Mention], list[Mention]]:
    """The previous question's mentions of numeric columns (measures) and of grouping words."""
    tokens, mentions = link(question, schema, values)
    if not mentions:
        return [], []
    intent = assign_roles(Parser(question, schema, tokens, mentions))
    measured = {m.column for m in intent.measures if m.column is not None}
    grouped = {d.column for d in intent.dims} | {d.label for d in intent.dims if d.label is not None}
    grouped_tables = {d.label.table for d in intent.dims if d.label is not None}
    p = Parser(question, schema, tokens, mentions)
    measures = [m for m in mentions if p.pick(m, "measure") in measured]
    dims = [
        m for m in mentions
        if any(el in grouped or (el.column is None and el.table in grouped_tables) for el, _ in m.elements)
    ]
    # "每个月", "monthly": a calendar bucket groups without a mention; its words are the grouping's words.
    dims += [Mention(c.start, c.end, c.text) for c in p.cues if c.kind.startswith("bucket")]
    return measures, sorted(dims, key=lambda m: m.start)


def _swap_values(base: str, body: str, new: list[Mention], schema: Schema, values: object) -> str | None:
    """Replace the previous question's value of a column by the follow-up's value of the same column."""
    named = [m for m in new if m.values]
    if len(named) != 1 or len(new) != 1:
        return None
    columns = {(v.table, v.column) for v in named[0].values}
    _, old = link(base, schema, values)
    target = next((m for m in old if m.values and columns & {(v.table, v.column) for v in m.values}), None)
    if target is None:
        return None
    return base[: target.start] + named[0].text + base[target.end :]


_AGG_KINDS = ("avg", "sum", "count", "max", "min", "median", "quantile", "distinct")


def _replace_measure(base: str, measure: Mention, words: str) -> str:
    """``base`` with its measure replaced by ``words``; the old aggregate goes too when ``words`` bring their own.

    "average runtime by year" + "the number of movies" → "the number of movies by year", not "average the
    number of movies by year".
    """
    start = measure.start
    if any(c.kind in _AGG_KINDS for c in find_cues(words, tokenize(words))):
        before = [c for c in find_cues(base, tokenize(base)) if c.kind in _AGG_KINDS and c.end <= measure.start]
        if before and re.fullmatch(r"\s*(?:of\s+)?(?:the\s+)?的?\s*", base[before[-1].end : measure.start]):
            start = before[-1].start
    return base[:start] + words + base[measure.end :]


def resolve(previous: str, follow_up: str, schema: Schema, values: object, locale: str) -> Resolved | None:
    """Rewrite ``follow_up`` against ``previous``; None when it cannot be tied to it."""
    zh = locale == "zh"
    said = f"“{previous}”" if zh else f"'{previous}'"
    pick = _PICK.match(follow_up.strip())
    if pick:
        word = (pick.group(1) or pick.group(2) or "").lower()
        low = word in ("lowest", "least", "smallest", "fewest", "worst", "shortest", "最低", "最少", "最小", "最差", "最短")
        suffix = ("，最低的一个" if low else "，最高的一个") if any("\u4e00" <= ch <= "\u9fff" for ch in previous) else (
            ", lowest first, top 1" if low else ", top 1"
        )
        carried = f"沿用上一问 {said}，取{'最低' if low else '最高'}的一项" if zh else f"carried over {said}, picking the {'lowest' if low else 'highest'}"
        return Resolved(_TOP.sub("", previous).strip().rstrip("?？.。") + suffix, carried)
    body = _strip(follow_up)
    only = _EN_ONLY.search(body) or _ZH_ONLY.search(body)
    body = _ZH_ONLY.sub("", _EN_ONLY.sub("", body)).strip()
    swap = bool(_ZH_SWAP.search(body))
    body = _ZH_SWAP.sub("", body).strip()
    if not body:
        return None
    base = previous.strip().rstrip("?？.。!！")
    top_new, top_old = _TOP.search(body), _TOP.search(base)
    if top_new and top_old and not _TOP.sub("", body).strip(" ,，?？.。"):
        # "top 3 only" after "top 5 cities by revenue": the new N replaces the old one, in place.
        text = base[: top_old.start()] + top_new.group(0) + base[top_old.end() :]
        return Resolved(text, (f"沿用上一问 {said}，改为{top_new.group(0)}") if zh else f"carried over {said}, now {top_new.group(0)}")
    by = _BY.match(body)
    measures, dims = _measure_and_dims(base, schema, values)
    _, new = link(body, schema, values)
    carried_en = f"carried over {said}"
    carried_zh = f"沿用上一问 {said}"
    new_measures = [m for m in new if any(_numeric(schema, el) for el, _ in m.elements)]
    only_numeric = all(all(_numeric(schema, el) for el, _ in m.elements) for m in new if m.elements)
    if by and not only and measures and any(m.elements for m in new) and only_numeric:
        # "now by profit" after "top 5 states by sales": the words after "by" name a measure, which changes.
        return Resolved(_replace_measure(base, measures[0], body[by.end() :]), (carried_zh + "，换了指标") if zh else (carried_en + ", with the new measure"))
    if by and not only:
        # "and by category?", "换成按细分市场": the grouping changes.
        if dims:
            first, last = dims[0], dims[-1]
            grouped_before = re.search(r"(?:\bby|\bper|\beach|按照?|各|每个?|分)\s*$", base[: first.start], re.IGNORECASE)
            words = body[by.end() :] if grouped_before else body
            text = base[: first.start] + words + base[last.end :]
        else:
            text = f"{base} {body}"
        return Resolved(text, (carried_zh + "，换了分组") if zh else (carried_en + ", with the new grouping"))
    value_only = [m for m in new if m.values and not m.elements]
    if not only and not swap and measures and len(new_measures) == 1 and not value_only:
        # "what about arrival delay?", "那利润呢": the measure changes, the rest stays.
        text = _replace_measure(base, measures[0], body)
        return Resolved(text, (carried_zh + "，换了指标") if zh else (carried_en + ", with the new measure"))
    swapped = _swap_values(base, body, new, schema, values)
    if swapped is not None and not only:
        # "what about Delta?" after "... from United": the new value replaces the old one of the same column.
        return Resolved(swapped, (carried_zh + "，换了取值") if zh else (carried_en + ", with the new value"))
    tokens = tokenize(body)
    if new or _TOP.search(body) or re.search(r"\d", body) or find_cues(body, tokens):
        # "only for Furniture", "in July", "top 3 only", "just for flights from JFK": a refinement.
        sep = "，" if any("\u4e00" <= ch <= "\u9fff" for ch in base + body) else " "
        text = f"{base}{sep}{body}"
        return Resolved(text, (carried_zh + "，加上新条件") if zh else (carried_en + ", narrowed"))
    return None
