"""Non-stream upstream answers converted to Messages responses."""

from __future__ import annotations

import orjson
import pytest

from ccbridge.convert import ConversionError, MessagesBridge
from tests.unit.convert.fixtures import bridge_for, load, names

CASES = names("responses")


@pytest.mark.parametrize("name", CASES)
def test_response_matches_fixture(name: str) -> None:
    case = load("responses", name)
    converted = bridge_for(
        {**case, "request": {**case.get("request", {}), "stream": False}}
    ).response(orjson.dumps(case["upstream"]))
    assert orjson.loads(converted.body) == case["expected"]
    usage = case["expected"]["usage"]
    assert converted.response.usage.input_tokens == usage["input_tokens"]
    assert converted.response.usage.cache_read_tokens == usage["cache_read_input_tokens"]
    assert converted.response.model == case["expected"]["model"]


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("openai", b'{"object": "chat.completion", "choices": []}'),
        ("responses", b'{"object": "response"}'),
        ("gemini", b"[]"),
        ("openai", b"not json"),
    ],
)
def test_unconvertible_bodies_raise(target: str, body: bytes) -> None:
    bridge = MessagesBridge(target, {"model": "x", "max_tokens": 5, "messages": []}, model="m")
    with pytest.raises(ConversionError):
        bridge.response(body)


def test_unparseable_tool_arguments_become_empty_input() -> None:
    upstream = {
        "model": "m",
        "choices": [
            {
                "message": {
                    "content": None,
                    "tool_calls": [{"id": "c", "function": {"name": "X", "arguments": "{bad"}}],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    bridge = MessagesBridge("openai", {"model": "x", "max_tokens": 5, "messages": []}, model="m")
    content = orjson.loads(bridge.response(orjson.dumps(upstream)).body)["content"]
    assert content == [{"type": "tool_use", "id": "c", "name": "X", "input": {}}]
