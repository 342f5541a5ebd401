"""Live dependencies of a run, passed as LangGraph's runtime context (never stored in state or checkpoints).

Every field has a default built from the process settings, so LangGraph Studio and notebooks can run the
graph with no context at all; the server and tests pass their own.
"""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from datasources.policy import PolicyProvider, policies_from_env
from datasources.registry import Registry
from datasources.sandbox import SPILL_DIR, SandboxLimits
from graph.settings import Settings, get_settings
from graph.steps import BY_NAME
from knowledge.source import KnowledgeSource
from llm.base import SQLWriter
from llm.factory import make_writer


class StepTimings:
    """Recent measured durations per step, the source of ``estimatedDuration``."""

    def __init__(self, window: int = 20) -> None:
        self._durations: dict[str, deque[int]] = defaultdict(lambda: deque(maxlen=window))
        self._sizes: dict[str, deque[int]] = defaultdict(lambda: deque(maxlen=window))
        self._lock = threading.Lock()

    def record_size(self, step: str, size: int) -> None:
        """Remember the size of one output of ``step`` (e.g. characters of SQL written)."""
        with self._lock:
            self._sizes[step].append(size)

    def estimate_size(self, step: str, default: int = 200) -> int:
        """Median size of recent outputs of ``step`` (the denominator of honest streaming progress)."""
        with self._lock:
            recent = list(self._sizes.get(step, ()))
        return int(statistics.median(recent)) if recent else default

    def record(self, step: str, duration_ms: int) -> None:
        """Remember one measured duration of ``step``."""
        with self._lock:
            self._durations[step].append(duration_ms)

    def estimate(self, step: str) -> int:
        """Median of recent durations of ``step``, or the step's default before any was measured."""
        with self._lock:
            recent = list(self._durations.get(step, ()))
        if not recent:
            return BY_NAME[step].default_duration_ms
        return int(statistics.median(recent))


def registry_from_settings(settings: Settings) -> Registry:
    """A datasource registry configured from ``settings``."""
    return Registry(
        settings.data_dir,
        max_rows=settings.max_rows,
        query_timeout_s=settings.query_timeout_s,
        enable_caching=settings.enable_step_caching,
        limits=SandboxLimits(
            workers=settings.query_workers,
            memory_mb=settings.query_memory_mb,
            threads=settings.query_threads,
            spill_mb=settings.query_spill_mb,
            temp_root=Path(settings.data_dir) / SPILL_DIR,
            max_result_bytes=settings.max_result_bytes,
            max_cell_chars=settings.max_cell_chars,
            kill_grace_s=settings.query_kill_grace_s,
        ),
        app_files=(settings.checkpoint_db,) if settings.checkpoint_db else (),
    )


def writer_from_settings(settings: Settings) -> SQLWriter:
    """The LLM writer when a model is configured, otherwise the offline writer."""
    return make_writer(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key,
        timeout_s=settings.llm_timeout_s,
        temperature=settings.llm_temperature,
    )


def warm_up(context: Context) -> None:
    """Do a first question's one-off work ahead of it: demo builds, schemas, value indexes, dictionaries.

    Also loads the tokenizer and builds each schema's retrieval index.

    Blocking; the server runs it in a thread at start-up.
    """
    from llm.offline import analyze_question
    from llm.retrieval import index_for

    analyze_question("各地区的销售额 sales by region")  # loads the segmentation dictionary once
    for config in context.registry.list():
        try:
            schema = context.registry.schema(config.id)
            context.registry.values(config.id)
            index_for(schema)  # the tokenizer, and the retrieval index a schema over the budget needs
        except Exception:  # noqa: BLE001 - a broken datasource reports itself when a question uses it
            continue


@lru_cache(maxsize=1)
def _default_registry() -> Registry:
    return registry_from_settings(get_settings())


@lru_cache(maxsize=1)
def _default_writer() -> SQLWriter:
    return writer_from_settings(get_settings())


@lru_cache(maxsize=1)
def _default_policies() -> PolicyProvider:
    return policies_from_env(get_settings().policy_file)


@lru_cache(maxsize=1)
def _default_timings() -> StepTimings:
    return StepTimings()


@dataclass
class Context:
    """What nodes use besides the state."""

    settings: Settings = field(default_factory=get_settings)
    """Limits, timeouts and switches."""
    registry: Registry = field(default_factory=_default_registry)
    """Datasources: listing, schemas, value indexes, read-only connections."""
    writer: SQLWriter = field(default_factory=_default_writer)
    """Writes SQL and explanations (an LLM, or the offline writer)."""
    timings: StepTimings = field(default_factory=_default_timings)
    """Recent step durations, for estimates."""
    policies: PolicyProvider = field(default_factory=_default_policies)
    """Row filters and hidden columns per datasource (applied only when the run has a principal)."""
    knowledge: KnowledgeSource | None = None
    """Glossary, SQL examples and datasource instructions the writers use (None: none)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        """A fresh context (own registry, writer and timings) for ``settings``."""
        return cls(
            settings=settings,
            registry=registry_from_settings(settings),
            writer=writer_from_settings(settings),
            timings=StepTimings(),
            policies=policies_from_env(settings.policy_file),
        )
