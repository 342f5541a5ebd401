"""Account for every word: which span of the question became which part of the SQL, and which became nothing.

A question is understood only when each of its content words is placed: it is part of a cue (an aggregate
word, a comparator, a number, a date), or of a mention whose table, column or value the intent uses, or it
is a function word of the language. A content word that maps to nothing means the writer would answer a
smaller question than the one asked, so :func:`account` returns those words and the writer refuses,
naming them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from datasources.schema import Schema
from llm.offline import lexicon
from llm.offline.intent import Intent
from llm.offline.linking import Element, Mention
from llm.offline.parse import Cue
from llm.offline.text import Token, name_lemmas

# Words that carry no constraint of their own: question frames, politeness, copulas, and verbs that only
# restate the rows ("flights that left", "products we sold", "movies that came out").
FUNCTION_WORDS_EN: frozenset[str] = frozenset(
    """
    i'd i'm we'd like know want need see wonder curious tell show give list find get got let look
    where when why whose whom which what who how
    ever also just only really actually currently today still yet so such very
    one ones thing things stuff record records entry entries item items line lines dataset database
    sell sells sold selling buy buys bought buying make makes made making produce produces produced
    run runs ran running operate operates operated operating serve serves served serving place placed
    come comes came coming go goes went going leave leaves left leaving take takes took taken
    fly flies flew flown flying depart departs departed off happen happened occur occurred generate generates
    generated record recorded register registered exist exists existed appear appears appeared
    counts counted overall total grand altogether combined single individual use uses used using
    figure figures numbers break breaks breakdown down
    win wins won winning winner winners award awarded gets compared versus away far
    departure departures min mins minute minutes hour hours mile miles
    """.split()
)
FUNCTION_WORDS_ZH: frozenset[str] = frozenset(
    """
    的 有 是 在 了 呢 吗 吧 啊 和 与 及 或 都 共 一共 总共 为 把 被 给 让 请 帮 我 我们 你 中 里 里面 之中
    个 名 部 架 条 位 种 只 次 件 笔 家 类 组 单 班 年 月 日 号 天 钟 市
    统计 查询 查看 显示 列出 看看 告诉 计算 一下 分别 各自 情况 数据 信息 记录 全部 所有 整体 总体
    获得 获 得 拿 涉及 出 发生 产生 卖 卖出 售出 买 运营 执飞 飞 上映 拍 拍摄 执导
    出发 飞往 以外 之外 除了 取 占 排 获奖 影片 金额 英里 分钟 小时 据
    """.split()
)


# Place abbreviations a table's description spells out ("flights departing New York" covers "NYC").
PLACE_ACRONYMS: dict[str, str] = {
    "nyc": "new york",
    "ny": "new york",
    "la": "los angeles",
    "sf": "san francisco",
    "us": "united states",
    "usa": "united states",
    "uk": "united kingdom",
}
_NUMBER_CUES = frozenset({"number", "number_hours", "year", "month", "day", "decade"})


@dataclass(frozen=True)
class Placement:
    """One span of the question and what it became."""

    text: str
    role: str
    """``cue:<kind>``, ``table``, ``column``, ``value``, ``function`` or ``unplaced``."""
    target: str = ""
    """The schema element or value it became (empty for cues and function words)."""


def _names_code(question: str, tok: Token, code: Mention) -> bool:
    """Whether a word is (part of) the name written beside a code.

    "Boston (BOS)", "San Francisco (SFO)", "Atlanta ATL"; in Chinese a name right before the code in brackets,
    "联合航空（UA）".
    """
    if tok.zh:
        between = question[tok.end : code.start]
        return tok.end <= code.start and len(between) <= 6 and re.fullmatch(r"[\u4e00-\u9fff]*[（(]", between) is not None
    if not question[tok.start].isupper():
        return False
    if tok.end <= code.start:
        between = question[tok.end : code.start]
        return re.fullmatch(r"(?:\s+[A-Z][\w'.-]*){0,3}\s*\(?\s*", between) is not None and len(between) <= 40
    between = question[code.end : tok.start]
    return between.strip(" (") == "" and len(between) <= 3


def _intent_elements(intent: Intent) -> tuple[set[Element], set[str]]:
    """Every column the intent uses and every table it reads."""
    cols: set[Element] = set()
    for m in intent.measures:
        cols.update(x for x in (m.column, m.denominator) if x is not None)
        cols.update(f.column for f in m.condition)
    for d in [*intent.dims, *intent.partition, *intent.average_over]:
        cols.add(d.column)
        if d.label is not None:
            cols.add(d.label)
    cols.update(f.column for f in intent.filters)
    # "to Miami" as dest IN (SELECT faa FROM airports WHERE name = …): the name's column is used too
    cols.update(Element(f.value[0], f.value[2]) for f in intent.filters if f.op == "in select")
    for hm, hf in intent.having:
        cols.add(hf.column)
        if hm.column is not None:
            cols.add(hm.column)
    if not intent.measures and not intent.dims or intent.partition:
        cols.update(intent.select)  # listed columns are output only when nothing is aggregated
    if intent.order_column is not None:
        cols.add(intent.order_column)
    tables = {intent.main} | {c.table for c in cols}
    return cols, tables


def _grain_after_superlative(question: str, m: Mention, cues: Sequence[Cue], schema: Schema) -> bool:
    """A calendar noun right after a superlative ("the windiest days") names the rows ranked, not a column."""
    if not m.elements or not any(
        c.kind in ("max", "min") and c.end <= m.start and question[c.end : m.start].strip() == "" for c in cues
    ):
        return False
    for el, _ in m.elements:
        table = schema.table(el.table)
        col = table.column(el.column) if table is not None and el.column is not None else None
        if col is None or not (col.kind == "time" or set(name_lemmas(col.name)) & set(lexicon.TIME_PARTS)):
            return False
    return True


def _covered(tok: Token, spans: Iterable[tuple[int, int]]) -> bool:
    return any(a <= tok.start and tok.end <= b for a, b in spans)


def _overlapped(tok: Token, spans: Iterable[tuple[int, int]]) -> bool:
    return any(a < tok.end and tok.start < b for a, b in spans)


def _same_rows(schema: Schema, main: str) -> set[str]:
    """Tables whose rows are the main table's rows (omdb and tomatoes share one ID per film)."""
    t = schema.table(main)
    if t is None:
        return {main}
    out = {main}
    for other in schema.tables:
        linked = any(fk.ref_table == other.name for fk in t.foreign_keys) or any(
            fk.ref_table == main for fk in other.foreign_keys
        )
        if linked and other.row_count is not None and other.row_count == t.row_count:
            out.add(other.name)
    return out


def _scope_words(schema: Schema, main: str) -> tuple[frozenset[str], str]:
    """Words of the main table's description: what the whole table is about ("flights departing New York")."""
    t = schema.table(main)
    if t is None:
        return frozenset(), ""
    # Only what the rows are ("One row per flight departing New York"), not the contents listed after a colon
    # or 含/包括 ("…: schedule, delays, route"): a question about routes is not answered by the table's scope.
    en = re.split(r":\s", t.description_en, maxsplit=1)[0]
    zh = re.split(r"[，,]\s*(?:含|包括|包含)", t.description_zh, maxsplit=1)[0]
    words = frozenset(w.lower() for w in "".join(ch if ch.isalnum() else " " for ch in en).split())
    return words, zh


def account(
    question: str,
    tokens: Sequence[Token],
    mentions: Sequence[Mention],
    cues: Sequence[Cue],
    intent: Intent,
    schema: Schema,
) -> tuple[list[Placement], list[str]]:
    """What each span of the question became, and the content words that became nothing."""
    cols, tables = _intent_elements(intent)
    tables |= _same_rows(schema, intent.main)
    scope_en, scope_zh = _scope_words(schema, intent.main)
    placements: list[Placement] = []
    realized: list[tuple[int, int]] = []
    for m in mentions:
        hit = next((el for el, _ in m.elements if el in cols), None)
        if hit is None:
            hit = next((el for el, _ in m.elements if el.column is None and el.table in tables), None)
        value = next((v for v in m.values if Element(v.table, v.column) in cols), None)
        if value is not None:
            placements.append(Placement(m.text, "value", f"{value.table}.{value.column} = {value.value!r}"))
        elif hit is not None:
            placements.append(Placement(m.text, "table" if hit.column is None else "column", hit.label()))
        elif _grain_after_superlative(question, m, cues, schema):
            placements.append(Placement(m.text, "grain"))  # "the windiest days": the rows compared, by time
        else:
            continue
        realized.append((m.start, m.end))
    cue_spans = [(c.start, c.end) for c in cues]
    placements.extend(Placement(c.text, "cue:" + c.kind) for c in cues)
    realized += intent.spans
    codes = [m for m in mentions if m.values and m.text.isupper() and (m.start, m.end) in realized]
    # A word of a mention that named a column the intent does not use was dropped, even when the table's
    # description also says it ("year-over-year" answered without the year, "list a production company").
    dropped_columns = [
        (m.start, m.end)
        for m in mentions
        if (m.start, m.end) not in realized and any(el.column is not None for el, _ in m.elements)
    ]
    unplaced: list[str] = []
    for tok in tokens:
        if _overlapped(tok, realized) or _covered(tok, cue_spans):
            continue
        text = tok.text
        in_scope = (tok.zh and len(text) >= 2 and text in scope_zh) or (not tok.zh and text in scope_en)
        if in_scope and not _overlapped(tok, dropped_columns):
            continue  # "flights from New York", 纽约: the table's own scope
        if text in PLACE_ACRONYMS and set(PLACE_ACRONYMS[text].split()) <= scope_en:
            continue
        if any(_names_code(question, tok, m) for m in codes):
            continue  # "Boston (BOS)", 联合航空（UA）: the name of the code written beside it
        if text in lexicon.STOPWORDS_EN or text in FUNCTION_WORDS_EN or text in FUNCTION_WORDS_ZH:
            continue
        if tok.zh and all(ch in FUNCTION_WORDS_ZH for ch in text):
            continue  # 有的, 是在: a run of function characters
        if text.isdigit() or text in ("%", "#"):
            continue  # numbers that matter are cues; a stray digit is handled by the cue checks
        # A mention linked to something the intent does not use is a dropped constraint, unless it is the
        # main table's rows under another name.
        unplaced.append(question[tok.start : tok.end])
    aggs = {m.agg for m in intent.measures} | {hm.agg for hm, _ in intent.having}
    for c in cues:
        if c.kind in ("median", "quantile") and c.kind not in aggs:
            unplaced.append(c.text)  # a median that became something else is not the question asked
    numbers = _intent_numbers(intent)
    inside_values = [(m.start, m.end) for m in mentions if m.values and (m.start, m.end) in realized]
    for c in cues:
        if c.kind not in _NUMBER_CUES or not isinstance(c.value, int | float) or any(a <= c.start < b for a, b in inside_values):
            continue  # "PG-13": a number inside a value is the value
        if not _number_used(float(c.value), numbers):
            unplaced.append(c.text)  # "which 3 airlines" answered with one row: the 3 was dropped
    unplaced += _dropped_comparators(question, cues, intent)
    measured = {m.column for m in intent.measures if m.column is not None}
    for c in cues:  # "how many hours did it rain" answered with an average rainfall: nothing was counted
        if c.text != "how many" or aggs & _COUNTS or intent.count_groups:
            continue
        named = next((m for m in mentions if m.start >= c.end and not question[c.end : m.start].strip()), None)
        if named is None or not any(el in measured for el, _ in named.elements):
            unplaced.append(c.text)  # "how many seats" averaged per plane is fine: the seats are the measure
    for c in cues:  # "the most miles in total" answered with an average: the total was dropped
        wanted = _AGG_CUE_MEANS.get(c.text) if c.kind in ("sum", "avg") else None
        if wanted is not None and not aggs & wanted and not intent.count_groups:
            unplaced.append(c.text)
    if not any(f.op in ("between", "in") for f in intent.filters):
        unplaced += [c.text for c in cues if c.kind == "range"]  # "through May" that became no range
    unplaced += _ambiguous_joins(mentions, intent, schema)
    unplaced += _dropped_superlatives(cues, intent)
    unplaced += _dropped_negations(question, cues, intent)
    if any(c.text == "how much" for c in cues) and intent.measures and all(m.agg == "count" for m in intent.measures):
        unplaced.append("how much")  # "how much did we sell" is an amount; a row count is not what was asked
    return placements, list(dict.fromkeys(unplaced))


def _ambiguous_joins(mentions: Sequence[Mention], intent: Intent, schema: Schema) -> list[str]:
    """A value of a table the main table reaches by two keys ("Miami": airports by origin or by dest).

    Unless a direction word chose the key (roles_values turns "to Miami" into a filter on dest), the builder
    would join such a table by its first key and silently filter the wrong side, so the question is refused.
    """
    main = schema.table(intent.main)
    if main is None:
        return []
    keys = Counter(fk.ref_table for fk in main.foreign_keys)
    filtered = {f.column for f in intent.filters}
    return [
        m.text
        for m in mentions
        if any(keys[v.table] > 1 and Element(v.table, v.column) in filtered for v in m.values)
    ]


def _dropped_superlatives(cues: Sequence[Cue], intent: Intent) -> list[str]:
    """A superlative ("which airline flew the most") that neither ranked nor became MAX/MIN was dropped."""
    ranked = (
        intent.order_measure is not None
        or intent.order_column is not None
        or any(m.agg in ("max", "min") for m in intent.measures)
        or any(hm.agg in ("max", "min") for hm, _ in intent.having)
        or bool(intent.having)
    )
    if ranked:
        return []
    return [c.text for c in cues if c.kind in ("max", "min") and c.text not in _NOT_RANKING]


def _dropped_negations(question: str, cues: Sequence[Cue], intent: Intent) -> list[str]:
    """"没有打折的", "not discounted": a condition right after a negation that was kept as written."""
    negations = [c for c in cues if c.kind == "not"]
    out: list[str] = []
    for c in cues:
        if c.kind != "cond" or c.text not in lexicon.CONDITIONS:
            continue
        neg = next((n for n in negations if n.end <= c.start and not question[n.end : c.start].strip()), None)
        if neg is None:
            continue
        _, op, value = lexicon.CONDITIONS[c.text]
        kept = [f for f in intent.filters if f.op == op and f.value == value]
        if kept:
            out.append(question[neg.start : c.end])
    return out


# Superlative words that also say something other than a ranking ("the most recent" is a time, 最近 "recent").
_NOT_RANKING = frozenset({"latest", "earliest", "newest", "最近", "最早"})


_COMPARATORS = frozenset({"gt", "ge", "lt", "le"})
_TOTALS = frozenset({"sum", "count", "count_distinct", "share", "pct", "ratio", "avg_count"})
_AVERAGES = frozenset({"avg", "avg_count", "ratio"})
_COUNTS = frozenset({"count", "count_distinct", "avg_count", "pct", "share"})
# Aggregate words that name one aggregate (not "overall", "combined", 一共, which also frame counts and averages).
_AGG_CUE_MEANS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("total", "in total", "sum", "总", "总和", "总额", "合计", "总计"), _TOTALS),
    **dict.fromkeys(("average", "avg", "mean", "on average", "平均", "均值", "平均值", "平均数"), _AVERAGES),
}


def _dropped_comparators(question: str, cues: Sequence[Cue], intent: Intent) -> list[str]:
    """Comparators written against a number that the intent compares only for equality ("before March" as month = 3)."""
    compared = _intent_numbers(intent, inequalities_only=True)
    numbers = [c for c in cues if c.kind in _NUMBER_CUES | {"decade"} and isinstance(c.value, int | float)]
    out: list[str] = []
    for c in cues:
        if c.kind not in _COMPARATORS:
            continue
        for n in numbers:
            gap = question[c.end : n.start] if c.end <= n.start else question[n.end : c.start]
            if gap.strip().lower() in ("", "the") and not _number_used(float(n.value), compared):
                out.append(c.text)
    return out


def _intent_numbers(intent: Intent, inequalities_only: bool = False) -> list[float]:
    out: list[float] = []

    def add(v: object) -> None:
        if isinstance(v, bool):
            return
        if isinstance(v, int | float):
            out.append(float(v))
        elif isinstance(v, list | tuple | set | frozenset):
            for x in v:
                add(x)

    if intent.limit is not None and not inequalities_only:
        out.append(float(intent.limit))
    filters = [*intent.filters, *(hf for _, hf in intent.having)]
    for m in intent.measures:
        filters += m.condition
        if m.scale != 1 and not inequalities_only:
            out.append(float(m.scale))
    for f in filters:
        if inequalities_only and f.op not in (">", ">=", "<", "<=", "between"):
            continue
        add(f.value)
        add(f.value2)
        if isinstance(f.value, list):
            out.append(float(len(f.value)))  # "Consumer和Corporate两个细分市场": how many values were named
    return out


def _number_used(value: float, numbers: list[float]) -> bool:
    candidates = (value, value * 60, value / 100, value * 10_000)
    return any(abs(c - n) < 1e-9 or (n and abs(c - n) / abs(n) < 1e-9) for c in candidates for n in numbers)
