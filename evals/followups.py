"""Follow-up chats through the chat path: every turn runs in one thread, the last turn is judged.

A dataset line is ``{id, datasource, locale, turns: [question, ...], gold_sql, tags}``. The turns run one
after another through ``graph.builder.build_graph`` with a checkpointer and one ``thread_id`` — exactly as the
server runs a chat, so the writer sees the earlier turns as history — and the last turn's result is compared
with the gold like any other question (:func:`evals.accuracy.compare_results`). A refusal of the last turn
is counted as not answered, so accuracy and precision are reported as for single questions.

Run ``uv run python -m evals.followups [--dataset PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.accuracy import DATASETS, compare_results, gold_is_ordered

FOLLOWUPS = DATASETS / "followups.jsonl"


@dataclass(frozen=True)
class Chat:
    """A short chat whose last turn has a gold answer."""

    id: str
    datasource: str
    locale: str
    turns: tuple[str, ...]
    gold_sql: tuple[str, ...]
    tags: tuple[str, ...] = ()


@dataclass
class ChatOutcome:
    """What happened to the last turn of one chat."""

    chat: Chat
    correct: bool = False
    answered: bool = True
    sql: str | None = None
    interpretation: str | None = None
    error: str = ""


@dataclass
class ChatReport:
    """Accuracy (right / all) and precision (right / answered) over chats."""

    outcomes: list[ChatOutcome] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of chats whose last turn was answered right."""
        return sum(o.correct for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def precision(self) -> float:
        """Share of right answers among the last turns answered."""
        answered = sum(o.answered for o in self.outcomes)
        return sum(o.correct for o in self.outcomes) / answered if answered else 1.0

    def format(self) -> str:
        """A plain-text report with the failures."""
        right = sum(o.correct for o in self.outcomes)
        answered = sum(o.answered for o in self.outcomes)
        lines = [
            f"follow-up chats: accuracy {self.accuracy:.1%} ({right}/{len(self.outcomes)}), "
            f"precision {self.precision:.1%} ({right}/{answered} answered)"
        ]
        for loc in sorted({o.chat.locale for o in self.outcomes}):
            mine = [o for o in self.outcomes if o.chat.locale == loc]
            lines.append(f"  {loc}: {sum(o.correct for o in mine)}/{len(mine)}")
        for o in self.outcomes:
            if not o.correct:
                lines.append(f"  [{o.chat.id}] {' → '.join(o.chat.turns)}: {o.error or 'wrong result'}")
                if o.interpretation:
                    lines.append(f"      {o.interpretation}")
                if o.sql:
                    lines.append("      " + " ".join(o.sql.split()))
        return "\n".join(lines)


def load_chats(path: Path | str = FOLLOWUPS) -> list[Chat]:
    """Read a JSONL file of chats."""
    chats = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            gold = d["gold_sql"]
            chats.append(
                Chat(
                    d["id"],
                    d["datasource"],
                    d.get("locale", "en"),
                    tuple(d["turns"]),
                    tuple(gold) if isinstance(gold, list) else (gold,),
                    tuple(d.get("tags", ())),
                )
            )
    return chats


async def run_chats(chats: Sequence[Chat], registry: Any, settings: Any) -> ChatReport:
    """Run every chat through the graph with a checkpointer (one thread per chat) and judge the last turn."""
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.builder import build_graph
    from graph.context import Context, StepTimings
    from graph.events import start_run
    from llm.offline import OfflineWriter

    graph = build_graph(settings=settings, checkpointer=InMemorySaver())
    context = Context(settings=settings, registry=registry, writer=OfflineWriter(), timings=StepTimings())
    report = ChatReport()
    for chat in chats:
        config = {"configurable": {"thread_id": f"chat-{chat.id}-{uuid.uuid4().hex[:6]}"}}
        last: dict[str, Any] = {}
        for question in chat.turns:
            inputs = {"question": question, "datasource_id": chat.datasource, "locale": chat.locale}
            events = [e.wire() async for e in start_run(graph, inputs=inputs, context=context, config=config, session_id="fu")]  # type: ignore[arg-type]
            last = events[-1] if events else {}
        outcome = ChatOutcome(chat)
        if last.get("type") != "final_complete":
            error = last.get("error") or {}
            outcome.answered = error.get("code") not in ("INVALID_QUESTION", "SQL_GENERATION_FAILED")
            outcome.error = f"{error.get('code')}: {error.get('message', '')}"
            report.outcomes.append(outcome)
            continue
        output = last["summary"]["output"]
        outcome.sql, outcome.interpretation = output.get("sql"), output.get("interpretation")
        columns = output.get("columns") or []
        rows = [[row.get(c) for c in columns] for row in output.get("data") or []]
        conn = registry.connect(chat.datasource)
        dialect = registry.schema(chat.datasource).dialect
        for gold in chat.gold_sql:
            result = await conn.run(gold, max_rows=100_000, timeout_s=60.0)
            if compare_results(result.columns, [list(r) for r in result.rows], columns, rows, gold_is_ordered(gold, dialect)):
                outcome.correct = True
                break
        report.outcomes.append(outcome)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: print the report."""
    from evals.accuracy import default_registry
    from graph.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dataset", type=Path, default=FOLLOWUPS)
    args = parser.parse_args(argv)
    registry = default_registry()
    report = asyncio.run(run_chats(load_chats(args.dataset), registry, Settings()))  # type: ignore[call-arg]
    print(report.format())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
