"""Step 1: understand the question — its language, whether it asks about data, its key terms."""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.errors import SQLBotError, Text
from graph.protocol import ErrorCode
from graph.reporting import StepReporter
from graph.state import State
from llm.offline import analyze_question as analyse
from llm.offline.followup import looks_like_follow_up

MAX_QUESTION_CHARS = 2000
_CJK = re.compile(r"[\u4e00-\u9fff]")


def detect_language(question: str) -> str:
    """``zh`` when the question contains Chinese characters, else ``en``."""
    return "zh" if _CJK.search(question) else "en"


async def analyzing_question(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Check the question, detect its language and terms, and reset what a previous run left in the thread."""
    report = StepReporter("analyzing_question", runtime.stream_writer)
    question = (state.get("question") or "").strip()
    language = detect_language(question)
    locale = state.get("locale") or language
    if not question:
        raise SQLBotError(ErrorCode.INVALID_QUESTION, Text("The question is empty.", "问题为空。"))
    if len(question) > MAX_QUESTION_CHARS:
        raise SQLBotError(
            ErrorCode.INVALID_QUESTION,
            Text(f"The question is longer than {MAX_QUESTION_CHARS} characters.", f"问题超过 {MAX_QUESTION_CHARS} 个字符。"),
            suggestion=Text("Ask one shorter question at a time.", "请每次提出一个较短的问题。"),
        )
    analysis = analyse(question)
    offline = runtime.context.writer.name == "offline"
    follow_up = bool(state.get("turns")) and looks_like_follow_up(question)
    # With a model configured, only obvious non-questions are refused here: the model may understand more.
    # A follow-up ("only for Furniture", 那利润呢) is judged by the writer against the previous turn.
    if not analysis.is_data_question and not follow_up and (offline or not re.search(r"\w", question)):
        raise SQLBotError(ErrorCode.INVALID_QUESTION, detail=analysis.reason)
    terms = list(analysis.terms)
    if locale == "zh":
        summary = f"已理解问题（{'中文' if language == 'zh' else '英文'}），识别到 {len(terms)} 个关键词"
        report.content(f"关键词：{'、'.join(terms) or '无'}", kind="trace")
    else:
        summary = f"Question understood ({'Chinese' if language == 'zh' else 'English'}), {len(terms)} key terms"
        report.content(f"Key terms: {', '.join(terms) or 'none'}", kind="trace")
    return {
        "question": question,
        "locale": locale,
        "language": language,
        "analysis": {"language": language, "terms": terms, "intent": analysis.intent},
        # A chat thread keeps its state between questions: clear what belongs to the previous run.
        "candidates": [],
        "sql": None,
        "sql_reasoning": "",
        "interpretation": None,
        "sql_attempts": 0,
        "failures": [],
        "needs_repair": False,
        "result": None,
        "chart": None,
        "explanation": "",
        "model_calls": 0,
        "steps": {"__reset__": {}, **report.record(summary, {"language": language, "terms": terms})},
    }
