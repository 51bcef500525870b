"""Messages requests converted for each upstream type.

The full-turn fixture (tests/fixtures/convert/requests/) carries every
request feature at once; the tables below vary one feature at a time.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ccbridge.convert import BridgeOptions, ConversionError, MessagesBridge
from tests.unit.convert.fixtures import FIXTURES

REQUESTS = FIXTURES / "requests"
TARGETS = sorted(
    p.name.split(".")[1]
    for p in REQUESTS.glob("claude_code_turn.*.json")
    if "request" not in p.name
)


def _body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
        **extra,
    }


@pytest.mark.parametrize("target", TARGETS)
def test_full_turn_matches_fixture(target: str) -> None:
    request = orjson.loads((REQUESTS / "claude_code_turn.request.json").read_bytes())
    case = orjson.loads((REQUESTS / f"claude_code_turn.{target}.json").read_bytes())
    bridge = MessagesBridge(
        case["target"],
        request,
        model=case["model"],
        options=BridgeOptions(**case.get("options", {})),
    )
    assert bridge.body == case["expected"]
    assert orjson.loads(bridge.encoded_body()) == case["expected"]


def test_fixture_covers_every_target_but_emulation() -> None:
    assert set(TARGETS) == {"openai", "openaiold", "gemini", "responses", "openai-oauth"}


@pytest.mark.parametrize(
    ("target", "stream", "path"),
    [
        ("openai", True, "/chat/completions"),
        ("openai_chat", False, "/chat/completions"),
        ("responses", True, "/responses"),
        ("openai-oauth", False, "/responses"),
        ("gemini", False, "/models/gemini-2.5-pro:generateContent"),
        ("gemini", True, "/models/gemini-2.5-pro:streamGenerateContent?alt=sse"),
    ],
)
def test_upstream_path(target: str, stream: bool, path: str) -> None:
    bridge = MessagesBridge(target, _body(stream=stream), model="gemini-2.5-pro")
    assert bridge.path() == path
    assert bridge.stream is stream


CHOICES = [
    ({"type": "auto"}, "auto", None, None),
    ({"type": "any"}, "required", "ANY", None),
    ({"type": "none"}, "none", "NONE", None),
    (
        {"type": "tool", "name": "Read"},
        {"type": "function", "function": {"name": "Read"}},
        "ANY",
        ["Read"],
    ),
]
TOOL = {"name": "Read", "description": "d", "input_schema": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(("choice", "chat", "gemini_mode", "allowed"), CHOICES)
def test_tool_choice(
    choice: dict[str, Any], chat: Any, gemini_mode: str | None, allowed: list[str] | None
) -> None:
    body = _body(tools=[TOOL], tool_choice={**choice, "disable_parallel_tool_use": True})
    openai = MessagesBridge("openai", body, model="m").body
    assert openai["tool_choice"] == chat
    assert openai["parallel_tool_calls"] is False
    responses = MessagesBridge("responses", body, model="m").body
    expected = {"type": "function", "name": "Read"} if choice["type"] == "tool" else chat
    assert responses["tool_choice"] == expected
    gemini = MessagesBridge("gemini", body, model="m").body
    config = gemini.get("toolConfig", {}).get("functionCallingConfig")
    assert (config or {}).get("mode") == gemini_mode
    assert (config or {}).get("allowedFunctionNames") == allowed


@pytest.mark.parametrize(
    ("thinking", "output_config", "effort", "budget"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, None, "low", 1024),
        ({"type": "enabled", "budget_tokens": 31999}, None, "high", 31999),
        ({"type": "adaptive"}, {"effort": "low"}, "low", 2048),
        ({"type": "adaptive"}, {"effort": "max"}, "high", 32768),
        (None, {"effort": "medium"}, "medium", 8192),
    ],
)
def test_thinking_maps_to_effort_and_budget(
    thinking: dict[str, Any] | None, output_config: dict[str, Any] | None, effort: str, budget: int
) -> None:
    extra: dict[str, Any] = {}
    if thinking:
        extra["thinking"] = thinking
    if output_config:
        extra["output_config"] = output_config
    body = _body(**extra)
    assert MessagesBridge("openai", body, model="m").body["reasoning_effort"] == effort
    config = MessagesBridge("gemini", body, model="m").body["generationConfig"]["thinkingConfig"]
    assert config == {"thinkingBudget": budget, "includeThoughts": True}
    responses_effort = MessagesBridge("responses", body, model="m").body["reasoning"]["effort"]
    assert responses_effort == ("xhigh" if output_config == {"effort": "max"} else effort)


def test_disabled_thinking_sends_no_reasoning() -> None:
    body = _body(thinking={"type": "disabled"})
    assert "reasoning_effort" not in MessagesBridge("openai", body, model="m").body
    config = MessagesBridge("gemini", body, model="m").body["generationConfig"]
    assert config == {"maxOutputTokens": 100}
    assert "reasoning" not in MessagesBridge("responses", body, model="m").body


def test_string_system_and_error_tool_result() -> None:
    body = _body(
        system="Be terse.",
        messages=[
            {"role": "user", "content": "list"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "permission denied"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "AAA=",
                                },
                            },
                        ],
                    }
                ],
            },
        ],
    )
    chat = MessagesBridge("openai", body, model="m").body["messages"]
    assert chat[0] == {"role": "system", "content": "Be terse."}
    assert chat[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "t1",
                "type": "function",
                "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
            }
        ],
    }
    # The image may not sit in a tool message: it follows in a user message.
    assert chat[3] == {"role": "tool", "tool_call_id": "t1", "content": "Error: permission denied"}
    assert chat[4] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA="}}],
    }
    gemini = MessagesBridge("gemini", body, model="m").body
    assert gemini["contents"][2]["parts"][0] == {
        "functionResponse": {"name": "Bash", "response": {"error": "permission denied"}}
    }
    responses = MessagesBridge("responses", body, model="m").body["input"]
    assert responses[2] == {
        "type": "function_call_output",
        "call_id": "t1",
        "output": "Error: permission denied",
    }


def test_signed_reasoning_round_trips_to_its_issuer_only() -> None:
    body = _body(
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "plan", "signature": "responses:gAAAenc"},
                    {"type": "thinking", "thinking": "", "signature": "gemini:CiQsig"},
                    {
                        "type": "tool_use",
                        "id": "toolu_x_1",
                        "name": "Bash",
                        "input": {"command": "ls"},
                    },
                ],
            },
        ]
    )
    responses = MessagesBridge("responses", body, model="m").body["input"]
    assert responses[1] == {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "plan"}],
        "encrypted_content": "gAAAenc",
    }
    assert [i["type"] for i in responses] == ["message", "reasoning", "function_call"]
    gemini = MessagesBridge("gemini", body, model="m").body["contents"][1]["parts"]
    assert gemini == [
        {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": "CiQsig"}
    ]
    # The Codex backend gets no reasoning replay unless the channel asks for it.
    codex = MessagesBridge("openai-oauth", body, model="m").body
    assert [i["type"] for i in codex["input"]] == ["message", "function_call"]
    assert "include" not in codex
    replay = MessagesBridge(
        "openai-oauth", body, model="m", options=BridgeOptions(codex_reasoning_replay=True)
    )
    assert [i["type"] for i in replay.body["input"]] == ["message", "reasoning", "function_call"]


def test_fast_mode_and_cache_key_option() -> None:
    body = _body(speed="fast")
    out = MessagesBridge(
        "responses", body, model="m", options=BridgeOptions(prompt_cache_key="sess-1")
    ).body
    assert out["service_tier"] == "priority"
    assert out["prompt_cache_key"] == "sess-1"


def test_max_tokens_cap() -> None:
    body = _body(max_tokens=64000)
    capped = MessagesBridge(
        "openai", body, model="m", options=BridgeOptions(max_tokens_cap=8192)
    ).body
    assert capped["max_completion_tokens"] == 8192
    assert (
        MessagesBridge(
            "gemini", _body(max_tokens=100), model="m", options=BridgeOptions(max_tokens_cap=8192)
        ).body["generationConfig"]["maxOutputTokens"]
        == 100
    )


def test_stop_sequences_are_cut_to_each_api_limit() -> None:
    body = _body(stop_sequences=[f"s{n}" for n in range(7)])
    assert MessagesBridge("openai", body, model="m").body["stop"] == ["s0", "s1", "s2", "s3"]
    assert MessagesBridge("gemini", body, model="m").body["generationConfig"]["stopSequences"] == [
        "s0",
        "s1",
        "s2",
        "s3",
        "s4",
    ]


def test_unknown_target_and_bad_body_are_conversion_errors() -> None:
    with pytest.raises(ConversionError):
        MessagesBridge("claude", _body(), model="m")
    with pytest.raises(ConversionError):
        MessagesBridge("openai", {"model": "x", "messages": "hi"}, model="m")


def test_emulated_tools_go_into_the_prompt() -> None:
    body = _body(
        system="Be terse.",
        stream=True,
        tools=[
            {
                "name": "Read",
                "description": "Read <file>",
                "input_schema": {
                    "type": "object",
                    "properties": {"path": {"type": "string", "description": "where"}},
                    "required": ["path"],
                },
            }
        ],
        messages=[
            {"role": "user", "content": 'read it <invoke name="X"></invoke>'},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "Read", "input": {"path": "/a&b"}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x < y"}],
            },
        ],
    )
    bridge = MessagesBridge(
        "openai_chat", body, model="glm", options=BridgeOptions(trigger="<<CALL_abc>>")
    )
    messages = bridge.body["messages"]
    assert "tools" not in bridge.body
    assert bridge.body["stream"] is True and bridge.body["max_tokens"] == 100
    prompt = messages[0]["content"]
    assert messages[0]["role"] == "system"
    assert (
        "<name>Read</name>" in prompt and "<description>Read &lt;file&gt;</description>" in prompt
    )
    assert (
        '<parameter name="path" type="string" required="true"><description>where</description>'
        in prompt
    )
    assert prompt.count("<<CALL_abc>>") == 2
    assert messages[1:] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "read it "},
        {
            "role": "assistant",
            "content": '<<CALL_abc>>\n<invoke name="Read">\n'
            '<parameter name="path">/a&amp;b</parameter>\n</invoke>',
        },
        {"role": "user", "content": '<tool_result id="t1">x &lt; y</tool_result>'},
    ]


def test_emulated_trigger_is_fresh_per_request() -> None:
    one = MessagesBridge("openai_chat", _body(tools=[TOOL]), model="m").body["messages"][0][
        "content"
    ]
    two = MessagesBridge("openai_chat", _body(tools=[TOOL]), model="m").body["messages"][0][
        "content"
    ]
    assert one != two and "<<CALL_" in one


@pytest.mark.parametrize(
    ("user_id", "key"),
    [
        ("user_ab12_account__session_9f8e", "9f8e"),
        ('{"device_id":"d1","account_uuid":"a1","session_id":"5b1c-77"}', "5b1c-77"),
        ("plain-user", ""),
        ("{not json", ""),
    ],
)
def test_prompt_cache_key_from_claude_code_user_id(user_id: str, key: str) -> None:
    out = MessagesBridge("responses", _body(metadata={"user_id": user_id}), model="m").body
    assert out.get("prompt_cache_key", "") == key


LONG = "mcp__claude_in_chrome__" + "navigate_to_the_page_and_take_a_screenshot_of_it" * 2


def test_gemini_tool_names_are_made_valid_and_mapped_back() -> None:
    tools = [
        {"name": LONG, "description": "d", "input_schema": {"type": "object"}},
        {"name": "9lives:run", "description": "d", "input_schema": {"type": "object"}},
        {"name": "Read", "description": "d", "input_schema": {"type": "object"}},
    ]
    body = _body(
        tools=tools,
        tool_choice={"type": "tool", "name": LONG},
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": LONG, "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
            },
        ],
    )
    bridge = MessagesBridge(
        "gemini", body, model="gemini-2.5-pro", options=BridgeOptions(message_id="msg_n1")
    )
    names = [d["name"] for d in bridge.body["tools"][0]["functionDeclarations"]]
    short = names[0]
    assert len(short) == 64 and short.startswith("mcp__claude_in_chrome__navigate")
    assert names[1:] == ["_9lives_run", "Read"]
    assert bridge.body["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"] == [short]
    assert bridge.body["contents"][1]["parts"][0]["functionCall"]["name"] == short
    assert bridge.body["contents"][2]["parts"][0]["functionResponse"]["name"] == short
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": short, "args": {}}}],
                },
                "finishReason": "STOP",
            }
        ]
    }
    content = orjson.loads(bridge.response(orjson.dumps(answer)).body)["content"]
    assert content == [{"type": "tool_use", "id": "toolu_n1_1", "name": LONG, "input": {}}]
    conv = bridge.stream_converter()
    out = conv.feed(b"data: " + orjson.dumps(answer) + b"\r\n\r\n") + conv.close()
    assert f'"name":"{LONG}"'.encode() in out
