"""Saved question→SQL examples in the offline writer: a question close enough to one is answered from it."""

from __future__ import annotations

from knowledge.models import ExampleMatch

ANSWER_SCORE = 92.0
"""An example at least this similar (0-100, see :func:`knowledge.retrieve.similarity`) answers the question."""


def answering_example(matches: tuple[ExampleMatch, ...]) -> ExampleMatch | None:
    """The best retrieved example when it is close enough to answer from."""
    return matches[0] if matches and matches[0].score >= ANSWER_SCORE else None


def readback_note(match: ExampleMatch, locale: str) -> str:
    """The readback for an answer taken from a saved example."""
    q = match.example.question
    if locale == "zh":
        return f"采用已保存的示例“{q}”（相似度 {match.score:.0f}%）的SQL"
    return f"answered with the saved example '{q}' ({match.score:.0f}% similar)"
