"""One root error type for every failure a run can meet, and the texts a person sees for each code.

Nodes raise :class:`SQLBotError` (or let a lower layer's exception be translated by :func:`as_sqlbot_error`);
the event mapper turns it into a ``step_error`` in the run's locale. Retry strategies per code are the
proposal's (``ErrorHandler.getRetryStrategy``) and become LangGraph retry policies in the builder.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from langgraph.errors import GraphRecursionError

from graph.protocol import ErrorCode, ErrorInfo

Locale = Literal["zh", "en"]


@dataclass(frozen=True)
class Text:
    """The same sentence in both locales."""

    en: str
    zh: str

    def get(self, locale: Locale) -> str:
        """The sentence in ``locale``."""
        return self.zh if locale == "zh" else self.en


@dataclass(frozen=True)
class _Catalogue:
    title: Text
    message: Text
    suggestion: Text
    can_retry: bool


_CATALOGUE: dict[ErrorCode, _Catalogue] = {
    ErrorCode.NETWORK_ERROR: _Catalogue(
        Text("Network error", "网络连接错误"),
        Text("The model service could not be reached.", "无法连接到模型服务。"),
        Text("Check the network or the model endpoint (SQLBOT_LLM_BASE_URL), then retry.", "请检查网络或模型服务地址（SQLBOT_LLM_BASE_URL）后重试。"),
        True,
    ),
    ErrorCode.TIMEOUT_ERROR: _Catalogue(
        Text("Timed out", "处理超时"),
        Text("This step took too long and was stopped.", "该步骤耗时过长，已被中止。"),
        Text("Retry, or ask a narrower question (a filter or a shorter time range).", "请重试，或缩小问题范围（增加筛选条件或缩短时间范围）。"),
        True,
    ),
    ErrorCode.INVALID_QUESTION: _Catalogue(
        Text("Question not understood", "无法理解问题"),
        Text("This does not look like a question about the data.", "这似乎不是一个关于数据的问题。"),
        Text("Ask about a measure and what to group or filter by, e.g. 'average departure delay by airline'.", "请说明要统计的指标和分组或筛选条件，例如“各航空公司的平均起飞延误”。"),
        False,
    ),
    ErrorCode.DATASOURCE_NOT_FOUND: _Catalogue(
        Text("Datasource not found", "未找到数据源"),
        Text("The requested datasource does not exist.", "所请求的数据源不存在。"),
        Text("Pick a datasource from the list, or leave it on automatic.", "请从列表中选择数据源，或使用自动选择。"),
        False,
    ),
    ErrorCode.DATABASE_CONNECTION_FAILED: _Catalogue(
        Text("Database connection failed", "数据库连接失败"),
        Text("The database could not be opened.", "无法打开数据库。"),
        Text("Check that the database file or server is available, then retry this step.", "请确认数据库文件或服务可用后重试此步骤。"),
        True,
    ),
    ErrorCode.SQL_GENERATION_FAILED: _Catalogue(
        Text("Could not write the SQL", "SQL生成失败"),
        Text("No SQL query could be written for this question.", "无法为该问题生成SQL查询。"),
        Text("Rephrase using the names of columns or tables, or configure an LLM (SQLBOT_LLM_BASE_URL).", "请使用字段或表的名称重新表述问题，或配置大模型（SQLBOT_LLM_BASE_URL）。"),
        True,
    ),
    ErrorCode.SQL_SYNTAX_ERROR: _Catalogue(
        Text("Invalid SQL", "SQL语法错误"),
        Text("The generated SQL is not valid.", "生成的SQL语句无效。"),
        Text("Retry to let the model write it again, or rephrase the question.", "请重试以重新生成，或换一种方式提问。"),
        True,
    ),
    ErrorCode.SQL_EXECUTION_FAILED: _Catalogue(
        Text("Query failed", "SQL执行失败"),
        Text("The database could not run the query.", "数据库无法执行该查询。"),
        Text("Rephrase the question with the exact column names, or retry.", "请使用准确的字段名称重新表述问题，或重试。"),
        True,
    ),
    ErrorCode.NO_DATA_RETURNED: _Catalogue(
        Text("No data", "没有数据"),
        Text("The query returned no rows.", "查询没有返回任何数据。"),
        Text("Loosen the filters (dates, names, thresholds) and ask again.", "请放宽筛选条件（日期、名称、阈值）后再试。"),
        False,
    ),
    ErrorCode.CHART_CONFIG_FAILED: _Catalogue(
        Text("Chart configuration failed", "图表配置失败"),
        Text("No chart could be configured for this result.", "无法为该结果配置图表。"),
        Text("The table is still available; retry to configure the chart again.", "结果表格仍可查看；可重试配置图表。"),
        True,
    ),
    ErrorCode.CHART_RENDER_FAILED: _Catalogue(
        Text("Chart rendering failed", "图表渲染失败"),
        Text("The chart could not be drawn.", "图表无法绘制。"),
        Text("The table is still available; retry to draw the chart.", "结果表格仍可查看；可重试绘制图表。"),
        True,
    ),
    ErrorCode.LLM_SERVICE_ERROR: _Catalogue(
        Text("Model service error", "模型服务错误"),
        Text("The model service returned an error.", "模型服务返回了错误。"),
        Text("Wait a moment and retry; check the model name and API key if it persists.", "请稍后重试；如持续出现，请检查模型名称和API密钥。"),
        True,
    ),
    ErrorCode.INSUFFICIENT_PERMISSIONS: _Catalogue(
        Text("Not allowed", "权限不足"),
        Text("Only read-only queries on the chosen datasource's tables may run.", "只允许对所选数据源的表执行只读查询。"),
        Text("Ask a question that reads data; changing data or reading files is not possible.", "请提出读取数据的问题；不支持修改数据或读取文件。"),
        False,
    ),
    ErrorCode.RESOURCE_LIMIT_EXCEEDED: _Catalogue(
        Text("Resource limit exceeded", "超出资源限制"),
        Text("The query needed more time or memory than allowed.", "查询所需的时间或内存超出限制。"),
        Text("Add filters or aggregate to fewer rows, then ask again.", "请增加筛选条件或聚合到更少的行后再试。"),
        False,
    ),
    ErrorCode.CANCELLED: _Catalogue(
        Text("Cancelled", "已取消"),
        Text("The run was cancelled.", "本次处理已取消。"),
        Text("Ask again or retry when you are ready.", "可以重新提问或重试。"),
        True,
    ),
    ErrorCode.INTERNAL_ERROR: _Catalogue(
        Text("Unexpected error", "意外错误"),
        Text("Something went wrong inside SQLBot.", "SQLBot 内部出现错误。"),
        Text("Retry; if it happens again, report it with the technical details.", "请重试；如再次出现，请附上技术详情反馈。"),
        True,
    ),
    ErrorCode.WORKER_LOST: _Catalogue(
        Text("Server worker lost", "服务进程已丢失"),
        Text("The server process answering this question stopped before it finished.", "负责回答此问题的服务进程在完成前停止了。"),
        Text("Retry: another server process continues from the last completed step.", "请重试：其他服务进程会从最后完成的步骤继续。"),
        True,
    ),
    ErrorCode.EVENT_LOG_UNAVAILABLE: _Catalogue(
        Text("Event log unavailable", "事件日志不可用"),
        Text("The shared event log (Redis) could not be reached, so this answer's progress could not be delivered.", "无法连接共享事件日志（Redis），此回答的进度无法送达。"),
        Text("Retry in a moment; if it persists, check that Redis is running.", "请稍后重试；如持续出现，请检查 Redis 是否在运行。"),
        True,
    ),
    ErrorCode.COLUMN_NOT_PERMITTED: _Catalogue(
        Text("Column not permitted", "无权查看该字段"),
        Text("The query names a column you are not allowed to see.", "查询中包含您无权查看的字段。"),
        Text("Ask again without that column; SELECT * and the schema list only the columns you may see.", "请去掉该字段后重新提问；SELECT * 和表结构只包含您可以查看的字段。"),
        False,
    ),
}


class SQLBotError(Exception):
    """A failure with a code; the message shown to a person comes from the catalogue unless given."""

    def __init__(
        self,
        code: ErrorCode,
        message: Text | None = None,
        *,
        detail: str = "",
        suggestion: Text | None = None,
        can_retry: bool | None = None,
    ) -> None:
        entry = _CATALOGUE[code]
        self.code = code
        self.message = message or entry.message
        self.detail = detail
        self.suggestion = suggestion or entry.suggestion
        self.can_retry = entry.can_retry if can_retry is None else can_retry
        super().__init__(f"{code}: {self.message.en}" + (f" ({detail})" if detail else ""))

    def info(self, locale: Locale) -> ErrorInfo:
        """The protocol form of this error, in ``locale``."""
        entry = _CATALOGUE[self.code]
        return ErrorInfo(
            code=self.code,
            title=entry.title.get(locale),
            message=self.message.get(locale),
            suggestion=self.suggestion.get(locale),
            can_retry=self.can_retry,
            detail=self.detail[:2000] or None,
        )


def as_sqlbot_error(exc: BaseException) -> SQLBotError:
    """Translate any exception that escaped a node into a :class:`SQLBotError`."""
    if isinstance(exc, SQLBotError):
        return exc
    if isinstance(exc, TimeoutError | asyncio.TimeoutError) or type(exc).__name__ == "NodeTimeoutError":
        return SQLBotError(ErrorCode.TIMEOUT_ERROR, detail=str(exc))
    if isinstance(exc, GraphRecursionError):
        return SQLBotError(ErrorCode.RESOURCE_LIMIT_EXCEEDED, detail=str(exc))
    if isinstance(exc, asyncio.CancelledError):
        return SQLBotError(ErrorCode.CANCELLED)
    return SQLBotError(ErrorCode.INTERNAL_ERROR, detail=f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class RetryStrategy:
    """The proposal's retry strategy for one error code."""

    max_retries: int
    backoff: Literal["fixed", "linear", "exponential"]
    base_delay_s: float

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if self.backoff == "exponential":
            return self.base_delay_s * 2.0 ** (retry - 1)
        if self.backoff == "linear":
            return self.base_delay_s * retry
        return self.base_delay_s


RETRY_STRATEGIES: dict[ErrorCode, RetryStrategy] = {
    ErrorCode.NETWORK_ERROR: RetryStrategy(3, "exponential", 1.0),
    ErrorCode.DATABASE_CONNECTION_FAILED: RetryStrategy(2, "linear", 2.0),
    ErrorCode.LLM_SERVICE_ERROR: RetryStrategy(1, "fixed", 1.0),
    ErrorCode.TIMEOUT_ERROR: RetryStrategy(1, "fixed", 1.0),
}
"""Automatic retries apply only to transient failures; every other code fails the step at once."""
