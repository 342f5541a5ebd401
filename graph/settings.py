"""All configuration, read once from ``SQLBOT_*`` environment variables (and a ``.env`` file).

Every field is documented in the README's configuration table; ``tests/test_docs.py`` checks that.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """SQLBot's settings. Environment variables are the field names upper-cased with the ``SQLBOT_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="SQLBOT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("sqlbot", appauthor=False)),
        description="Where demo databases, uploads, chats and checkpoints live.",
    )
    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint; unset means the offline writer.")
    llm_model: str | None = Field(None, description="Model name sent to the endpoint.")
    llm_api_key: str | None = Field(None, description="API key for the endpoint (any string for local servers).")
    llm_timeout_s: float = Field(60.0, gt=0, description="Timeout of one model request, in seconds.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature for SQL writing.")
    enable_detailed_streaming: bool = Field(True, description="Serve the step protocol; false answers legacy streams only.")
    default_step_timeout: float = Field(120.0, gt=0, description="Upper bound on one step's run time, in seconds.")
    max_retry_attempts: int = Field(2, ge=0, le=10, description="How many times failed SQL is sent back for repair.")
    retry_delay_scale: float = Field(1.0, ge=0, le=10, description="Multiplier on the proposal's automatic retry delays (0 retries at once).")
    enable_step_caching: bool = Field(True, description="Reuse schema introspection, connections and step results.")
    query_timeout_s: float = Field(30.0, gt=0, description="Database query timeout, in seconds.")
    max_rows: int = Field(1000, ge=1, le=100_000, description="Rows returned to the client; more are flagged truncated.")
    max_result_bytes: int = Field(8 * 2**20, ge=1024, description="About how many bytes of rows one result may carry; more rows are dropped and the result is flagged truncated.")
    max_cell_chars: int = Field(32_768, ge=16, description="Text cells longer than this (blobs: half of it in bytes; lists: their elements) are cut and end with a marker.")
    query_workers: int = Field(2, ge=1, le=32, description="Worker processes per datasource that run user queries (queries beyond this wait).")
    query_memory_mb: int = Field(1024, ge=64, description="Memory one query may use (DuckDB memory_limit, SQLite heap limit); its worker is killed at this + 512 MB resident.")
    query_threads: int = Field(2, ge=1, le=64, description="DuckDB threads per query.")
    query_spill_mb: int = Field(2048, ge=0, description="Disk one DuckDB query may spill to, under data_dir/.spill (0 = no spilling).")
    query_kill_grace_s: float = Field(1.0, gt=0, le=60, description="After a timeout or cancel, how long an interrupted query may take to stop before its worker process is killed and replaced.")
    export_max_rows: int = Field(
        100_000, ge=1, le=10_000_000, description="Rows an export (CSV/XLSX) of a result may hold; more are cut off and flagged."
    )
    schema_token_budget: int = Field(
        6000,
        ge=200,
        description="Tokens of schema a SQL prompt may hold; a larger schema is cut per question to the tables it needs (schema retrieval).",
    )
    enable_charts: bool = Field(True, description="Configure a chart when the result suits one.")
    content_batch_ms: int = Field(50, ge=0, le=1000, description="Window for coalescing streamed content chunks.")
    default_locale: str = Field("zh", description="Locale of titles and messages when a request gives none (zh or en).")
    host: str = Field("127.0.0.1", description="Address `sqlbot serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `sqlbot serve` listens on.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest request body accepted (JSON requests); larger ones get a 413.")
    max_upload_bytes: int = Field(200 << 20, ge=1024, description="Largest datasource upload (a multipart POST to /api/datasources); larger ones get a 413.")
    disconnect_grace_s: float = Field(10.0, ge=0, description="How long a run outlives a dropped client before it is cancelled.")
    checkpoint_durability: Literal["sync", "async", "exit"] = Field(
        "exit",
        description="When chat checkpoints are written: exit = once per run (a failed step is still resumable), async/sync = after every step.",
    )
    checkpoint_db: Path | None = Field(None, description="SQLite file for chat checkpoints; default is data_dir/checkpoints.sqlite.")
    redis_url: str | None = Field(
        None,
        description="Redis for the shared run event log (several server processes); unset = in-memory, one process.",
    )
    redis_prefix: str = Field("sqlbot:", min_length=1, max_length=100, description="Prefix of every Redis key SQLBot writes.")
    redis_retention_s: int = Field(3600, ge=10, description="How long a finished run's events stay in Redis for replays, in seconds.")
    worker_lease_s: float = Field(
        3.0, ge=0.5, le=60, description="Lease of a server process in Redis; a run whose process stopped renewing it ends with WORKER_LOST."
    )
    database_url: str | None = Field(
        None, description="PostgreSQL for chats, records and checkpoints (shared by every server process); unset = SQLite files."
    )
    auth_keys: str | None = Field(
        None, description="API keys as name:key[:role+role], comma-separated (e.g. admin:key-1:admin,alice:key-2); unset and no users table entries = open API."
    )
    auth_default_grant: Literal["all", "none"] = Field(
        "all", description="Who may query a datasource that has no grants: all = every signed-in user, none = admins only."
    )
    policy_file: Path | None = Field(
        None, description="YAML or JSON file of row filters and hidden columns per datasource and user/role (README: Row and column permissions)."
    )

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if value not in ("zh", "en"):
            raise ValueError("SQLBOT_DEFAULT_LOCALE must be 'zh' or 'en'")
        return value

    @model_validator(mode="after")
    def _shared_durability(self) -> Settings:
        # A shared store exists so another process can take a run over: keep every step, unless told otherwise.
        if self.database_url and "checkpoint_durability" not in self.model_fields_set:
            self.checkpoint_durability = "sync"
        return self

    @property
    def shared(self) -> bool:
        """Whether the shared stores (Redis and PostgreSQL) are configured, as several processes need."""
        return bool(self.redis_url and self.database_url)

    @property
    def llm_configured(self) -> bool:
        """Whether a model endpoint is configured (otherwise the offline writer is used)."""
        return bool(self.llm_base_url and self.llm_model)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
