"""Schema retrieval for large databases: the tables a question needs, within a prompt budget in tokens.

A schema whose rendered DDL fits the budget (``SQLBOT_SCHEMA_TOKEN_BUDGET``) is used whole. A larger one is
cut per question in three moves:

1. **Rank** tables with BM25 over their names (snake_case and camelCase split), column names, descriptions
   and comments, plus the value index (a question naming 'JFK' points at ``airports.faa``).
2. **Expand** along foreign keys: first the tables on the shortest join paths between hits (a bridge such as
   ``order_items`` between ``orders`` and ``products``), then the tables the hits reference, then the
   well-scoring tables that reference them.
3. **Trim** to the budget, counting each table's DDL with a real BPE tokenizer (``bpe-openai``'s
   ``o200k_base``, shipped inside the wheel, so nothing is downloaded).

Every kept table carries the reasons it was kept ("name matches 'carrier'", "joined to flights by
flights.carrier → airlines.carrier", "value 'JFK' found in airports.faa"), which the connect step shows.
``pinned`` lets other knowledge (glossary entries, SQL examples) force tables in with their own reason.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from datasources.schema import Schema, Table
from llm.base import Locale
from llm.prompts import render_schema

DEFAULT_BUDGET = 6000
"""Tokens of schema DDL a prompt may hold before retrieval cuts it down."""
ENCODING = "o200k_base"
"""The BPE encoding that budgets are counted in (GPT-4o's; close enough for other models' budgets)."""
K1 = 1.2
B = 0.75
MAX_HITS = 8
"""At most this many top-ranked tables count as direct hits (the rest can still fill the budget)."""
HIT_RATIO = 0.35
"""A table is a direct hit when its score is at least this share of the best score."""
MAX_PATH = 3
"""Longest foreign-key path (in joins) searched between two hits."""

_FIELD_WEIGHTS = {"name": 3.0, "column": 1.5, "description": 1.0, "column_description": 0.5}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z0-9]+|[\u3400-\u9fff]+")
_STOPWORDS = frozenset(
    """a an the of in on at to for from by with and or not is are was were be been do does did have has had it its
    this that these those i me my we our you your he she they them their who what which when where why how many
    much show list give find tell me per each every all any some top number count total sum average avg
    me please than over under between during""".split()
)


def split_identifier(name: str) -> list[str]:
    """``orderItems`` / ``order_items`` / ``OrderITEMS`` → ``['order', 'items']`` (lower-case words)."""
    words: list[str] = []
    for part in _WORD.findall(name):
        if part.isascii():
            words.extend(w.lower() for w in _CAMEL.split(part) if w)
        else:
            words.append(part)
    return words


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Search terms of a text or identifier: split, lower-cased, singular; CJK runs as character bigrams."""
    out: list[str] = []
    for word in split_identifier(text):
        if not word.isascii():
            out.extend(word[i : i + 2] for i in range(max(len(word) - 1, 1)))
        elif word not in _STOPWORDS and not word.isdigit() and len(word) > 1:
            out.append(_stem(word))
    return out


def question_terms(question: str) -> list[str]:
    """Search terms of a question; Chinese words the offline lexicon glosses add their English terms."""
    out = terms(question)
    if _CJK.search(question):
        from llm.offline.text import tokenize

        out += [t for token in tokenize(question) if token.zh and token.lemma.isascii() for t in terms(token.lemma)]
    return out


@lru_cache(maxsize=1)
def _encoding() -> Any:
    import bpe_openai

    return bpe_openai.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    """Tokens of ``text`` in the budget's encoding."""
    return len(_encoding().encode_ordinary(text)) if text else 0


@dataclass(frozen=True)
class Edge:
    """One foreign key seen from one end: ``child.column → parent.ref_column``."""

    other: str
    """The table at the other end (lower-case)."""
    text: str
    """``flights.carrier → airlines.carrier`` as the schema spells it."""
    outgoing: bool
    """True when this table holds the key (the other table is the one referenced)."""


class SchemaIndex:
    """What retrieval needs of one schema, computed once: BM25 postings, table sizes, the join graph."""

    def __init__(self, schema: Schema, locale: Locale = "en") -> None:
        self.schema = schema
        self.names = [t.name for t in schema.tables]
        self.by_lower = {t.name.lower(): i for i, t in enumerate(schema.tables)}
        self.tokens = [count_tokens(render_schema([t], schema.dialect, locale)) for t in schema.tables]
        self.total_tokens = sum(self.tokens) + 2 * max(len(self.tokens) - 1, 0)
        self.postings: dict[str, list[tuple[int, float, str]]] = {}
        """term → (table index, weighted frequency, the field that matched best) per table containing it."""
        lengths: list[float] = []
        for i, table in enumerate(schema.tables):
            weighted: dict[str, float] = {}
            where: dict[str, tuple[float, str]] = {}
            for term, weight, origin in _fields(table):
                weighted[term] = weighted.get(term, 0.0) + weight
                if weight > where.get(term, (0.0, ""))[0]:
                    where[term] = (weight, origin)
            lengths.append(sum(weighted.values()))
            for term, freq in weighted.items():
                self.postings.setdefault(term, []).append((i, freq, where[term][1]))
        self.name_terms = [set(terms(t.name)) for t in schema.tables]
        self.avg_length = sum(lengths) / max(len(lengths), 1)
        self.lengths = lengths
        self.edges: list[list[Edge]] = [[] for _ in schema.tables]
        for i, table in enumerate(schema.tables):
            for fk in table.foreign_keys:
                j = self.by_lower.get(fk.ref_table.lower())
                if j is None or j == i:
                    continue
                text = f"{table.name}.{fk.column} → {self.names[j]}.{fk.ref_column}"
                self.edges[i].append(Edge(self.names[j].lower(), text, outgoing=True))
                self.edges[j].append(Edge(table.name.lower(), text, outgoing=False))

    def bm25(self, query: list[str]) -> dict[int, tuple[float, list[tuple[str, str]]]]:
        """Table index → (score, [(term, field)]) for every table sharing a term with the query."""
        n = len(self.names)
        scores: dict[int, tuple[float, list[tuple[str, str]]]] = {}
        for term in dict.fromkeys(query):
            posting = self.postings.get(term)
            if not posting:
                continue
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            for i, freq, origin in posting:
                norm = freq * (K1 + 1) / (freq + K1 * (1 - B + B * self.lengths[i] / self.avg_length))
                score, matched = scores.get(i, (0.0, []))
                scores[i] = (score + idf * norm, [*matched, (term, origin)])
        wanted = set(query)
        for i, (score, matched) in scores.items():
            # of tables alike (orders, orders_history, orders_archive), prefer the one whose name the
            # question spells out most completely
            covered = len(self.name_terms[i] & wanted)
            scores[i] = (score * math.sqrt((1 + covered) / (1 + len(self.name_terms[i]))), matched)
        return scores


def _fields(table: Table) -> Iterable[tuple[str, float, str]]:
    """(term, weight, origin) for everything retrieval reads of a table."""
    for term in terms(table.name):
        yield term, _FIELD_WEIGHTS["name"], "name"
    for term in terms(f"{table.description_en} {table.description_zh}"):
        yield term, _FIELD_WEIGHTS["description"], "description"
    for column in table.columns:
        for term in terms(column.name):
            yield term, _FIELD_WEIGHTS["column"], f"column {column.name}"
        for term in terms(f"{column.description_en} {column.description_zh}"):
            yield term, _FIELD_WEIGHTS["column_description"], f"column {column.name}"


_INDEXES: OrderedDict[tuple[str, str, str, int], SchemaIndex] = OrderedDict()
_INDEX_LOCK = threading.Lock()


def index_for(schema: Schema, locale: Locale = "en") -> SchemaIndex:
    """The (cached) index of ``schema``: built once per datasource, schema version and locale."""
    key = (schema.datasource_id, schema.version, locale, len(schema.tables))
    with _INDEX_LOCK:
        found = _INDEXES.get(key)
        if found is not None and found.schema is schema:
            _INDEXES.move_to_end(key)
            return found
    built = SchemaIndex(schema, locale)
    with _INDEX_LOCK:
        _INDEXES[key] = built
        while len(_INDEXES) > 8:
            _INDEXES.popitem(last=False)
    return built


@dataclass
class Retrieval:
    """The part of a schema one question is written against, and why each table is in it."""

    tables: list[str]
    """Kept tables, most relevant first."""
    reasons: dict[str, list[str]]
    """Table → why it was kept (English; :func:`reason_zh` words them in Chinese)."""
    total_tables: int
    """Tables of the whole schema."""
    schema_tokens: int
    """Tokens of the whole schema's DDL."""
    tokens: int
    """Tokens of the kept tables' DDL."""
    budget: int
    """The budget the kept tables had to fit."""
    elapsed_ms: float = 0.0
    """Time spent ranking, expanding and trimming."""
    applied: bool = True
    """False when the whole schema fit the budget and nothing was cut."""
    scores: dict[str, float] = field(default_factory=dict)
    """BM25 (+ value) score of each scored table that was kept."""

    def to_state(self) -> dict[str, Any]:
        """The JSON form kept in graph state (and in the connect step's record)."""
        return {
            "tables": self.tables,
            "reasons": self.reasons,
            "totalTables": self.total_tables,
            "schemaTokens": self.schema_tokens,
            "tokens": self.tokens,
            "budget": self.budget,
            "elapsedMs": round(self.elapsed_ms, 2),
            "applied": self.applied,
        }


def subschema(schema: Schema, tables: Iterable[str]) -> Schema:
    """``schema`` restricted to ``tables``: schema order kept, foreign keys to tables left out dropped."""
    wanted = {t.lower() for t in tables}
    kept = tuple(
        replace(t, foreign_keys=tuple(fk for fk in t.foreign_keys if fk.ref_table.lower() in wanted))
        for t in schema.tables
        if t.name.lower() in wanted
    )
    # its own version: caches keyed by schema version (the offline writer's linking index) must not mix parts
    digest = hashlib.sha256("\n".join(t.name for t in kept).encode()).hexdigest()[:8]
    return replace(schema, tables=kept, version=f"{schema.version}-r{digest}")


class ValuesWithin:
    """A value index seen through a retrieved schema: matches in tables that were not retrieved are dropped."""

    def __init__(self, values: Any, tables: Iterable[str]) -> None:
        self._values = values
        self._tables = {t.lower() for t in tables}

    def search(self, text: str, *args: Any, **kwargs: Any) -> list[Any]:
        """``ValueIndex.search`` restricted to the retrieved tables."""
        return [m for m in self._values.search(text, *args, **kwargs) if str(m.table).lower() in self._tables]

    def lookup(self, phrase: str) -> list[Any]:
        """``ValueIndex.lookup`` restricted to the retrieved tables."""
        return [m for m in self._values.lookup(phrase) if str(m.table).lower() in self._tables]

    def __len__(self) -> int:
        return len(self._values)


def _why(term: str, origin: str) -> str:
    if origin == "name":
        return f"name matches '{term}'"
    if origin == "description":
        return f"description mentions '{term}'"
    return f"{origin} matches '{term}'"


def retrieve(
    schema: Schema,
    question: str,
    *,
    budget: int = DEFAULT_BUDGET,
    values: Any = None,
    context: str = "",
    pinned: Mapping[str, str] | None = None,
    locale: Locale = "en",
) -> Retrieval:
    """The tables ``question`` needs, with reasons, whose DDL fits ``budget`` tokens.

    ``context`` (earlier questions of the chat) adds terms at a lower weight; ``values`` is a
    ``datasources.values.ValueIndex`` (duck-typed: ``search(text)``); ``pinned`` maps tables that other
    knowledge requires (glossary, examples) to the reason, and they are kept first.
    """
    import time

    started = time.perf_counter()
    index = index_for(schema, locale)
    if index.total_tokens <= budget:
        return Retrieval(
            tables=list(index.names),
            reasons={},
            total_tables=len(index.names),
            schema_tokens=index.total_tokens,
            tokens=index.total_tokens,
            budget=budget,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            applied=False,
        )
    reasons: dict[int, list[str]] = {}
    ranked = index.bm25(question_terms(question))
    scores = {i: s for i, (s, _) in ranked.items()}
    for i, (_, matched) in ranked.items():
        reasons[i] = [_why(term, origin) for term, origin in matched[:3]]
    if context:
        for i, (score, _) in index.bm25(terms(context)).items():
            scores[i] = scores.get(i, 0.0) + 0.3 * score
            reasons.setdefault(i, ["named earlier in this chat"])
    _value_hits(index, values, question, scores, reasons)

    order: list[int] = []
    why: dict[int, list[str]] = {}

    def add(i: int, reason: list[str]) -> None:
        if i not in why:
            order.append(i)
            why[i] = list(dict.fromkeys([*reason, *reasons.get(i, [])]))

    for name, reason in (pinned or {}).items():
        if (j := index.by_lower.get(name.lower())) is not None:
            add(j, [reason])
    ranking = sorted(scores, key=lambda i: (-scores[i], i))
    top = scores[ranking[0]] if ranking else 0.0
    hits: list[int] = []
    copies: list[int] = []  # orders_history, orders_archive … of a hit: kept after the joins, not as hits
    for i in ranking:
        if len(hits) >= MAX_HITS or scores[i] < HIT_RATIO * top or scores[i] <= 0:
            break
        lowered = index.names[i].lower()
        is_copy = any(lowered.startswith(index.names[h].lower() + "_") for h in hits)
        (copies if is_copy else hits).append(i)
    for pos, i in enumerate(hits):  # each hit, the bridges to the hits above it, then the tables it references
        add(i, [])
        for a in hits[:pos]:
            for step, edge_text in _path(index, a, i):
                add(step, [f"joins {index.names[a]} and {index.names[i]} ({edge_text})"])
        for edge in index.edges[i]:
            if edge.outgoing:
                add(index.by_lower[edge.other], [f"joined to {index.names[i]} by {edge.text}"])
    for i in hits:
        referencing = [index.by_lower[e.other] for e in index.edges[i] if not e.outgoing]
        for j in sorted(referencing, key=lambda j: -scores.get(j, 0.0)):
            if scores.get(j, 0.0) > 0:
                add(j, [f"joined to {index.names[i]} by {_edge_text(index, j, i)}"])
    for i in [*copies, *ranking]:
        add(i, [])
    if not order:  # nothing matched: the best-connected tables are the likeliest to be useful
        for i in sorted(range(len(index.names)), key=lambda i: (-len(index.edges[i]), i)):
            add(i, ["nothing matched the question; one of the most-joined tables"])

    kept: list[int] = []
    used = 0
    for i in order:
        cost = index.tokens[i] + 2
        if used + cost <= budget or not kept:
            kept.append(i)
            used += cost
    return Retrieval(
        tables=[index.names[i] for i in kept],
        reasons={index.names[i]: why[i] for i in kept},
        total_tables=len(index.names),
        schema_tokens=index.total_tokens,
        tokens=used,
        budget=budget,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        scores={index.names[i]: round(scores[i], 3) for i in kept if i in scores},
    )


def _edge_text(index: SchemaIndex, child: int, parent: int) -> str:
    return next(e.text for e in index.edges[child] if e.other == index.names[parent].lower())


def _value_hits(
    index: SchemaIndex, values: Any, question: str, scores: dict[int, float], reasons: dict[int, list[str]]
) -> None:
    """Raise the tables that store a value the question names ('JFK' → airports.faa)."""
    search = getattr(values, "search", None)
    if not callable(search):
        return
    bonus = max(scores.values(), default=0.0) or 3.0
    by_phrase: dict[str, set[int]] = {}
    found: dict[tuple[str, int], str] = {}
    for match in search(question):
        i = index.by_lower.get(str(match.table).lower())
        if i is None:
            continue
        by_phrase.setdefault(match.phrase, set()).add(i)
        found.setdefault((match.phrase, i), f"value '{match.value}' found in {match.table}.{match.column}")
    for (phrase, i), reason in found.items():
        scores[i] = scores.get(i, 0.0) + 0.6 * bonus / len(by_phrase[phrase])
        reasons.setdefault(i, []).insert(0, reason)


def _path(index: SchemaIndex, a: int, b: int) -> list[tuple[int, str]]:
    """The intermediate tables (with the key that reaches each) on a shortest join path from a to b."""
    previous: dict[int, tuple[int, str]] = {a: (a, "")}
    queue = deque([(a, 0)])
    while queue:
        node, depth = queue.popleft()
        if node == b or depth >= MAX_PATH:
            continue
        for edge in index.edges[node]:
            nxt = index.by_lower[edge.other]
            if nxt not in previous:
                previous[nxt] = (node, edge.text)
                queue.append((nxt, depth + 1))
    if b not in previous:
        return []
    steps: list[tuple[int, str]] = []
    node = b
    while node != a:
        parent, text = previous[node]
        if node != b:
            steps.append((node, text))
        node = parent
    return steps[::-1]


_ZH = (
    (re.compile(r"^name matches '(.*)'$"), "表名匹配“{0}”"),
    (re.compile(r"^description mentions '(.*)'$"), "描述提到“{0}”"),
    (re.compile(r"^column (\S+) matches '(.*)'$"), "列 {0} 匹配“{1}”"),
    (re.compile(r"^value '(.*)' found in (\S+)$"), "值“{0}”见于 {1}"),
    (re.compile(r"^joined to (\S+) by (.*)$"), "通过 {1} 与 {0} 关联"),
    (re.compile(r"^joins (\S+) and (\S+) \((.*)\)$"), "连接 {0} 与 {1}（{2}）"),
    (re.compile(r"^named earlier in this chat$"), "本次对话前文提到"),
    (re.compile(r"^nothing matched the question; one of the most-joined tables$"), "问题未匹配到任何表；这是关联最多的表之一"),
)


def reason_zh(reason: str) -> str:
    """A reason worded in Chinese (unknown reasons, e.g. from a glossary, are returned as they are)."""
    for pattern, template in _ZH:
        if match := pattern.match(reason):
            return template.format(*match.groups())
    return reason
