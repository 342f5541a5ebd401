"""The LLM writer against the local OpenAI-compatible server: real HTTP, the real ChatOpenAI client."""

import time

import pytest

from datasources.schema import Column, Schema, Table
from llm.base import Chunk, ExplainRequest, SQLRequest, SQLWriter, Turn, WriterError
from llm.openai_writer import OpenAIWriter
from tests.support.openai_server import Cut, Hang, HTTPFault, OpenAIServer, Reply

SCHEMA = Schema(
    datasource_id="demo",
    dialect="duckdb",
    tables=(
        Table(
            "airlines",
            (
                Column("carrier", "VARCHAR", "Two-letter code", "两字代码", True, ("UA", "AA")),
                Column("name", "VARCHAR"),
            ),
        ),
    ),
)
FENCED = "```sql\nSELECT name FROM airlines ORDER BY name\n```"


def writer(server: OpenAIServer, timeout_s: float = 2.0) -> OpenAIWriter:
    return OpenAIWriter(base_url=server.base_url, model="test-model", timeout_s=timeout_s)


class Recorder:
    def __init__(self) -> None:
        self.chunks: list[Chunk] = []

    def __call__(self, chunk: Chunk) -> None:
        self.chunks.append(chunk)

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.chunks)

    @property
    def reasoning(self) -> str:
        return "".join(c.reasoning for c in self.chunks)


def test_is_a_sql_writer(openai_server: OpenAIServer) -> None:
    assert isinstance(writer(openai_server), SQLWriter)
    assert writer(openai_server).name == "test-model"


async def test_streams_sql_in_order_and_returns_the_statement(openai_server: OpenAIServer) -> None:
    openai_server.push(Reply("Here it is:\n" + FENCED + "\nDone."))
    emit = Recorder()
    draft = await writer(openai_server).write_sql(SQLRequest("airline names", SCHEMA), emit)
    assert draft.sql == "SELECT name FROM airlines ORDER BY name"
    assert len([c for c in emit.chunks if c.text]) > 10  # token by token, not one blob
    assert emit.text == "Here it is:\n" + FENCED + "\nDone."
    assert draft.model_calls == 1
    request = openai_server.chat_requests[0]
    assert request.stream and request.model == "test-model"
    assert request.params["stream_options"] == {"include_usage": True}
    assert request.params["temperature"] == 0.0


async def test_reasoning_content_arrives_as_reasoning(openai_server: OpenAIServer) -> None:
    openai_server.push(Reply(FENCED, reasoning="The airlines table has the names."))
    emit = Recorder()
    draft = await writer(openai_server).write_sql(SQLRequest("airline names", SCHEMA), emit)
    assert emit.reasoning == "The airlines table has the names."
    assert emit.text == FENCED
    first_text = next(i for i, c in enumerate(emit.chunks) if c.text)
    assert all(c.reasoning for c in emit.chunks[:first_text])  # reasoning streamed before the answer
    assert draft.reasoning == "The airlines table has the names."


async def test_think_blocks_go_to_reasoning_not_to_the_text(openai_server: OpenAIServer) -> None:
    openai_server.push(Reply("<think>Names are in airlines; no join needed.</think>\n" + FENCED))
    emit = Recorder()
    draft = await writer(openai_server).write_sql(SQLRequest("airline names", SCHEMA), emit)
    assert "<think>" not in emit.text and "think>" not in emit.text
    assert emit.reasoning == "Names are in airlines; no join needed."
    assert emit.text.strip() == FENCED
    assert draft.sql == "SELECT name FROM airlines ORDER BY name"
    assert draft.reasoning == "Names are in airlines; no join needed."


@pytest.mark.parametrize(
    ("answer", "sql"),
    [
        ('{"sql": "SELECT carrier FROM airlines;"}', "SELECT carrier FROM airlines"),
        ("SELECT COUNT(*) FROM airlines\nThis counts the airlines.", "SELECT COUNT(*) FROM airlines"),
        ("```\nSELECT 1;\n```", "SELECT 1"),
    ],
)
async def test_json_bare_and_unlabelled_fence_answers(
    openai_server: OpenAIServer, answer: str, sql: str
) -> None:
    openai_server.push(answer)
    draft = await writer(openai_server).write_sql(SQLRequest("q", SCHEMA), Recorder())
    assert draft.sql == sql


async def test_usage_is_reported(openai_server: OpenAIServer) -> None:
    openai_server.push(
        Reply(FENCED, usage={"prompt_tokens": 321, "completion_tokens": 12, "total_tokens": 333})
    )
    draft = await writer(openai_server).write_sql(SQLRequest("q", SCHEMA), Recorder())
    assert draft.usage == {"prompt_tokens": 321, "completion_tokens": 12}


async def test_repair_prompt_holds_the_failed_sql_and_the_error(openai_server: OpenAIServer) -> None:
    openai_server.push(FENCED)
    request = SQLRequest(
        "airline names",
        SCHEMA,
        failed_sql="SELECT nam FROM airlines",
        error='Binder Error: Referenced column "nam" not found',
    )
    await writer(openai_server).write_sql(request, Recorder())
    prompt = openai_server.chat_requests[0].messages[-1]["content"]
    assert "SELECT nam FROM airlines" in prompt
    assert 'Referenced column "nam" not found' in prompt


async def test_previous_turns_are_sent_for_follow_ups(openai_server: OpenAIServer) -> None:
    openai_server.push(FENCED)
    history = [Turn("how many airlines?", "SELECT COUNT(*) FROM airlines", ("count",), 1)]
    await writer(openai_server).write_sql(SQLRequest("and their names?", SCHEMA, history=history), Recorder())
    messages = openai_server.chat_requests[0].messages
    roles = [m["role"] for m in messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "how many airlines?"
    assert "SELECT COUNT(*) FROM airlines" in messages[2]["content"]


async def test_an_answer_without_sql_is_bad_output(openai_server: OpenAIServer) -> None:
    openai_server.push("I am sorry, I cannot help with that.")
    with pytest.raises(WriterError) as caught:
        await writer(openai_server).write_sql(SQLRequest("q", SCHEMA), Recorder())
    assert caught.value.kind == "bad_output"
    assert caught.value.detail.startswith("I am sorry")


@pytest.mark.parametrize(("status", "snippet"), [(429, "slow down"), (500, "boom"), (503, "overloaded")])
async def test_http_errors_are_model_unavailable(
    openai_server: OpenAIServer, status: int, snippet: str
) -> None:
    openai_server.push(HTTPFault(status, snippet))
    with pytest.raises(WriterError) as caught:
        await writer(openai_server).write_sql(SQLRequest("q", SCHEMA), Recorder())
    assert caught.value.kind == "model_unavailable"
    assert f"HTTP {status}" in caught.value.detail and snippet in caught.value.detail
    assert len(openai_server.chat_requests) == 1  # no hidden client retries


@pytest.mark.parametrize(
    "hang", [Hang(10), Hang(10, after_tokens=3, content=FENCED)], ids=["before-headers", "mid-stream"]
)
async def test_a_hanging_model_is_model_timeout_within_the_timeout(
    openai_server: OpenAIServer, hang: Hang
) -> None:
    openai_server.push(hang)
    started = time.monotonic()
    with pytest.raises(WriterError) as caught:
        await writer(openai_server, timeout_s=0.3).write_sql(SQLRequest("q", SCHEMA), Recorder())
    assert caught.value.kind == "model_timeout"
    assert time.monotonic() - started < 2.0


async def test_a_cut_stream_is_model_unavailable(openai_server: OpenAIServer) -> None:
    openai_server.push(Cut(FENCED, after_tokens=6))
    emit = Recorder()
    with pytest.raises(WriterError) as caught:
        await writer(openai_server).write_sql(SQLRequest("q", SCHEMA), emit)
    assert caught.value.kind == "model_unavailable"
    assert emit.text == "```sql\nSELECT"  # what arrived was still streamed


async def test_connection_refused_is_model_unavailable() -> None:
    with OpenAIServer() as server:
        base_url = server.base_url
    dead = OpenAIWriter(base_url=base_url, model="m", timeout_s=1)
    with pytest.raises(WriterError) as caught:
        await dead.write_sql(SQLRequest("q", SCHEMA), Recorder())
    assert caught.value.kind == "model_unavailable"
    assert "ConnectError" in caught.value.detail


async def test_explain_streams_a_short_answer_in_the_locale(openai_server: OpenAIServer) -> None:
    openai_server.push(
        Reply("<think>two rows</think>共有 2 家航空公司：American 和 United。", reasoning="count rows")
    )
    emit = Recorder()
    request = ExplainRequest(
        question="列出航空公司",
        sql="SELECT name FROM airlines",
        columns=["name"],
        rows=[["American"], ["United"]],
        row_count=2,
        truncated=False,
        locale="zh",
    )
    text = await writer(openai_server).explain(request, emit)
    assert text == "共有 2 家航空公司：American 和 United。"
    assert emit.text == text and len([c for c in emit.chunks if c.text]) > 5
    assert "count rows" in emit.reasoning and "two rows" in emit.reasoning
    messages = openai_server.chat_requests[0].messages
    assert "Simplified Chinese" in messages[0]["content"]
    assert "| American |" in messages[1]["content"]
