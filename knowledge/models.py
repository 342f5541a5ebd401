"""Glossary entries, SQL examples and datasource instructions, and the bundle of them a writer receives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, field_validator

GLOBAL = ""
"""The ``datasource`` of a glossary entry that applies to every datasource."""


def new_id() -> str:
    """A fresh id for a stored item."""
    return uuid.uuid4().hex[:12]


class GlossaryEntry(BaseModel):
    """A business term ("GMV", "亏损") and what it means in this data."""

    id: str = Field(default_factory=new_id, description="Stable id.")
    term: str = Field(min_length=1, max_length=80, description="The term as analysts say it.")
    synonyms: list[str] = Field(default_factory=list, description="Other names, Chinese and English.")
    meaning: str = Field("", max_length=2000, description="What the term means, in words.")
    expression: str | None = Field(
        None,
        max_length=1000,
        description="Optional SQL: a measure (SUM(sales)) or a condition (profit < 0) over the datasource's columns.",
    )
    datasource: str = Field(GLOBAL, description="The datasource id, or '' for a global entry.")

    @field_validator("term")
    @classmethod
    def _strip_term(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("the term is empty")
        return v

    @field_validator("synonyms")
    @classmethod
    def _clean_synonyms(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(s.strip() for s in v if s and s.strip()))

    @field_validator("expression")
    @classmethod
    def _blank_expression(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    def names(self) -> list[str]:
        """The term and its synonyms."""
        return [self.term, *self.synonyms]


class SQLExample(BaseModel):
    """A curated question and the SQL that answers it on one datasource."""

    id: str = Field(default_factory=new_id, description="Stable id.")
    question: str = Field(min_length=1, max_length=1000, description="The question as a person would ask it.")
    sql: str = Field(min_length=1, max_length=20000, description="One read-only statement answering it.")
    datasource: str = Field(min_length=1, description="The datasource id the SQL runs on.")


class Instruction(BaseModel):
    """Free text the LLM writer reads for one datasource (conventions, caveats)."""

    datasource: str = Field(min_length=1, description="The datasource id.")
    text: str = Field("", max_length=8000, description="The instruction text.")


@dataclass(frozen=True)
class ExampleMatch:
    """An example retrieved for a question, with its lexical similarity (0-100)."""

    example: SQLExample
    score: float


@dataclass(frozen=True)
class KnowledgeBundle:
    """What one question gets: the glossary entries it mentions, the closest examples, the instruction."""

    glossary: tuple[GlossaryEntry, ...] = ()
    """Entries for this datasource (and global ones) whose term or a synonym occurs in the question."""
    examples: tuple[ExampleMatch, ...] = ()
    """The most similar examples, best first."""
    instruction: str = ""
    all_glossary: tuple[GlossaryEntry, ...] = field(default=(), repr=False)
    """Every entry that applies to the datasource (the offline writer matches terms itself)."""

    def __bool__(self) -> bool:
        return bool(self.glossary or self.examples or self.instruction or self.all_glossary)
