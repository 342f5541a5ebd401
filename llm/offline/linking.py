"""Schema linking: find the tables, columns and data values a question mentions.

A :class:`SchemaIndex` is built once per schema version. It maps canonical lemma n-grams (from names,
abbreviation expansions, synonyms and English descriptions) and Chinese phrases (from Chinese descriptions)
to schema elements. :func:`link` runs a question through it and returns non-overlapping mentions.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from datasources.schema import Column, Schema, Table
from llm.offline import lexicon
from llm.offline.text import Token, has_cjk, lemma, name_lemmas, stem, tokenize

_MAX_NGRAM = 4
_CUE_WORDS = frozenset(w for words in lexicon.CUES_EN.values() for w in words if " " not in w) | {
    "number",
    "average",
}
_ZH_SPLIT = re.compile(r"[（）()，,。.;；:：、/\s]+|如|例如|含|表示|为空|均为")
_EN_CLAUSE = re.compile(r"[,.;:(]")


@dataclass(frozen=True)
class Element:
    """A table or a column of the schema."""

    table: str
    column: str | None = None

    def label(self) -> str:
        """``table`` or ``table.column``."""
        return self.table if self.column is None else f"{self.table}.{self.column}"


@dataclass(frozen=True)
class ValueRef:
    """A data value found in the question, and the column that holds it."""

    table: str
    column: str
    value: str
    is_list: bool = False
    """Whether the column stores comma-separated lists (match with LIKE)."""


@dataclass
class Mention:
    """A span of the question linked to schema elements or data values."""

    start: int
    end: int
    text: str
    elements: list[tuple[Element, float]] = field(default_factory=list)
    values: list[ValueRef] = field(default_factory=list)
    lemmas: tuple[str, ...] = ()


@dataclass
class SchemaIndex:
    """Lookup tables for one schema."""

    schema: Schema
    en: dict[tuple[str, ...], list[tuple[Element, float]]] = field(default_factory=dict)
    zh: dict[str, list[tuple[Element, float]]] = field(default_factory=dict)
    values: dict[str, list[ValueRef]] = field(default_factory=dict)
    zh_words: frozenset[str] = frozenset()
    vocab: frozenset[str] = frozenset()

    def add_en(self, key: Iterable[str], element: Element, weight: float) -> None:
        """Register a lemma n-gram for an element, keeping the highest weight."""
        k = tuple(x for x in key if x)
        if not k or (len(k) == 1 and k[0] in lexicon.STOPWORDS_EN) or len(k) > _MAX_NGRAM:
            return
        bucket = self.en.setdefault(k, [])
        for i, (e, w) in enumerate(bucket):
            if e == element:
                bucket[i] = (e, max(w, weight))
                return
        bucket.append((element, weight))

    def add_zh(self, phrase: str, element: Element, weight: float) -> None:
        """Register a Chinese phrase for an element."""
        phrase = phrase.strip()
        if len(phrase) < 2 or not has_cjk(phrase):
            return
        bucket = self.zh.setdefault(phrase, [])
        if all(e != element for e, _ in bucket):
            bucket.append((element, weight))


def is_list_column(column: Column) -> bool:
    """Whether a text column holds comma-separated lists, judging by its description."""
    desc = column.description_en.lower()
    return "comma-separated" in desc or "comma separated" in desc or "逗号分隔" in column.description_zh


def _desc_lemmas(text: str) -> list[str]:
    first = _EN_CLAUSE.split(text, maxsplit=1)[0]
    words = re.findall(r"[A-Za-z]+", first)
    return [lemma(w) for w in words if w.lower() not in lexicon.STOPWORDS_EN and len(w) > 1][:4]


def _build(schema: Schema) -> SchemaIndex:
    index = SchemaIndex(schema)
    vocab: set[str] = set()
    for table in schema.tables:
        t_el = Element(table.name)
        t_lem = name_lemmas(table.name)
        index.add_en(t_lem, t_el, 1.0)
        if len(t_lem) > 1:
            index.add_en(t_lem[-1:], t_el, 0.7)
        entity = re.search(
            r"\brows? (?:per|for each|for every) ([A-Za-z]+)", table.description_en, re.IGNORECASE
        )
        if entity:
            index.add_en((lemma(entity.group(1)),), t_el, 0.8)
        for phrase in _ZH_SPLIT.split(table.description_zh.split("：")[0]):
            index.add_zh(_zh_table_phrase(index, phrase.removesuffix("表"), table), t_el, 0.9)
        vocab.update(t_lem)
        for col in table.columns:
            _index_column(index, table, col, t_lem, vocab)
            _index_values(index, table, col)
    index.vocab = frozenset(vocab)
    index.zh_words = frozenset(index.zh) | frozenset(k for k in index.values if has_cjk(k))
    return index


def _zh_table_phrase(index: SchemaIndex, phrase: str, table: Table) -> str:
    """Drop a trailing word that names one of the table's columns (烂番茄评分 → 烂番茄) or is generic (信息)."""
    for suffix in ("信息", "明细", "数据", "记录"):
        if phrase.endswith(suffix) and len(phrase) > len(suffix) + 1:
            return phrase[: -len(suffix)]
    for word, gloss in lexicon.ZH_GLOSS.items():
        if phrase.endswith(word) and len(phrase) > len(word) + 1:
            cols = {name for c in table.columns for name in [tuple(name_lemmas(c.name))]}
            if tuple(gloss.split()) in cols:
                return phrase[: -len(word)]
    return phrase


def _index_column(index: SchemaIndex, table: Table, col: Column, t_lem: list[str], vocab: set[str]) -> None:
    el = Element(table.name, col.name)
    lem = name_lemmas(col.name)
    vocab.update(lem)
    index.add_en(lem, el, 1.0)
    if len(lem) > 1:
        index.add_en(lem[-1:], el, 0.7)
        generic_head = lem[-1] in ("name", "id", "code", "number", "title", "label")
        index.add_en(lem[:1], el, 0.7 if generic_head else 0.35)
    index.add_en(t_lem[-1:] + lem, el, 1.0)
    joined = lemma("".join(lem))
    if len(lem) > 1 and joined in lexicon.SYNONYMS:
        index.add_en((joined,), el, 1.0)
    desc = _desc_lemmas(col.description_en)
    if desc:
        index.add_en(desc, el, 0.8)
        if len(desc) > 1:
            index.add_en(desc[-2:], el, 0.6)
            index.add_en(lem + desc[-1:], el, 0.9)
        for d in desc:
            if d not in lem and d not in _CUE_WORDS:
                index.add_en((d,), el, 0.25)
    for phrase in _ZH_SPLIT.split(col.description_zh):
        index.add_zh(phrase, el, 0.9)
        break  # the first phrase names the column; later ones are examples and remarks


def _index_values(index: SchemaIndex, table: Table, col: Column) -> None:
    listy = is_list_column(col)
    for value in col.sample_values:
        if len(value) < 2 or len(value) > 60:
            continue
        index.values.setdefault(value.lower(), []).append(ValueRef(table.name, col.name, value, listy))


_cache: dict[tuple[str, str, int], SchemaIndex] = {}
_cache_lock = threading.Lock()


def schema_index(schema: Schema) -> SchemaIndex:
    """The index of a schema, built once per schema version."""
    key = (schema.datasource_id, schema.version, id(schema) if not schema.version else 0)
    found = _cache.get(key)
    if found is None:
        found = _build(schema)
        with _cache_lock:
            if len(_cache) > 64:
                _cache.clear()
            _cache[key] = found
    return found


def _short_code(value: str) -> bool:
    return len(value) <= 3 and value.upper() == value


def _value_mentions(question: str, index: SchemaIndex, values: Any) -> list[Mention]:
    """Data values the question names: from the value index if given, else the schema's sample values."""
    found: list[Mention] = []
    low = question.lower()
    for key, refs in index.values.items():
        start = low.find(key)
        while start >= 0:
            end = start + len(key)
            ascii_key = not has_cjk(key)
            bounded = not ascii_key or (
                (start == 0 or not low[start - 1].isalnum()) and (end == len(low) or not low[end].isalnum())
            )
            exact_case = not _short_code(refs[0].value) or question[start:end] == refs[0].value
            if bounded and exact_case:
                found.append(Mention(start, end, question[start:end], values=list(refs)))
                break
            start = low.find(key, start + 1)
    for word, gloss in lexicon.ZH_VALUE_GLOSS.items():
        pos = question.find(word)
        if pos >= 0 and gloss.lower() in index.values:
            found.append(Mention(pos, pos + len(word), word, values=list(index.values[gloss.lower()])))
    if values is not None:
        found.extend(_search_value_index(question, index, values))
    return found


def _search_value_index(question: str, index: SchemaIndex, values: Any) -> list[Mention]:
    """Adapt ``datasources.values.ValueIndex.search`` results into mentions (plus Chinese value glosses)."""
    out: list[Mention] = []
    try:
        hits = list(values.search(question))
        for word, gloss in lexicon.ZH_VALUE_GLOSS.items():
            pos = question.find(word)
            if pos >= 0:
                hits.extend(_Hit(h, pos, pos + len(word)) for h in values.lookup(gloss))
        for m in re.finditer(r"[A-Za-z]+", question):
            word = m.group(0)
            base = stem(word)
            if (
                base != word.lower()
                and word.lower() not in lexicon.STOPWORDS_EN
                and lemma(word) not in lexicon.SYNONYMS
            ):
                hits.extend(_Hit(h, m.start(), m.end()) for h in values.lookup(base))
    except Exception:  # a broken value index must not break SQL writing
        return out
    for hit in hits:
        table, column, value = _field(hit, "table"), _field(hit, "column"), _field(hit, "value")
        start, end = _field(hit, "start"), _field(hit, "end")
        if (
            not (table and column and value)
            or not isinstance(start, int)
            or not isinstance(end, int)
            or start < 0
        ):
            continue
        col = _column(index.schema, table, column)
        phrase = question[start:end]
        in_list = bool(_field(hit, "in_list"))
        if (
            col is not None
            and not in_list
            and (col.distinct_count or 0) > 500
            and " " not in phrase.strip()
            and not has_cjk(phrase)
        ):
            if phrase != str(value)[: len(phrase)] and phrase.lower() != phrase.upper():
                continue  # a single lower-case word is rarely a title or a name
            if phrase.islower():
                continue
        if _short_code(str(value)) and (
            phrase != str(value) or (col is not None and (col.distinct_count or 0) > 500)
        ):
            if not has_cjk(phrase):
                continue
        if phrase.islower() and all(
            w in lexicon.STOPWORDS_EN or lemma(w) in lexicon.SYNONYMS for w in phrase.split()
        ):
            continue  # "the films" is not the company "The Film Company"
        words = phrase.split()
        if (
            len(words) > 1
            and (col is None or (col.distinct_count or 0) > 500)
            and _names_rows(index, words[-1])
            and str(value).lower() != phrase.lower()
        ):
            # "French films" are films in French, not the title "French Film": look up "French" alone.
            short = phrase[: phrase.rstrip().rfind(" ")].rstrip()
            with contextlib.suppress(Exception):  # a broken value index must not break SQL writing
                hits.extend(_Hit(h, start, start + len(short)) for h in values.lookup(short))
            continue
        ref = ValueRef(table, column, str(value), bool(_field(hit, "in_list")))
        out.append(Mention(start, end, phrase, values=[ref]))
    return out


def _names_rows(index: SchemaIndex, word: str) -> bool:
    """Whether a word names the rows of a table ("films" for a table of one row per film)."""
    return any(el.column is None and w >= 0.8 for el, w in index.en.get((lemma(word),), []))


@dataclass(frozen=True)
class _Hit:
    inner: Any
    start: int
    end: int

    @property
    def table(self) -> Any:
        return _field(self.inner, "table")

    @property
    def column(self) -> Any:
        return _field(self.inner, "column")

    @property
    def value(self) -> Any:
        return _field(self.inner, "value")

    @property
    def in_list(self) -> Any:
        return _field(self.inner, "in_list")


def _column(schema: Schema, table: str, column: str) -> Column | None:
    t = schema.table(table)
    return t.column(column) if t is not None else None


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def link(question: str, schema: Schema, values: Any = None) -> tuple[list[Token], list[Mention]]:
    """Tokenize a question and find its schema and value mentions, longest match first, without overlaps."""
    index = schema_index(schema)
    tokens = tokenize(question, index.zh_words)
    candidates: list[Mention] = []
    # Chinese description phrases, matched on the raw text.
    if has_cjk(question):
        for phrase, zh_els in index.zh.items():
            pos = question.find(phrase)
            if pos >= 0:
                candidates.append(Mention(pos, pos + len(phrase), phrase, elements=list(zh_els)))
    # Lemma n-grams over tokens; a Chinese gloss may be several lemmas sharing one token span.
    seq: list[tuple[str, Token]] = []
    for tok in tokens:
        for lem in tok.lemma.split():
            seq.append((lem, tok))
    names = _table_names(question, index.schema)
    i = 0
    while i < len(seq):
        for n in range(min(_MAX_NGRAM, len(seq) - i), 0, -1):
            key = tuple(lem for lem, _ in seq[i : i + n])
            els = index.en.get(key)
            first, last = seq[i][1], seq[i + n - 1][1]
            if els and any(_crosses(first.start, last.end, m) for m in names):
                continue  # "Tomatoes reviews" across the name "Rotten Tomatoes"
            if els:
                text = question[first.start : last.end]
                candidates.append(Mention(first.start, last.end, text, elements=list(els), lemmas=key))
                i += n
                break
        else:
            i += 1
    candidates.extend(
        m for m in _value_mentions(question, index, values) if not _cuts_a_word(m, tokens) and not _frame_words(question, m)
    )
    candidates.extend(names)
    kept = _resolve_overlaps(candidates)
    return tokens, sorted(kept + _codes_next_to_columns(question, index.schema, kept), key=lambda m: m.start)


_PROPER_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+){1,3}\b")


def _crosses(start: int, end: int, m: Mention) -> bool:
    """Whether a span overlaps a mention without either holding the other."""
    overlap = start < m.end and m.start < end
    return overlap and not (start <= m.start and m.end <= end) and not (m.start <= start and end <= m.end)


def _table_names(question: str, schema: Schema) -> list[Mention]:
    """A proper name a table's description gives the table ("Rotten Tomatoes") names that table.

    Linked as one span, so its words do not link on their own ("Rotten" is also a column of counts).
    """
    found: list[Mention] = []
    for m in _PROPER_NAME.finditer(question):
        tables = [t for t in schema.tables if re.search(rf"\b{re.escape(m.group(0))}\b", t.description_en)]
        if len(tables) == 1:
            found.append(Mention(m.start(), m.end(), m.group(0), elements=[(Element(tables[0].name, None), 1.0)]))
    return found


def _frame_words(question: str, m: Mention) -> bool:
    """Whether a value is made only of request and function words ("Show Me", "It", "Up").

    Such a value is how the question is asked, not a value, unless it is quoted.
    """
    words = re.findall(r"[a-z']+", m.text.lower())
    if not words or has_cjk(m.text) or not all(w in _CUE_WORDS or w in lexicon.STOPWORDS_EN for w in words):
        return False
    before, after = question[: m.start].rstrip()[-1:], question[m.end :].lstrip()[:1]
    return not (before in "'\"“‘" and before and after in "'\"”’" and after)


def _cuts_a_word(m: Mention, tokens: list[Token]) -> bool:
    """A value found inside a longer English word ("Don" in "don't"), other than before a possessive 's."""
    for t in tokens:
        if t.zh or not (t.start < m.end < t.end):
            continue
        return not (t.text.endswith("'s") and m.end == t.end - 2)
    return False


_ADJACENT_BEFORE = re.compile(r"([A-Za-z0-9][A-Za-z0-9/+-]*)[\s-]+$")
_ADJACENT_AFTER = re.compile(r"^[\s-]+([A-Za-z0-9][A-Za-z0-9/+-]*)")


def _codes_next_to_columns(question: str, schema: Schema, mentions: list[Mention]) -> list[Mention]:
    """Short codes written next to their column's name: "R rated", "rating PG-13", "class A".

    Codes of one or two letters are too ambiguous to find anywhere in a question, but right beside the
    column's own name (and spelled exactly) they can only be that column's value.
    """
    out: list[Mention] = []
    taken = [(m.start, m.end) for m in mentions]
    for m in mentions:
        for el, _ in m.elements:
            col = _column(schema, el.table, el.column or "") if el.column else None
            if col is None or col.kind != "text" or not col.sample_values:
                continue
            before = _ADJACENT_BEFORE.search(question[: m.start])
            after = _ADJACENT_AFTER.search(question[m.end :])
            spans = []
            if before:
                spans.append((before.start(1), before.end(1)))
            if after:
                spans.append((m.end + after.start(1), m.end + after.end(1)))
            for start, end in spans:
                word = question[start:end]
                if word in col.sample_values and not any(s < end and start < e for s, e in taken):
                    out.append(Mention(start, end, word, values=[ValueRef(el.table, col.name, word)]))
                    taken.append((start, end))
    return out


def _resolve_overlaps(cands: list[Mention]) -> list[Mention]:
    """Keep the longest mentions; a value and an element on the same span merge into one mention."""
    cands.sort(key=lambda m: (-(m.end - m.start), -bool(m.elements), m.start))
    kept: list[Mention] = []
    for m in cands:
        if m.end <= m.start:
            continue
        clash = next((k for k in kept if m.start < k.end and k.start < m.end), None)
        if clash is None:
            kept.append(m)
        elif (clash.start, clash.end) == (m.start, m.end):
            if clash.values and m.values:
                clash.values.extend(v for v in m.values if v not in clash.values)
            elif not clash.values:
                clash.elements.extend(e for e in m.elements if e not in clash.elements)
    kept.sort(key=lambda m: m.start)
    return kept
