"""Converted streams read by the official SDKs, in process (httpx2.MockTransport).

The SDKs' own stream accumulators are the strictest readers of event order
and shapes that Claude Code and Codex rely on; no socket is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from ccbridge.convert.stream import StreamConverter
from tests.unit.convert.fixtures import FIXTURES, bridge_for, load, names
from tests.unit.convert.test_chat_client import _bridge as chat_bridge
from tests.unit.convert.test_responses_client import _bridge as responses_bridge


def _transport(make: Callable[[], StreamConverter], upstream: bytes) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        conv = make()
        body = conv.feed(upstream) + conv.close()
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx2.MockTransport(handler)


MESSAGES = [n for n in names("streams") if load("streams", n).get("terminal", True)]


@pytest.mark.parametrize("name", MESSAGES)
def test_anthropic_sdk_accumulates_the_converted_stream(name: str) -> None:
    case = load("streams", name)
    upstream = (FIXTURES / "streams" / f"{name}.sse").read_bytes()
    transport = _transport(bridge_for(case).stream_converter, upstream)
    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://convert.test",
        http_client=httpx2.Client(transport=transport),
    )
    with client.messages.stream(
        model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        message = stream.get_final_message()
    blocks: list[dict[str, Any]] = [b.model_dump(exclude_none=True) for b in message.content]
    expected = case["expected"]
    assert [b["type"] for b in blocks] == [b["type"] for b in expected["blocks"]]
    for got, want in zip(blocks, expected["blocks"], strict=True):
        assert {k: got[k] for k in want} == want
    assert message.stop_reason == expected["stop_reason"]
    assert message.usage.cache_read_input_tokens == expected["usage"]["cache_read_input_tokens"]


def test_anthropic_sdk_raises_on_a_midstream_error() -> None:
    case = load("streams", "chat_midstream_error")
    upstream = (FIXTURES / "streams" / "chat_midstream_error.sse").read_bytes()
    transport = _transport(bridge_for(case).stream_converter, upstream)
    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://convert.test",
        http_client=httpx2.Client(transport=transport),
    )
    with pytest.raises(anthropic.APIStatusError, match="Provider returned error"):
        with client.messages.stream(
            model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            stream.get_final_message()


def test_openai_sdk_reads_the_converted_chat_stream() -> None:
    case = load("chat_streams", "claude_thinking_text_tool")
    upstream = (FIXTURES / "chat_streams" / "claude_thinking_text_tool.sse").read_bytes()
    transport = _transport(chat_bridge(case).stream_converter, upstream)
    client = openai.OpenAI(
        api_key="test",
        base_url="http://convert.test/v1",
        http_client=httpx2.Client(transport=transport),
    )
    text, args, finish, usage = "", "", None, None
    for chunk in client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or ():
                args += call.function.arguments or "" if call.function else ""
            finish = choice.finish_reason or finish
    assert text == "Okay, let's check the weather."
    assert args == '{"location": "San Francisco, CA"}'
    assert finish == "tool_calls"
    assert usage is not None and usage.prompt_tokens == 2520


@pytest.mark.parametrize("name", ["claude_thinking_text_tool", "chat_text_tool_usage"])
def test_openai_sdk_accumulates_the_converted_responses_stream(name: str) -> None:
    case = load("responses_streams", name)
    upstream = (FIXTURES / case["upstream_file"]).read_bytes()
    transport = _transport(responses_bridge(case).stream_converter, upstream)
    client = openai.OpenAI(
        api_key="test",
        base_url="http://convert.test/v1",
        http_client=httpx2.Client(transport=transport),
    )
    with client.responses.stream(model="gpt-5-codex", input="Hi") as stream:
        response = stream.get_final_response()
    output = [item.model_dump(exclude_none=True) for item in response.output]
    assert [i["type"] for i in output] == [i["type"] for i in case["expected"]["output"]]
    calls = [i for i in output if i["type"] == "function_call"]
    assert calls[0]["arguments"] == case["expected"]["output"][-1]["arguments"]
    assert response.usage is not None
    assert response.usage.input_tokens == case["expected"]["usage"]["input_tokens"]
