"""Chat Completions clients on Messages and Gemini upstreams (issue 19's Chat pool)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ccbridge.convert import BridgeOptions, ChatBridge, ConversionError
from tests.unit.convert.chatcheck import chat_chunks, check_chat_stream, summarize_chat
from tests.unit.convert.fixtures import FIXTURES, load, names
from tests.unit.convert.streamcheck import cut_points, run_in_pieces

STREAMS = names("chat_streams")
BASE = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}


def _bridge(case: dict[str, Any]) -> ChatBridge:
    options = BridgeOptions(**{"created": 1741570283, **case.get("options", {})})
    return ChatBridge(
        case["target"], {**BASE, **case.get("request", {})}, model="up", options=options
    )


@pytest.mark.parametrize("name", STREAMS)
def test_chat_stream_matches_fixture(name: str) -> None:
    case = load("chat_streams", name)
    data = (FIXTURES / "chat_streams" / f"{name}.sse").read_bytes()
    conv = _bridge(case).stream_converter()
    chunks = chat_chunks(conv.feed(data) + conv.close())
    check_chat_stream(chunks, finished=case.get("terminal", True))
    assert summarize_chat(chunks) == case["expected"]
    assert conv.terminal is case.get("terminal", True)


@pytest.mark.parametrize("name", STREAMS)
def test_chat_stream_is_the_same_however_split(name: str) -> None:
    case = load("chat_streams", name)
    bridge = _bridge(case)
    data = (FIXTURES / "chat_streams" / f"{name}.sse").read_bytes().replace(b"\n", b"\r\n")
    whole = run_in_pieces(bridge.stream_converter, data, [])
    for cuts in cut_points(data, random_runs=20):
        assert run_in_pieces(bridge.stream_converter, data, cuts) == whole, cuts[:5]


def test_no_usage_chunk_unless_asked() -> None:
    case = {"target": "claude"}
    data = (FIXTURES / "chat_streams" / "claude_thinking_text_tool.sse").read_bytes()
    conv = _bridge(case).stream_converter()
    chunks = chat_chunks(conv.feed(data) + conv.close())
    check_chat_stream(chunks)
    assert all(c == "[DONE]" or c["choices"] for c in chunks)


CHAT_REQUEST = {
    "model": "gpt-4o",
    "max_completion_tokens": 2048,
    "temperature": 0.2,
    "stop": "END",
    "user": "u-1",
    "reasoning_effort": "low",
    "stream": True,
    "stream_options": {"include_usage": True},
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ],
    "tool_choice": "required",
    "parallel_tool_calls": False,
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "3°C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "18°C"}]},
        {"role": "user", "content": "Which is warmer?"},
    ],
}


def test_chat_request_to_messages() -> None:
    body = ChatBridge("claude", CHAT_REQUEST, model="claude-sonnet-4-5").body
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "system": [
            {"type": "text", "text": "Be brief."},
            {"type": "text", "text": "Use metric units."},
        ],
        "temperature": 0.2,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"},
        "stream": True,
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather for a city",
                "input_schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            }
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/jpeg",
                            "data": "/9j/4AAQ",
                        },
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "call_1",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    },
                    {
                        "type": "tool_use",
                        "id": "call_2",
                        "name": "get_weather",
                        "input": {"city": "Rome"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_1",
                        "content": [{"type": "text", "text": "3°C"}],
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_2",
                        "content": [{"type": "text", "text": "18°C"}],
                    },
                    {"type": "text", "text": "Which is warmer?"},
                ],
            },
        ],
    }
    assert ChatBridge("claude", CHAT_REQUEST, model="m").path() == "/messages"


def test_chat_request_to_gemini() -> None:
    body = ChatBridge("gemini", CHAT_REQUEST, model="gemini-2.5-flash").body
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief.\n\nUse metric units."}]}
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "3°C"}}},
            {"functionResponse": {"name": "get_weather", "response": {"result": "18°C"}}},
            {"text": "Which is warmer?"},
        ],
    }
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body["generationConfig"]["stopSequences"] == ["END"]


def test_messages_response_to_chat_completion() -> None:
    upstream = {
        "id": "msg_01ABC",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "Compare.", "signature": "EqQB"},
            {"type": "text", "text": "Rome is warmer."},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 5,
            "output_tokens": 9,
        },
    }
    bridge = ChatBridge(
        "claude",
        {**CHAT_REQUEST, "stream": False},
        model="m",
        options=BridgeOptions(message_id="chatcmpl-x1", created=7),
    )
    assert orjson.loads(bridge.response(orjson.dumps(upstream)).body) == {
        "id": "chatcmpl-x1",
        "object": "chat.completion",
        "created": 7,
        "model": "claude-sonnet-4-5-20250929",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Rome is warmer.",
                    "reasoning_content": "Compare.",
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 125,
            "completion_tokens": 9,
            "total_tokens": 134,
            "prompt_tokens_details": {"cached_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def test_chat_errors_have_the_openai_shape() -> None:
    bridge = ChatBridge("claude", CHAT_REQUEST, model="m")
    status, body = bridge.error(
        529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    )
    assert status == 529
    assert orjson.loads(body) == {
        "error": {"message": "Overloaded", "type": "server_error", "param": None, "code": None}
    }


def test_chat_bridge_refuses_other_targets() -> None:
    with pytest.raises(ConversionError):
        ChatBridge("openai", CHAT_REQUEST, model="m")


def test_thinking_is_left_off_when_the_tool_turn_has_no_signed_thinking() -> None:
    # CHAT_REQUEST's last assistant turn called tools and Chat kept no signature.
    assert (
        "thinking"
        not in ChatBridge("claude", {**CHAT_REQUEST, "max_completion_tokens": 8000}, model="m").body
    )
    no_tools = {**CHAT_REQUEST, "messages": [{"role": "user", "content": "Hi"}]}
    assert ChatBridge("claude", no_tools, model="m").body["thinking"] == {
        "type": "enabled",
        "budget_tokens": 2047,
    }
