"""An index of the text values stored in a datasource, for linking question words to columns.

"JFK" → ``airports.faa``, ``flights.origin``, ``flights.dest``; "Furniture" → ``superstore.category``;
"Christopher Nolan" → ``omdb.Director`` (an item of a comma-separated list). Values are normalised by
case-folding, stripping accents and treating punctuation as spaces, so "united air lines" finds
"United Air Lines Inc." (trailing corporate suffixes such as "Inc." and "Intl" are indexed as aliases too).

:meth:`ValueIndex.search` scans a free-text question with word n-grams (CJK characters count as one word
each, and values written in CJK are also found by substring), keeping only the longest overlapping matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from datasources.connection import Connection
from datasources.introspect import split_list_value
from datasources.schema import Schema

MAX_DISTINCT = 20_000
"""Text columns with more distinct values than this (free text, ids) are not indexed."""
_MAX_VALUE_TOKENS = 8

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_HAS_CJK = re.compile(rf"[{_CJK}]")
_SUFFIXES = (
    "inc",
    "co",
    "corp",
    "corporation",
    "company",
    "ltd",
    "llc",
    "intl",
    "international",
    "airport",
    "airlines",
    "airways",
    "air lines",
)
# Single words too common in questions to be taken as values on their own ("up", "her" and "top" are film titles).
_STOPWORDS = frozenset(
    """a an the of in on at to for from by with without and or not no yes is are was were be been do does did
    have has had it its this that these those i me my we us our you your he she him her his they them their
    who whom what which when where why how many much more most less least than over under between per each
    every all any some top bottom first last next new old one two three four five ten up down out off after
    before during since until about above below show list give find tell count number total sum average avg
    mean max min maximum minimum highest lowest best worst big small large high low long short year years
    month months day days week weeks hour hours time times date name names rate ratio share percent
    percentage trend compare versus vs group order sort rank only also just like as into get got per""".split()
)


@dataclass(frozen=True)
class ValueMatch:
    """A stored value that a phrase refers to."""

    table: str
    column: str
    value: str
    """The value as stored (for list columns: the list item, e.g. one actor of ``Cast``)."""
    phrase: str
    """The text that matched, as written in the question (or the looked-up phrase)."""
    start: int = -1
    """Character offset of ``phrase`` in the searched text (-1 for :meth:`ValueIndex.lookup`)."""
    end: int = -1
    """Offset just past ``phrase``."""
    in_list: bool = False
    """True when ``column`` holds comma-separated lists: filter with LIKE '%value%', not equality."""


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """(normalised token, start, end) for every word of ``text``; offsets refer to ``text`` itself."""
    out = []
    for match in _TOKEN.finditer(text):
        folded = _fold(match.group())
        if folded:
            out.append((folded, match.start(), match.end()))
    return out


def normalize(text: str) -> str:
    """The key a value or phrase is indexed under: folded words joined by single spaces."""
    return " ".join(_TOKEN.findall(_fold(text)))


def _aliases(key: str) -> Iterable[str]:
    """Shorter keys for values ending in corporate or airport suffixes ("united air lines inc" → "united")."""
    current = key
    while True:
        for suffix in _SUFFIXES:
            if current.endswith(" " + suffix):
                current = current[: -len(suffix) - 1]
                if len(current) >= 3 and current not in _STOPWORDS:
                    yield current
                break
        else:
            return


_Entry = tuple[str, str, str, bool]
"""(table, column, value, in_list)."""


def _quote(name: str, dialect: str) -> str:
    if dialect == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


class ValueIndex:
    """Normalised value → the (table, column, value) entries that store it."""

    def __init__(self, entries: Iterable[_Entry]) -> None:
        self._index: dict[str, list[_Entry]] = {}
        self._restricted: dict[frozenset[tuple[str, str]], ValueIndex] = {}
        self._cjk: list[tuple[str, str]] = []
        self.max_tokens = 1
        """The longest indexed key, in words."""
        for entry in entries:
            key = normalize(entry[2])
            if not key:
                continue
            for k in (key, *_aliases(key)):
                bucket = self._index.setdefault(k, [])
                if entry not in bucket:
                    bucket.append(entry)
                    self.max_tokens = max(self.max_tokens, k.count(" ") + 1)
            if _HAS_CJK.search(key):
                self._cjk.append((key.replace(" ", ""), key))

    @classmethod
    def build(
        cls,
        conn: Connection,
        schema: Schema,
        *,
        list_columns: Iterable[tuple[str, str]] = (),
        max_distinct: int = MAX_DISTINCT,
    ) -> ValueIndex:
        """Read the distinct values of every text column with at most ``max_distinct`` of them."""
        lists = set(list_columns)
        entries: list[_Entry] = []
        for table in schema.tables:
            for column in table.columns:
                if column.kind != "text" or (column.distinct_count or 0) > max_distinct:
                    continue
                in_list = (table.name, column.name) in lists
                qc = _quote(column.name, conn.dialect)
                qt = _quote(table.name, conn.dialect)
                # bounded: a distinct count that was only estimated must not pull in a whole big column
                rows = conn.fetchall(f"SELECT DISTINCT {qc} FROM {qt} WHERE {qc} IS NOT NULL LIMIT {max_distinct + 1}")
                if len(rows) > max_distinct:
                    continue
                values: Iterable[str] = (str(v) for (v,) in rows)
                if in_list:
                    values = {item for v in values for item in split_list_value(v)}
                entries.extend((table.name, column.name, v, in_list) for v in values if _indexable(v))
        return cls(entries)

    def __len__(self) -> int:
        return len(self._index)

    def without(self, hidden: Mapping[str, Iterable[str]]) -> ValueIndex:
        """A copy without the values of the hidden columns (``{table: [column, ...]}``, any case)."""
        gone = frozenset((t.lower(), c.lower()) for t, cols in hidden.items() for c in cols)
        if not gone:
            return self
        cached = self._restricted.get(gone)
        if cached is None:
            entries = dict.fromkeys(e for bucket in self._index.values() for e in bucket
                                    if (e[0].lower(), e[1].lower()) not in gone)
            cached = self._restricted[gone] = ValueIndex(entries)
        return cached

    def lookup(self, phrase: str) -> list[ValueMatch]:
        """Every stored value equal to ``phrase`` after normalisation (case, accents, punctuation)."""
        return [
            ValueMatch(table=t, column=c, value=v, phrase=phrase, in_list=lst)
            for t, c, v, lst in self._index.get(normalize(phrase), ())
        ]

    def search(self, text: str, max_ngram: int = 4) -> list[ValueMatch]:
        """Every value mentioned in ``text``, longest matches first where matches overlap."""
        tokens = _tokens(text)
        spans: list[tuple[int, int, list[_Entry]]] = []
        longest = min(max(max_ngram, 1), self.max_tokens)
        for i in range(len(tokens)):
            for n in range(min(longest, len(tokens) - i), 0, -1):
                key = " ".join(t for t, _, _ in tokens[i : i + n])
                found = self._index.get(key)
                if not found and key.endswith("s") and len(key) > 3:  # plurals: "dramas", "comedies"
                    found = self._index.get(key[:-1]) or self._index.get(key[:-3] + "y")
                if not found:
                    continue
                if n == 1 and (key in _STOPWORDS or len(key) < 2 and not _HAS_CJK.search(key)):
                    continue
                spans.append((tokens[i][1], tokens[i + n - 1][2], found))
        if self._cjk and _HAS_CJK.search(text):
            folded = _fold(text)
            for compact, key in self._cjk:
                start = folded.find(compact)
                if start >= 0:
                    spans.append((start, start + len(compact), self._index[key]))
        kept = [
            s
            for s in spans
            if not any(o[0] <= s[0] and s[1] <= o[1] and (o[1] - o[0]) > (s[1] - s[0]) for o in spans)
        ]
        kept.sort(key=lambda s: (s[0], -(s[1] - s[0])))
        matches: list[ValueMatch] = []
        seen: set[tuple[int, int, str, str, str]] = set()
        for start, end, found in kept:
            for t, c, v, lst in found:
                if (start, end, t, c, v) not in seen:
                    seen.add((start, end, t, c, v))
                    matches.append(ValueMatch(t, c, v, text[start:end], start, end, lst))
        return matches


def _indexable(value: str) -> bool:
    """Skip numbers, dates and codes without letters, and long free text."""
    return bool(_HAS_LETTER.search(value)) and len(value) <= 200 and value.count(" ") < _MAX_VALUE_TOKENS
