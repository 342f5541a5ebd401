"""Saved question→SQL examples in the offline writer: a question close enough to one is answered from it."""

from __future__ import annotations

import re

from knowledge.models import ExampleMatch

ANSWER_SCORE = 92.0
"""An example at least this similar (0-100, see :func:`knowledge.retrieve.similarity`) answers the question."""

_LITERAL = re.compile(r"\d+(?:\.\d+)?|\b[A-Z][A-Za-z0-9]+\b|'[^']*'|\"[^\"]*\"|“[^”]*”")


def literals(question: str) -> list[str]:
    """Numbers, quoted strings and capitalised names: the words a near-identical question must not change."""
    return sorted(m.group().lower() for m in _LITERAL.finditer(question) if m.start() > 0 or m.group().isdigit())


def answering_example(question: str, matches: tuple[ExampleMatch, ...]) -> ExampleMatch | None:
    """The best retrieved example when it is close enough to answer from and names the same literals.

    "sales in 2015" and "sales in 2016" are 97% alike; only the literal check keeps 2016 from getting 2015's SQL.
    """
    if not matches or matches[0].score < ANSWER_SCORE:
        return None
    best = matches[0]
    return best if literals(question) == literals(best.example.question) else None


def readback_note(match: ExampleMatch, locale: str) -> str:
    """The readback for an answer taken from a saved example."""
    q = match.example.question
    if locale == "zh":
        return f"采用已保存的示例“{q}”（相似度 {match.score:.0f}%）的SQL"
    return f"answered with the saved example '{q}' ({match.score:.0f}% similar)"
