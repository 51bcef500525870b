"""A whole-answer client on a stream-only upstream (openai-oauth: the Codex backend).

The upstream is asked to stream; the stream is gathered into the one Messages
body the client asked for, equal to what a streaming client assembles.
"""

from __future__ import annotations

import orjson
import pytest

from ccbridge.convert import ConversionError
from ccbridge.convert.bridge import MessagesBridge
from tests.unit.convert.fixtures import BASE_REQUEST, FIXTURES, load

FINISHED = ["responses_args_arrival", "responses_reasoning_text_call"]


def _whole(**extra: object) -> MessagesBridge:
    return MessagesBridge("openai-oauth", {**BASE_REQUEST, "stream": False, **extra}, model="m")


def test_a_whole_answer_client_still_asks_the_codex_backend_to_stream() -> None:
    bridge = _whole()
    assert (bridge.stream, bridge.gathers, bridge.body["stream"]) == (False, True, True)
    streaming = MessagesBridge("openai-oauth", BASE_REQUEST, model="m")
    assert (streaming.stream, streaming.gathers) == (True, False)
    plain = MessagesBridge("responses", {**BASE_REQUEST, "stream": False}, model="m")
    assert (plain.gathers, plain.body["stream"]) == (False, False)


@pytest.mark.parametrize("name", FINISHED)
def test_the_gathered_body_holds_what_a_stream_assembles(name: str) -> None:
    case = load("streams", name)
    raw = (FIXTURES / "streams" / f"{name}.sse").read_bytes()
    converted = _whole().response(raw)
    body = orjson.loads(converted.body)
    expected = case["expected"]
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["content"] == expected["blocks"]
    assert body["stop_reason"] == expected["stop_reason"]
    assert body["usage"] == expected["usage"]
    assert converted.response.usage.output_tokens == expected["usage"]["output_tokens"]


@pytest.mark.parametrize("name", ["responses_failed", "responses_incomplete"])
def test_a_stream_that_fails_or_is_cut_is_no_answer(name: str) -> None:
    raw = (FIXTURES / "streams" / f"{name}.sse").read_bytes()
    if name == "responses_incomplete":  # a cut stream: drop its terminal event
        raw = raw[: raw.rfind(b"event:")]
    with pytest.raises(ConversionError):
        _whole().response(raw)
