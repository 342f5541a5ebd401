"""Which glossary entries a question mentions, and which saved examples are closest to it (lexical)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from knowledge.models import ExampleMatch, GlossaryEntry, KnowledgeBundle, SQLExample

EXAMPLES_IN_PROMPT = 3
"""How many examples a question gets at most."""
EXAMPLE_MIN_SCORE = 50.0
"""Examples less similar than this (rapidfuzz token-set ratio, 0-100) are not retrieved at all."""


def normalize(text: str) -> str:
    """Lower case, hyphens and underscores as spaces, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[-_]", " ", text.lower())).strip()


@dataclass(frozen=True)
class TermHit:
    """One occurrence of a glossary term (or synonym) in a question."""

    entry: GlossaryEntry
    name: str
    """The term or synonym that matched."""
    start: int
    end: int
    """The span in the question."""


def fold(text: str) -> str:
    """Lower case with hyphens and underscores as spaces, keeping every character's position."""
    folded = re.sub(r"[-_]", " ", text.lower())
    return folded if len(folded) == len(text) else text


def _pattern(name: str) -> re.Pattern[str]:
    n = r"\s+".join(re.escape(w) for w in normalize(name).split(" "))
    if name.isascii():
        return re.compile(rf"(?<![a-z0-9]){n}(?:s|es)?(?![a-z0-9])")
    return re.compile(n)


def find_terms(question: str, entries: Iterable[GlossaryEntry]) -> list[TermHit]:
    """Non-overlapping term hits in ``question`` (spans index it), longest names first, in question order."""
    q = fold(question)
    candidates = sorted(
        ((len(name), name, e) for e in entries for name in e.names() if name.strip()), key=lambda c: -c[0]
    )
    taken: list[TermHit] = []
    for _, name, entry in candidates:
        for m in _pattern(name).finditer(q):
            if any(m.start() < h.end and h.start < m.end() for h in taken):
                continue
            if any(h.entry.id == entry.id for h in taken):
                continue
            taken.append(TermHit(entry, name, m.start(), m.end()))
    return sorted(taken, key=lambda h: h.start)


def similarity(a: str, b: str) -> float:
    """Lexical similarity of two questions, 0-100 (sorted words for English, characters for Chinese).

    Extra words lower the score (unlike a token-set ratio), so "X for Furniture" is not taken for "X".
    """
    a, b = normalize(a).rstrip("?？。. "), normalize(b).rstrip("?？。. ")
    if a.isascii() and b.isascii():
        return float(fuzz.token_sort_ratio(a, b))
    return float(fuzz.ratio(a, b))


def top_examples(question: str, examples: Sequence[SQLExample], k: int = EXAMPLES_IN_PROMPT) -> list[ExampleMatch]:
    """The ``k`` examples most similar to ``question`` (at least :data:`EXAMPLE_MIN_SCORE`), best first."""
    scored = [ExampleMatch(e, similarity(question, e.question)) for e in examples]
    scored = [m for m in scored if m.score >= EXAMPLE_MIN_SCORE]
    return sorted(scored, key=lambda m: -m.score)[:k]


def bundle(
    question: str,
    datasource: str,
    glossary: Sequence[GlossaryEntry],
    examples: Sequence[SQLExample],
    instruction: str = "",
) -> KnowledgeBundle:
    """The knowledge one question on ``datasource`` gets (global glossary entries included)."""
    applicable = tuple(g for g in glossary if g.datasource in ("", datasource))
    hits = find_terms(question, applicable)
    mine = [e for e in examples if e.datasource == datasource]
    return KnowledgeBundle(
        glossary=tuple({h.entry.id: h.entry for h in hits}.values()),
        examples=tuple(top_examples(question, mine)),
        instruction=instruction,
        all_glossary=applicable,
    )
