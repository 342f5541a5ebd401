"""The seven steps of answering a question: ids, node names, titles and descriptions in both locales.

The node names are the graph's node names; the ids are the protocol's ``stepId`` values, in workflow order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Locale = Literal["zh", "en"]
StepName = Literal[
    "analyzing_question",
    "select_datasource",
    "connect_db",
    "generate_sql",
    "execute_query",
    "configure_chart",
    "present_result",
]


@dataclass(frozen=True)
class StepDef:
    """The fixed description of one step."""

    id: str
    name: StepName
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    default_duration_ms: int
    """``estimatedDuration`` before any run of this step has been measured."""
    optional: bool = False

    def title(self, locale: Locale) -> str:
        """The step's title in ``locale``."""
        return self.title_zh if locale == "zh" else self.title_en

    def description(self, locale: Locale) -> str:
        """The step's running description in ``locale``."""
        return self.description_zh if locale == "zh" else self.description_en


STEPS: tuple[StepDef, ...] = (
    StepDef("step_001", "analyzing_question", "分析问题意图", "Analyse the question",
            "正在理解您的问题...", "Understanding your question...", 50),
    StepDef("step_002", "select_datasource", "选择数据源", "Choose the datasource",
            "正在选择最适合的数据源...", "Choosing the best datasource...", 100),
    StepDef("step_003", "connect_db", "连接数据库", "Connect to the database",
            "正在建立数据库连接...", "Connecting to the database...", 200),
    StepDef("step_004", "generate_sql", "生成SQL", "Write the SQL",
            "正在生成SQL查询语句...", "Writing the SQL query...", 1500),
    StepDef("step_005", "execute_query", "执行查询", "Run the query",
            "正在执行SQL查询...", "Running the SQL query...", 500),
    StepDef("step_006", "configure_chart", "配置图表", "Configure the chart",
            "正在配置图表展示...", "Configuring the chart...", 50, optional=True),
    StepDef("step_007", "present_result", "生成结果展示", "Present the result",
            "正在生成结果展示...", "Preparing the answer...", 300),
)

BY_NAME: dict[str, StepDef] = {s.name: s for s in STEPS}
BY_ID: dict[str, StepDef] = {s.id: s for s in STEPS}
