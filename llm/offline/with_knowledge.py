"""The offline writer's knowledge hook: answer from a near-identical saved example, or write with glossary terms.

Kept apart from :mod:`llm.offline.writer`, which calls :func:`write_with_knowledge` once and otherwise runs as
before: glossary variants of the question are written by the plain writer (the request without knowledge) and
the terms' expressions are then grafted into the SQL (:mod:`llm.offline.glossary`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from llm.base import SQLDraft, SQLRequest, WriterError
from llm.offline import examples as offline_examples
from llm.offline import glossary as offline_glossary

PlainWrite = Callable[[SQLRequest], Awaitable[SQLDraft]]


async def write_with_knowledge(write: PlainWrite, question: str, request: SQLRequest) -> SQLDraft | None:
    """A draft that uses the request's knowledge, or None when neither an example nor a glossary term applies.

    ``question`` is the standalone question (a follow-up already resolved). Raises WriterError when the question
    uses a glossary term but the rest of it cannot be written around the term.
    """
    bundle = request.knowledge
    if not bundle:
        return None
    zh = request.locale == "zh"
    heading = "理解为：" if zh else "Understood as: "
    match = offline_examples.answering_example(question, bundle.examples)
    if match is not None:
        note = offline_examples.readback_note(match, request.locale)
        return SQLDraft(sql=match.example.sql, reasoning=heading + note, interpretation=note)
    plan = offline_glossary.plan(question, bundle.all_glossary, request.schema, request.locale)
    if plan is None:
        return None
    error: WriterError | None = None
    for variant in plan.variants:
        try:
            draft = await write(replace(request, question=variant, history=(), knowledge=None))
        except WriterError as exc:
            error = error or exc
            continue
        grafted = offline_glossary.graft(draft.sql, plan.uses, request.schema)
        if grafted is None:
            continue
        interpretation = (
            draft.interpretation.rstrip(".。") + offline_glossary.readback_note(plan.uses, request.locale)
            + ("。" if zh else ".")
        )
        trace = [heading + interpretation, f"glossary rewrite: {variant}", *draft.reasoning.splitlines()[1:]]
        return SQLDraft(sql=grafted, reasoning="\n".join(trace), interpretation=interpretation)
    terms = ", ".join(f"'{u.entry.term}'" for u in plan.uses)
    raise WriterError(
        f"The question uses the glossary term(s) {terms}, but the rest of it could not be written around them.",
        kind="not_understood",
        detail=str(error or ""),
        suggestion=(error.suggestion if error else "") or "Rephrase the rest of the question with column names or values.",
    )
