"""The LLM writer's prompt carries the glossary entries, the closest examples and the datasource instruction."""

from __future__ import annotations

from knowledge.models import GlossaryEntry, SQLExample
from knowledge.retrieve import bundle
from llm.base import SQLRequest
from llm.openai_writer import OpenAIWriter
from tests.llm.test_openai_writer import SCHEMA, Recorder
from tests.support.openai_server import OpenAIServer, Reply

GLOSSARY = [
    GlossaryEntry(term="legacy carriers", synonyms=["传统航司"], meaning="the big three",
                  expression="carrier IN ('AA', 'UA', 'DL')", datasource=SCHEMA.datasource_id),
    GlossaryEntry(term="on-time rate", expression="AVG(CASE WHEN arr_delay <= 15 THEN 1 ELSE 0 END)",
                  datasource=SCHEMA.datasource_id),
    GlossaryEntry(term="GMV", expression="SUM(sales)", datasource="another"),
]
EXAMPLES = [
    SQLExample(question="list the legacy carriers by name", sql="SELECT name FROM airlines WHERE carrier IN ('AA')",
               datasource=SCHEMA.datasource_id),
    SQLExample(question="count airports", sql="SELECT COUNT(*) FROM airports", datasource=SCHEMA.datasource_id),
]


async def test_prompt_over_http_contains_the_knowledge(openai_server: OpenAIServer) -> None:
    openai_server.push(Reply("```sql\nSELECT name FROM airlines WHERE carrier IN ('AA', 'UA', 'DL')\n```"))
    question = "Show the names of the legacy carriers"
    knowledge = bundle(question, SCHEMA.datasource_id, GLOSSARY, EXAMPLES, "Carrier codes are IATA two-letter codes.")
    writer = OpenAIWriter(base_url=openai_server.base_url, model="test-model", timeout_s=5)
    draft = await writer.write_sql(SQLRequest(question, SCHEMA, knowledge=knowledge), Recorder())
    assert "IN ('AA', 'UA', 'DL')" in draft.sql
    prompt = openai_server.chat_requests[0].text()
    assert "Carrier codes are IATA two-letter codes." in prompt
    assert "legacy carriers / 传统航司: the big three (SQL: carrier IN ('AA', 'UA', 'DL'))" in prompt
    assert "Q: list the legacy carriers by name" in prompt and "SELECT name FROM airlines WHERE carrier IN ('AA')" in prompt
    assert "on-time rate" not in prompt and "GMV" not in prompt  # only the terms the question uses, of this datasource
    assert "count airports" not in prompt  # dissimilar examples stay out
