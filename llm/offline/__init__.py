"""The offline SQL writer: schema linking plus rules, for English and Chinese questions, with no model."""

from llm.offline.writer import LinkScore, OfflineWriter, QuestionAnalysis, analyze_question, score_question

__all__ = ["LinkScore", "OfflineWriter", "QuestionAnalysis", "analyze_question", "score_question"]
