"""What the relay reads from a stream converter while a stream runs."""

from __future__ import annotations

import orjson

from ccbridge.convert import BridgeOptions, MessagesBridge, StreamConverter
from tests.unit.convert.streamcheck import check_grammar, events_of, summarize

BODY = {
    "model": "claude-x",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "Hi"}],
}


def _chunk(content: str, **extra: object) -> bytes:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": None}
    return (
        b"data: "
        + orjson.dumps({"id": "c", "model": "gpt-4o", "choices": [choice], **extra})
        + b"\n\n"
    )


def _converter(target: str = "openai") -> StreamConverter:
    return MessagesBridge(
        target, BODY, model="gpt-4o", options=BridgeOptions(message_id="msg_life")
    ).stream_converter()


def test_nothing_goes_out_before_content() -> None:
    conv = _converter()
    assert conv.feed(b": connected\n\n") == b""
    assert (
        conv.feed(
            b'data: {"id":"c","model":"gpt-4o",'
            b'"choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n'
        )
        == b""
    )
    assert not conv.started and not conv.has_content
    out = conv.feed(_chunk("Hel"))
    assert conv.started and conv.has_content
    names = [name for name, _ in events_of(out)]
    assert names == ["message_start", "content_block_start", "content_block_delta"]


def test_each_delta_is_emitted_as_it_arrives() -> None:
    conv = _converter()
    conv.feed(_chunk("a"))
    out = conv.feed(_chunk("b"))
    assert [p["delta"] for _, p in events_of(out)] == [{"type": "text_delta", "text": "b"}]
    partial = conv.feed(_chunk("c")[:20])
    assert partial == b""  # half an event stays in the parser


def test_cut_stream_is_not_terminal_and_fail_ends_it_with_an_error() -> None:
    conv = _converter()
    out = conv.feed(_chunk("partial answer"))
    out += conv.close()
    assert not conv.terminal and not conv.errored
    out += conv.fail("upstream connection reset")
    assert conv.errored and not conv.terminal
    assert conv.fail("again") == b""  # only one error event
    events = events_of(out)
    check_grammar(events, finished=False)
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": "upstream connection reset"}},
    )


def test_fail_before_output_is_a_lone_error_event() -> None:
    conv = _converter("responses")
    events = events_of(conv.fail("overloaded", "overloaded_error"))
    assert [name for name, _ in events] == ["error"]
    check_grammar(events, finished=False)


def test_nothing_after_terminal() -> None:
    conv = _converter()
    conv.feed(_chunk("done") + b"data: [DONE]\n\n")
    assert conv.terminal
    assert conv.feed(_chunk("late")) == b""
    assert conv.fail("late error") == b""
    assert conv.close() == b""


def test_usage_seen_so_far_and_response_model() -> None:
    conv = _converter()
    conv.feed(_chunk("x"))
    assert conv.usage.input_tokens == 0 and conv.model == "gpt-4o"
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 60},
    }
    conv.feed(
        b'data: {"id":"c","model":"gpt-4o","choices":[],"usage":' + orjson.dumps(usage) + b"}\n\n"
    )
    assert (conv.usage.input_tokens, conv.usage.output_tokens, conv.usage.cache_read_tokens) == (
        40,
        7,
        60,
    )
    out = conv.feed(b"data: [DONE]\n\n")
    assert summarize(events_of(out))["usage"]["cache_read_input_tokens"] == 60


def test_answer_without_content_still_has_a_valid_shape() -> None:
    conv = _converter()
    out = conv.feed(
        b'data: {"id":"c","model":"gpt-4o",'
        b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    )
    out += conv.feed(b"data: [DONE]\n\n")
    events = events_of(out)
    check_grammar(events)
    assert summarize(events)["stop_reason"] == "end_turn"


def test_malformed_lines_are_skipped() -> None:
    conv = _converter()
    out = conv.feed(b"data: {not json\n\n" + b"data: 42\n\n" + _chunk("ok") + b"data: [DONE]\n\n")
    events = events_of(out)
    check_grammar(events)
    assert summarize(events)["blocks"] == [{"type": "text", "text": "ok"}]


def test_keepalive_is_a_comment_that_clients_skip() -> None:
    conv = _converter()
    before = conv.keepalive()
    out = before + conv.feed(_chunk("a")) + conv.keepalive() + conv.feed(b"data: [DONE]\n\n")
    assert before == b": keep-alive\n\n"
    events = events_of(out)
    check_grammar(events)
    assert summarize(events)["blocks"] == [{"type": "text", "text": "a"}]
    assert conv.keepalive() == b""  # nothing after the end


def test_deepseek_cache_hit_tokens_count_as_cache_reads() -> None:
    conv = _converter()
    usage = {
        "prompt_tokens": 500,
        "completion_tokens": 5,
        "prompt_cache_hit_tokens": 448,
        "prompt_cache_miss_tokens": 52,
    }
    conv.feed(
        _chunk("x")
        + b'data: {"id":"c","model":"m","choices":[],"usage":'
        + orjson.dumps(usage)
        + b"}\n\n"
    )
    assert (conv.usage.input_tokens, conv.usage.cache_read_tokens) == (52, 448)
