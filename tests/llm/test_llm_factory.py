"""The factory picks the writer from plain configuration values."""

import pytest

from llm.base import SQLWriter
from llm.factory import make_writer
from llm.openai_writer import OpenAIWriter


def test_a_configured_model_gives_the_llm_writer() -> None:
    writer = make_writer("http://127.0.0.1:1/v1", "qwen2.5-coder", None, 5.0, 0.1)
    assert isinstance(writer, OpenAIWriter) and isinstance(writer, SQLWriter)
    assert writer.name == "qwen2.5-coder"


def test_no_model_gives_the_offline_writer() -> None:
    offline = pytest.importorskip("llm.offline")
    if not hasattr(offline, "OfflineWriter"):
        pytest.skip("llm.offline.OfflineWriter is not written yet")
    writer = make_writer(None, None)
    assert isinstance(writer, offline.OfflineWriter)


@pytest.mark.parametrize(("base_url", "model"), [("http://127.0.0.1:1/v1", None), (None, "m")])
def test_half_a_configuration_is_refused(base_url: str | None, model: str | None) -> None:
    with pytest.raises(ValueError, match="half configured"):
        make_writer(base_url, model)
