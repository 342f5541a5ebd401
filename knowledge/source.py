"""Where a question's knowledge comes from: the server's store, or a file loaded for an eval run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from knowledge.models import GlossaryEntry, Instruction, KnowledgeBundle, SQLExample
from knowledge.retrieve import bundle


class KnowledgeSource(Protocol):
    """What the graph needs: the knowledge for one question on one datasource."""

    async def for_question(self, datasource: str, question: str) -> KnowledgeBundle:
        """Glossary entries mentioned, closest examples and the instruction."""
        ...


class KnowledgeDoc:
    """Glossary, examples and instructions in the JSON form the API exports (``{"glossary": [...], ...}``)."""

    def __init__(
        self,
        glossary: Sequence[GlossaryEntry] = (),
        examples: Sequence[SQLExample] = (),
        instructions: Sequence[Instruction] = (),
    ) -> None:
        self.glossary = list(glossary)
        self.examples = list(examples)
        self.instructions = {i.datasource: i.text for i in instructions}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KnowledgeDoc:
        """Validate a document (raises pydantic.ValidationError)."""
        return cls(
            [GlossaryEntry.model_validate(g) for g in data.get("glossary", [])],
            [SQLExample.model_validate(e) for e in data.get("examples", [])],
            [Instruction.model_validate(i) for i in data.get("instructions", [])],
        )

    @classmethod
    def load(cls, path: Path) -> KnowledgeDoc:
        """Read a JSON document from ``path``."""
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def to_json(self) -> dict[str, Any]:
        """The exported form."""
        return {
            "glossary": [g.model_dump() for g in self.glossary],
            "examples": [e.model_dump() for e in self.examples],
            "instructions": [{"datasource": k, "text": v} for k, v in self.instructions.items()],
        }

    async def for_question(self, datasource: str, question: str) -> KnowledgeBundle:
        """The knowledge for ``question`` (an in-memory :class:`KnowledgeSource`)."""
        return bundle(question, datasource, self.glossary, self.examples, self.instructions.get(datasource, ""))
