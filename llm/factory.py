"""Choose the SQL writer from plain configuration values (the server passes its settings in)."""

from __future__ import annotations

from llm.base import SQLWriter

__all__ = ["make_writer"]


def make_writer(
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 60.0,
    temperature: float = 0.0,
) -> SQLWriter:
    """The LLM writer when both ``base_url`` and ``model`` are set, otherwise the offline writer.

    Raises:
        ValueError: when only one of ``base_url`` and ``model`` is set (a configuration mistake that should
            stop start-up rather than silently fall back to the offline writer).
    """
    if bool(base_url) != bool(model):
        missing = "SQLBOT_LLM_MODEL" if base_url else "SQLBOT_LLM_BASE_URL"
        raise ValueError(
            f"An LLM is half configured: set {missing} too, or unset both for the offline writer."
        )
    if not base_url or not model:
        from llm.offline import OfflineWriter  # imported lazily: it loads lexicons the LLM path never needs

        return OfflineWriter()
    from llm.openai_writer import OpenAIWriter  # imported lazily: langchain-openai is slow to import

    return OpenAIWriter(
        base_url=base_url, model=model, api_key=api_key, timeout_s=timeout_s, temperature=temperature
    )
