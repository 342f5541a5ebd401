"""Knowledge the writers use: glossary entries, SQL examples and datasource instructions (CRUD, import, export).

Every change is validated against the datasource before it is saved (see :mod:`knowledge.validate`); a bad item
answers 422 ``KNOWLEDGE_INVALID`` with a suggestion, a term defined twice 409 ``GLOSSARY_TERM_EXISTS``.
Changes go through :func:`require_editor`, the one place where who may edit knowledge is decided.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from datasources.errors import DatasourceError, DatasourceNotFound
from datasources.schema import Schema
from knowledge.models import GLOBAL, GlossaryEntry, Instruction, SQLExample
from knowledge.retrieve import normalize
from knowledge.source import KnowledgeDoc
from knowledge.store import KnowledgeStore, TermExists
from knowledge.validate import KnowledgeInvalid, check_example, check_expression
from server.deps import Services, ServicesDep
from server.errors import ERROR_RESPONSES, ApiError, not_found

router = APIRouter(prefix="/api/knowledge", tags=["knowledge"])


EDITOR = "editor"


def require_editor(request: Request) -> None:
    """The single check point for who may change knowledge: anyone in open mode; signed in, an admin or an editor.

    Raises:
        ApiError: 403 ``ADMIN_REQUIRED`` for a signed-in user with neither role.
    """
    from server.auth import current_user

    user = current_user(request.scope)
    if user is not None and not (user.is_admin or EDITOR in user.roles):
        raise ApiError(403, "ADMIN_REQUIRED", "Only an administrator or an editor can change the knowledge base.",
                       {"suggestion": "Ask an administrator to give you the editor role (sqlbot users add NAME --role editor)."})


EditorDep = Annotated[None, Depends(require_editor)]


class GlossaryIn(BaseModel):
    """A glossary entry as written by a person (the id is assigned)."""

    term: str = Field(min_length=1, max_length=80)
    synonyms: list[str] = Field(default_factory=list)
    meaning: str = Field("", max_length=2000)
    expression: str | None = Field(None, max_length=1000)
    datasource: str = Field(GLOBAL, description="Datasource id, or '' for a global entry.")


class ExampleIn(BaseModel):
    """A question→SQL example as written by a person."""

    question: str = Field(min_length=1, max_length=1000)
    sql: str = Field(min_length=1, max_length=20000)
    datasource: str = Field(min_length=1)


class InstructionIn(BaseModel):
    """A datasource's instruction text (empty clears it)."""

    text: str = Field("", max_length=8000)


class Imported(BaseModel):
    """How many items an import saved."""

    glossary: int = 0
    examples: int = 0
    instructions: int = 0


def _store(services: Services) -> KnowledgeStore:
    if services.knowledge is None:
        raise ApiError(503, "KNOWLEDGE_UNAVAILABLE", "The knowledge store is not open.")
    return services.knowledge


def invalid(exc: KnowledgeInvalid, item: int | None = None) -> ApiError:
    """The 422 envelope for an item that failed validation."""
    detail: dict[str, Any] = {"field": exc.field, "suggestion": exc.suggestion}
    if item is not None:
        detail["item"] = item
    return ApiError(422, "KNOWLEDGE_INVALID", str(exc), detail)


async def _schema(services: Services, datasource: str) -> Schema:
    try:
        return await asyncio.to_thread(services.registry.schema, datasource)
    except DatasourceNotFound:
        raise not_found("datasource", datasource) from None
    except DatasourceError as exc:
        raise ApiError(503, "DATABASE_CONNECTION_FAILED", str(exc)) from None


async def _check_glossary(services: Services, entry: GlossaryEntry) -> None:
    schema = await _schema(services, entry.datasource) if entry.datasource else None
    if entry.expression:
        check_expression(entry.expression, schema)


async def _check_example(services: Services, example: SQLExample) -> None:
    schema = await _schema(services, example.datasource)
    connection = await asyncio.to_thread(services.registry.connect, example.datasource)
    await check_example(example.sql, schema, connection)


async def _save_glossary(store: KnowledgeStore, entry: GlossaryEntry) -> GlossaryEntry:
    try:
        return await store.put_glossary(entry)
    except TermExists:
        where = f"datasource {entry.datasource!r}" if entry.datasource else "the global glossary"
        raise ApiError(
            409, "GLOSSARY_TERM_EXISTS", f"The term {entry.term!r} is already defined in {where}.",
            {"suggestion": "Edit the existing entry, or add this name as one of its synonyms."},
        ) from None


# glossary


@router.get("/glossary", operation_id="list_glossary")
async def list_glossary(
    services: ServicesDep, datasource: Annotated[str | None, Query(description="'' for global entries")] = None
) -> list[GlossaryEntry]:
    """Glossary entries, of one datasource when given."""
    return await _store(services).list_glossary(datasource)


@router.post("/glossary", operation_id="create_glossary_entry", status_code=201, responses=ERROR_RESPONSES)
async def create_glossary_entry(services: ServicesDep, _: EditorDep, body: GlossaryIn) -> GlossaryEntry:
    """Add a term; its expression is checked against the datasource's columns."""
    entry = GlossaryEntry(**body.model_dump())
    try:
        await _check_glossary(services, entry)
    except KnowledgeInvalid as exc:
        raise invalid(exc) from None
    return await _save_glossary(_store(services), entry)


@router.put("/glossary/{entry_id}", operation_id="update_glossary_entry", responses=ERROR_RESPONSES)
async def update_glossary_entry(services: ServicesDep, _: EditorDep, entry_id: str, body: GlossaryIn) -> GlossaryEntry:
    """Replace a term."""
    store = _store(services)
    if await store.get_glossary(entry_id) is None:
        raise not_found("glossary entry", entry_id)
    entry = GlossaryEntry(id=entry_id, **body.model_dump())
    try:
        await _check_glossary(services, entry)
    except KnowledgeInvalid as exc:
        raise invalid(exc) from None
    return await _save_glossary(store, entry)


@router.delete("/glossary/{entry_id}", operation_id="delete_glossary_entry", status_code=204, responses=ERROR_RESPONSES)
async def delete_glossary_entry(services: ServicesDep, _: EditorDep, entry_id: str) -> Response:
    """Delete a term."""
    if not await _store(services).delete_glossary(entry_id):
        raise not_found("glossary entry", entry_id)
    return Response(status_code=204)


# examples


@router.get("/examples", operation_id="list_examples")
async def list_examples(services: ServicesDep, datasource: str | None = None) -> list[SQLExample]:
    """SQL examples, of one datasource when given."""
    return await _store(services).list_examples(datasource)


@router.post("/examples", operation_id="create_example", status_code=201, responses=ERROR_RESPONSES)
async def create_example(services: ServicesDep, _: EditorDep, body: ExampleIn) -> SQLExample:
    """Add an example; its SQL must pass the read-only guard and run."""
    example = SQLExample(**body.model_dump())
    try:
        await _check_example(services, example)
    except KnowledgeInvalid as exc:
        raise invalid(exc) from None
    return await _store(services).put_example(example)


@router.put("/examples/{example_id}", operation_id="update_example", responses=ERROR_RESPONSES)
async def update_example(services: ServicesDep, _: EditorDep, example_id: str, body: ExampleIn) -> SQLExample:
    """Replace an example."""
    store = _store(services)
    if await store.get_example(example_id) is None:
        raise not_found("example", example_id)
    example = SQLExample(id=example_id, **body.model_dump())
    try:
        await _check_example(services, example)
    except KnowledgeInvalid as exc:
        raise invalid(exc) from None
    return await store.put_example(example)


@router.delete("/examples/{example_id}", operation_id="delete_example", status_code=204, responses=ERROR_RESPONSES)
async def delete_example(services: ServicesDep, _: EditorDep, example_id: str) -> Response:
    """Delete an example."""
    if not await _store(services).delete_example(example_id):
        raise not_found("example", example_id)
    return Response(status_code=204)


# instructions


@router.get("/instructions/{datasource}", operation_id="get_instruction", responses=ERROR_RESPONSES)
async def get_instruction(services: ServicesDep, datasource: str) -> Instruction:
    """A datasource's instruction (empty text when none)."""
    return await _store(services).get_instruction(datasource)


@router.put("/instructions/{datasource}", operation_id="set_instruction", responses=ERROR_RESPONSES)
async def set_instruction(services: ServicesDep, _: EditorDep, datasource: str, body: InstructionIn) -> Instruction:
    """Set a datasource's instruction (empty text clears it)."""
    await _schema(services, datasource)
    return await _store(services).put_instruction(Instruction(datasource=datasource, text=body.text))


# import / export

GLOSSARY_CSV = ("term", "synonyms", "meaning", "expression", "datasource")
EXAMPLES_CSV = ("question", "sql", "datasource")


def _csv(rows: list[dict[str, Any]], header: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@router.get("/export", operation_id="export_knowledge")
async def export_knowledge(
    services: ServicesDep,
    datasource: str | None = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002 - the query parameter's name
    kind: Literal["glossary", "examples"] = "glossary",
) -> Response:
    """Everything (or one datasource's) as JSON; or the glossary or the examples as CSV (synonyms joined by |)."""
    store = _store(services)
    glossary = await store.list_glossary(datasource)
    examples = await store.list_examples(datasource)
    if format == "csv":
        if kind == "glossary":
            rows = [g.model_dump() | {"synonyms": "|".join(g.synonyms), "expression": g.expression or ""} for g in glossary]
            text = _csv(rows, GLOSSARY_CSV)
        else:
            text = _csv([e.model_dump() for e in examples], EXAMPLES_CSV)
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"'})
    instructions = [i for i in await store.list_instructions() if datasource is None or i.datasource == datasource]
    doc = KnowledgeDoc(glossary, examples, instructions).to_json()
    return Response(json.dumps(doc, ensure_ascii=False, indent=1), media_type="application/json")


def _parse_import(text: str, format: str, kind: str) -> KnowledgeDoc:  # noqa: A002
    if format == "json":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError('expected an object like {"glossary": [...], "examples": [...], "instructions": [...]}')
        return KnowledgeDoc.from_json(data)
    rows = list(csv.DictReader(io.StringIO(text)))
    if kind == "glossary":
        return KnowledgeDoc(glossary=[
            GlossaryEntry(term=r.get("term") or "", synonyms=(r.get("synonyms") or "").split("|"),
                          meaning=r.get("meaning") or "", expression=r.get("expression") or None,
                          datasource=r.get("datasource") or "")
            for r in rows
        ])
    return KnowledgeDoc(examples=[
        SQLExample(question=r.get("question") or "", sql=r.get("sql") or "", datasource=r.get("datasource") or "")
        for r in rows
    ])


@router.post("/import", operation_id="import_knowledge", responses=ERROR_RESPONSES)
async def import_knowledge(
    services: ServicesDep,
    _: EditorDep,
    request: Request,
    format: Literal["json", "csv"] = "json",  # noqa: A002 - the query parameter's name
    kind: Literal["glossary", "examples"] = "glossary",
) -> Imported:
    """Import a JSON document (the export's format) or a CSV of glossary entries or examples.

    Every item is validated first and nothing is saved unless all are valid; a term that already exists on
    the same datasource is updated in place.
    """
    store = _store(services)
    try:
        doc = _parse_import((await request.body()).decode("utf-8-sig"), format, kind)
    except (ValueError, ValidationError, csv.Error) as exc:
        raise ApiError(422, "KNOWLEDGE_INVALID", f"The {format.upper()} could not be read: {str(exc)[:300]}",
                       {"suggestion": "Start from a file exported by GET /api/knowledge/export."}) from None
    existing = {(g.datasource, normalize(g.term)): g.id for g in await store.list_glossary()}
    for i, entry in enumerate(doc.glossary):
        entry.id = existing.get((entry.datasource, normalize(entry.term)), entry.id)
        try:
            await _check_glossary(services, entry)
        except KnowledgeInvalid as exc:
            raise invalid(exc, i) from None
    for i, example in enumerate(doc.examples):
        try:
            await _check_example(services, example)
        except KnowledgeInvalid as exc:
            raise invalid(exc, i) from None
    for ds in doc.instructions:
        await _schema(services, ds)
    for entry in doc.glossary:
        await _save_glossary(store, entry)
    for example in doc.examples:
        await store.put_example(example)
    for ds, text in doc.instructions.items():
        await store.put_instruction(Instruction(datasource=ds, text=text))
    return Imported(glossary=len(doc.glossary), examples=len(doc.examples), instructions=len(doc.instructions))
