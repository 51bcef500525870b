"""Responses clients (Codex) on Messages, Chat and Gemini upstreams (issue 19)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ccbridge.convert import BridgeOptions, ConversionError, ResponsesBridge
from tests.unit.convert.fixtures import FIXTURES, load, names
from tests.unit.convert.responsescheck import check_responses_stream, responses_events
from tests.unit.convert.streamcheck import cut_points, run_in_pieces

STREAMS = names("responses_streams")
BASE = {"model": "gpt-5-codex", "stream": True, "input": "hi"}


def _bridge(case: dict[str, Any]) -> ResponsesBridge:
    options = BridgeOptions(**{"created": 1756300000, **case.get("options", {})})
    return ResponsesBridge(
        case["target"], {**BASE, **case.get("request", {})}, model="up", options=options
    )


@pytest.mark.parametrize("name", STREAMS)
def test_responses_stream_matches_fixture(name: str) -> None:
    case = load("responses_streams", name)
    data = (FIXTURES / case["upstream_file"]).read_bytes()
    conv = _bridge(case).stream_converter()
    events = responses_events(conv.feed(data) + conv.close())
    final = check_responses_stream(events, finished=case.get("terminal", True))
    assert {k: final[k] for k in case["expected"]} == case["expected"]
    assert conv.terminal is case.get("terminal", True)


@pytest.mark.parametrize("name", STREAMS)
def test_responses_stream_is_the_same_however_split(name: str) -> None:
    case = load("responses_streams", name)
    bridge = _bridge(case)
    data = (FIXTURES / case["upstream_file"]).read_bytes()
    whole = run_in_pieces(bridge.stream_converter, data, [])
    for cuts in cut_points(data, random_runs=20):
        assert run_in_pieces(bridge.stream_converter, data, cuts) == whole, cuts[:5]


CODEX_REQUEST = {
    "model": "gpt-5-codex",
    "instructions": "You are Codex.",
    "stream": True,
    "store": False,
    "reasoning": {"effort": "high", "summary": "auto"},
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "0199-sess",
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "tools": [
        {
            "type": "function",
            "name": "shell",
            "description": "Runs a shell command",
            "strict": False,
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "array", "items": {"type": "string"}}},
            },
        },
        {
            "type": "custom",
            "name": "apply_patch",
            "description": "Apply a patch",
            "format": {"type": "grammar"},
        },
        {"type": "web_search"},
    ],
    "input": [
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "Sandbox: read-only."}],
        },
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Fix the bug."}],
        },
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Look first."}],
            "encrypted_content": "ccb:EqQBanthropic",
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "toolu_1",
            "name": "shell",
            "arguments": '{"command":["ls"]}',
        },
        {"type": "function_call_output", "call_id": "toolu_1", "output": "main.py"},
        {
            "type": "custom_tool_call",
            "id": "ctc_1",
            "call_id": "toolu_2",
            "name": "apply_patch",
            "input": "*** Begin Patch",
        },
        {"type": "custom_tool_call_output", "call_id": "toolu_2", "output": "Done!"},
    ],
}


def test_codex_request_to_messages() -> None:
    body = ResponsesBridge("claude", CODEX_REQUEST, model="claude-sonnet-4-5").body
    assert body["system"] == [
        {"type": "text", "text": "You are Codex."},
        {"type": "text", "text": "Sandbox: read-only."},
    ]
    # The last tool turn (apply_patch) carries no signed thinking: thinking stays off.
    assert "thinking" not in body
    assert body["max_tokens"] == 8192
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert [t.get("name") for t in body["tools"]] == ["shell", "apply_patch", "web_search"]
    assert body["tools"][1]["input_schema"]["required"] == ["input"]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Fix the bug."}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Look first.", "signature": "EqQBanthropic"},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "shell",
                    "input": {"command": ["ls"]},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "main.py"}],
                }
            ],
        },
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "apply_patch",
                    "input": {"input": "*** Begin Patch"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "Done!"}],
                }
            ],
        },
    ]


def test_codex_request_to_chat_and_gemini() -> None:
    chat = ResponsesBridge("openai", CODEX_REQUEST, model="gpt-4.1").body
    assert chat["messages"][0] == {
        "role": "system",
        "content": "You are Codex.\n\nSandbox: read-only.",
    }
    assert chat["reasoning_effort"] == "high" and chat["parallel_tool_calls"] is False
    assert [m["role"] for m in chat["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]
    gemini = ResponsesBridge("gemini", CODEX_REQUEST, model="gemini-2.5-pro").body
    assert gemini["contents"][2]["parts"] == [
        {"functionResponse": {"name": "shell", "response": {"result": "main.py"}}}
    ]
    assert {"googleSearch": {}} in gemini["tools"]


def test_custom_tool_call_comes_back_as_custom_item() -> None:
    upstream = {
        "id": "msg_9",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_9",
                "name": "apply_patch",
                "input": {"input": "*** Begin Patch\n"},
            }
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }
    bridge = ResponsesBridge(
        "claude",
        {**CODEX_REQUEST, "stream": False},
        model="m",
        options=BridgeOptions(message_id="resp_z", created=3),
    )
    body = orjson.loads(bridge.response(orjson.dumps(upstream)).body)
    assert body["status"] == "completed" and body["id"] == "resp_z" and body["created_at"] == 3
    assert body["output"] == [
        {
            "id": "ctc_z_1",
            "type": "custom_tool_call",
            "status": "completed",
            "call_id": "toolu_9",
            "name": "apply_patch",
            "input": "*** Begin Patch\n",
        }
    ]
    assert body["usage"]["input_tokens"] == 5


def test_string_input_and_bad_input() -> None:
    body = ResponsesBridge("openai", {"model": "m", "input": "hello"}, model="m").body
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    with pytest.raises(ConversionError):
        ResponsesBridge("openai", {"model": "m", "input": 3}, model="m")


def test_responses_errors_have_the_openai_shape() -> None:
    status, body = ResponsesBridge("gemini", CODEX_REQUEST, model="m").error(
        429, b'{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}'
    )
    assert status == 429
    assert orjson.loads(body)["error"] == {
        "message": "Quota exceeded",
        "type": "rate_limit_error",
        "param": None,
        "code": None,
    }


def test_codex_reasoning_round_trip_keeps_thinking_on() -> None:
    request = {**CODEX_REQUEST, "input": CODEX_REQUEST["input"][:5]}  # ends after the shell call
    body = ResponsesBridge("claude", request, model="claude-sonnet-4-5").body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8191}
    assert body["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "Look first.",
        "signature": "EqQBanthropic",
    }
