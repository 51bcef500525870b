from __future__ import annotations

import json
from collections.abc import Callable
from itertools import count

import pytest

from ccbridge.proxy.usage import (
    SseUsageTap,
    StreamProtocol,
    Usage,
    UsageReport,
    openai_usage,
    protocol_for_service_type,
    usage_from_json,
)


def sse(event: str | None, data: object, *, crlf: bool = False) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    lines = ([f"event: {event}"] if event else []) + [f"data: {payload}"]
    nl = "\r\n" if crlf else "\n"
    return (nl.join(lines) + nl + nl).encode()


def claude_stream(*, crlf: bool = False, named: bool = True) -> bytes:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "model": "claude-sonnet-4-5-20250929",
                    "usage": {
                        "input_tokens": 12,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 300,
                        "cache_read_input_tokens": 4000,
                    },
                },
            },
        ),
        ("content_block_start", {"type": "content_block_start", "index": 0}),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hi"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"input_tokens": 0, "output_tokens": 42, "cache_read_input_tokens": 0},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(sse(name if named else None, data, crlf=crlf) for name, data in events)


EXPECTED_CLAUDE = Usage(
    input_tokens=12, output_tokens=42, cache_creation_tokens=300, cache_read_tokens=4000
)


def ticking_clock() -> tuple[count[int], Callable[[], float]]:
    ticks = count(1)
    return ticks, lambda: float(next(ticks))


def feed_split(tap: SseUsageTap, stream: bytes, cut: int) -> None:
    tap.feed(stream[:cut])
    tap.feed(stream[cut:])
    tap.finish()


@pytest.mark.parametrize("crlf", [False, True])
def test_claude_stream_split_at_every_offset(crlf: bool) -> None:
    stream = claude_stream(crlf=crlf)
    for cut in range(len(stream) + 1):
        tap = SseUsageTap(StreamProtocol.CLAUDE)
        feed_split(tap, stream, cut)
        report = tap.report()
        assert report.usage == EXPECTED_CLAUDE, cut
        assert report.model == "claude-sonnet-4-5-20250929"
        assert report.completed and report.output_started and not report.has_error


def test_claude_stream_byte_by_byte_and_three_way_splits() -> None:
    stream = claude_stream()
    tap = SseUsageTap(StreamProtocol.CLAUDE)
    for i in range(len(stream)):
        tap.feed(stream[i : i + 1])
    assert tap.report().usage == EXPECTED_CLAUDE
    step = 37
    for a in range(0, len(stream), step):
        for b in range(a, len(stream), step):
            tap = SseUsageTap(StreamProtocol.CLAUDE)
            for part in (stream[:a], stream[a:b], stream[b:]):
                tap.feed(part)
            assert tap.report().usage == EXPECTED_CLAUDE


def test_claude_stream_without_event_lines_is_sniffed() -> None:
    tap = SseUsageTap(StreamProtocol.CLAUDE)
    tap.feed(claude_stream(named=False))
    assert tap.report().usage == EXPECTED_CLAUDE


def test_feed_does_not_modify_or_keep_complete_chunks() -> None:
    stream = claude_stream()
    chunk = bytearray(stream)
    tap = SseUsageTap(StreamProtocol.CLAUDE)
    tap.feed(chunk)
    assert chunk == stream
    assert tap._buf == bytearray()  # nothing buffered after a complete event


def test_first_token_time_is_first_content_delta() -> None:
    _, clock = ticking_clock()
    tap = SseUsageTap(StreamProtocol.CLAUDE, clock=clock)
    stream = claude_stream()
    delta_at = stream.index(b"event: content_block_delta")
    tap.feed(stream[:delta_at])
    # message_start, content_block_start and ping came first: payload time 1.
    assert tap.first_token_at == 1.0
    tap.feed(stream[delta_at:])
    assert tap.report().first_token_at == 2.0


def test_first_payload_time_is_fallback() -> None:
    _, clock = ticking_clock()
    tap = SseUsageTap(StreamProtocol.CLAUDE, clock=clock)
    tap.feed(sse("ping", {"type": "ping"}))
    assert tap.report().first_token_at == 1.0


def test_claude_error_before_output() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    tap = SseUsageTap(StreamProtocol.CLAUDE)
    tap.feed(claude_stream()[: claude_stream().index(b"event: content_block_start")])
    tap.feed(sse("error", error))
    report = tap.report()
    assert report.has_error and report.error_before_output
    assert (report.error_message, report.error_type) == ("Overloaded", "overloaded_error")
    assert report.usage.input_tokens == 12


def test_claude_error_after_output() -> None:
    stream = claude_stream()
    cut = stream.index(b"event: message_delta")
    tap = SseUsageTap(StreamProtocol.CLAUDE)
    tap.feed(stream[:cut])
    tap.feed(b'data: {"type":"error","error":{"type":"api_error","message":"boom"}}\n\n')
    report = tap.report()
    assert report.has_error and not report.error_before_output
    assert report.error_message == "boom"


def long_claude_stream(*, crlf: bool = False) -> bytes:
    """Many deltas and pings around a mid-stream usage update and an error."""
    stream = claude_stream(crlf=crlf)
    delta = sse("content_block_delta", {"type": "content_block_delta", "delta": {"text": "x"}})
    bare = b'event:content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
    middle = [delta, sse("ping", {"type": "ping"}), bare] * 20
    middle.insert(30, sse("message_delta", {"type": "message_delta", "usage": {"input_tokens": 9}}))
    middle.insert(45, sse("error", {"type": "error", "error": {"message": "late", "type": "e"}}))
    if crlf:
        middle = [m.replace(b"\n", b"\r\n") for m in middle]
    cut = stream.index(b"event: content_block_stop")
    return stream[:cut] + b"".join(middle) + stream[cut:]


def test_skipping_routine_events_changes_no_report() -> None:
    # Without CR the tap skips deltas and pings by their first line once output
    # began; the CRLF path reads every event. Both must report the same.
    lf, crlf = long_claude_stream(), long_claude_stream(crlf=True)
    for cut in range(0, len(lf), 97):
        reports = []
        for stream in (lf, crlf):
            tap = SseUsageTap(StreamProtocol.CLAUDE, clock=lambda: 1.0)
            feed_split(tap, stream, cut if stream is lf else len(stream) * cut // len(lf))
            reports.append(tap.report())
        assert reports[0] == reports[1], cut
        usage = reports[0].usage
        assert (usage.input_tokens, usage.output_tokens) == (9, 42)
        assert reports[0].error_message == "late" and not reports[0].error_before_output


@pytest.mark.parametrize("crlf", [False, True])
def test_feed_until_output_stops_where_output_begins(crlf: bool) -> None:
    stream = long_claude_stream(crlf=crlf)
    nl = b"\r\n" if crlf else b"\n"
    tap = SseUsageTap(StreamProtocol.CLAUDE, clock=lambda: 1.0)
    fed = tap.feed_until_output(stream)
    assert stream[:fed].endswith(nl * 2)
    assert stream[fed:].startswith(b"event: ping")  # content_block_start was the last read
    assert tap.output_started and not tap.has_error
    tap.feed(stream[fed:])
    whole = SseUsageTap(StreamProtocol.CLAUDE, clock=lambda: 1.0)
    whole.feed(stream)
    assert tap.report() == whole.report()


def test_feed_until_output_stops_at_an_early_error() -> None:
    start = claude_stream()[: claude_stream().index(b"event: content_block_start")]
    error = sse("error", {"type": "error", "error": {"message": "Overloaded"}})
    chunk = start + sse("ping", {"type": "ping"}) + error + claude_stream()[len(start) :]
    tap = SseUsageTap(StreamProtocol.CLAUDE)
    fed = tap.feed_until_output(chunk)
    assert chunk[:fed].endswith(error)
    assert tap.has_error and not tap.output_started


def test_feed_until_output_reads_a_partial_event_whole() -> None:
    tap = SseUsageTap(StreamProtocol.CLAUDE)
    stream = claude_stream()
    assert tap.feed_until_output(stream[:10]) == 10
    assert tap.feed_until_output(stream[10:]) == stream.index(b"event: ping") - 10
    assert tap.output_started


def test_feed_until_output_with_token_stops_after_the_first_delta() -> None:
    stream = claude_stream()
    tap = SseUsageTap(StreamProtocol.CLAUDE, clock=lambda: 1.0)
    fed = tap.feed_until_output(stream, token=True)
    assert stream[fed:].startswith(b"event: content_block_stop")  # the delta was the last read
    assert tap.token_seen and tap.output_started
    tap.feed(stream[fed:])
    whole = SseUsageTap(StreamProtocol.CLAUDE, clock=lambda: 1.0)
    whole.feed(stream)
    assert tap.report() == whole.report()


def test_feed_until_output_with_token_skips_a_blank_responses_delta() -> None:
    stream = responses_stream()
    tap = SseUsageTap(StreamProtocol.OPENAI)
    fed = tap.feed_until_output(stream, token=True)
    assert stream[:fed].endswith(b'"delta": "Hi"}\n\n')
    assert tap.token_seen


def test_message_delta_overwrites_only_positive_counts() -> None:
    tap = SseUsageTap(StreamProtocol.CLAUDE)
    tap.feed(
        sse("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 5}}})
    )
    tap.feed(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "usage": {"input_tokens": 900, "cache_creation_input_tokens": 7},
            },
        )
    )
    assert tap.report().usage == Usage(900, 0, 7, 0)
    tap.feed(sse("message_delta", {"type": "message_delta", "usage": {"output_tokens": 0}}))
    assert tap.report().usage == Usage(900, 0, 7, 0)
    tap.feed(sse("message_delta", {"type": "message_delta", "usage": {"output_tokens": 3}}))
    assert tap.report().usage.output_tokens == 3


def responses_stream(*, crlf: bool = False) -> bytes:
    events = [
        ("response.created", {"type": "response.created", "response": {"model": "gpt-5.1-codex"}}),
        ("response.output_item.added", {"type": "response.output_item.added", "item": {}}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "delta": " "}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Hi"}),
        (
            "response.completed",
            {
                "type": "response.completed",
                "response": {
                    "model": "gpt-5.1-codex-2025",
                    "usage": {
                        "input_tokens": 1000,
                        "input_tokens_details": {"cached_tokens": 600},
                        "output_tokens": 77,
                        "output_tokens_details": {"reasoning_tokens": 40},
                    },
                },
            },
        ),
    ]
    return b"".join(sse(name, data, crlf=crlf) for name, data in events)


@pytest.mark.parametrize("crlf", [False, True])
def test_responses_stream_split_at_every_offset(crlf: bool) -> None:
    stream = responses_stream(crlf=crlf)
    for cut in range(len(stream) + 1):
        tap = SseUsageTap(StreamProtocol.OPENAI)
        feed_split(tap, stream, cut)
        report = tap.report()
        assert report.usage == Usage(400, 77, 0, 600), cut
        assert report.model == "gpt-5.1-codex-2025"
        assert report.completed


def test_responses_first_token_skips_blank_delta() -> None:
    _, clock = ticking_clock()
    tap = SseUsageTap(StreamProtocol.OPENAI, clock=clock)
    stream = responses_stream()
    first_delta = stream.index(b"event: response.output_text.delta")
    second_delta = stream.index(b"event: response.output_text.delta", first_delta + 1)
    tap.feed(stream[:second_delta])
    assert tap.report().first_token_at == 1.0  # only the first payload so far
    tap.feed(stream[second_delta:])
    assert tap.report().first_token_at == 2.0


def test_responses_failed_and_error_events() -> None:
    tap = SseUsageTap(StreamProtocol.OPENAI)
    failed = {
        "type": "response.failed",
        "response": {"error": {"code": "server_error", "message": "oops"}, "usage": None},
    }
    tap.feed(sse("response.failed", failed))
    report = tap.report()
    assert (report.error_message, report.error_type) == ("oops", "server_error")
    assert report.error_before_output and not report.completed
    err = SseUsageTap(StreamProtocol.OPENAI)
    err.feed(sse("error", {"type": "error", "code": "rate_limit", "message": "slow"}))
    assert (err.report().error_message, err.report().error_type) == ("slow", "rate_limit")


def test_chat_completions_stream() -> None:
    _, clock = ticking_clock()
    chunks = [
        {
            "model": "gpt-4o",
            "choices": [{"delta": {"role": "assistant", "content": ""}}],
            "usage": None,
        },
        {"model": "gpt-4o", "choices": [{"delta": {"content": "Hel"}}], "usage": None},
        {"model": "gpt-4o", "choices": [{"delta": {"content": "lo"}}]},
        {
            "model": "gpt-4o-2024",
            "choices": [],
            "usage": {
                "prompt_tokens": 50,
                "completion_tokens": 9,
                "prompt_tokens_details": {"cached_tokens": 20},
            },
        },
    ]
    stream = b"".join(sse(None, c) for c in chunks) + b"data: [DONE]\n\n"
    for cut in range(0, len(stream) + 1, 7):
        tap = SseUsageTap(StreamProtocol.OPENAI, clock=clock)
        feed_split(tap, stream, cut)
        report = tap.report()
        assert report.usage == Usage(30, 9, 0, 20)
        assert report.model == "gpt-4o-2024" and report.completed and report.output_started


def test_finish_handles_missing_trailing_blank_line() -> None:
    tap = SseUsageTap(StreamProtocol.CLAUDE)
    stream = claude_stream().rstrip(b"\n")
    tap.feed(stream)
    assert not tap.report().completed
    tap.finish()
    assert tap.report().completed


def test_multi_line_data_and_comments() -> None:
    tap = SseUsageTap(StreamProtocol.CLAUDE)
    tap.feed(b": keep-alive\n\n")
    tap.feed(
        b'event: message_start\ndata: {"type":"message_start",\n'
        b'data: "message":{"usage":{"input_tokens":3}}}\n\n'
    )
    assert tap.report().usage.input_tokens == 3


def test_oversized_event_is_skipped_to_its_end() -> None:
    tap = SseUsageTap(StreamProtocol.CLAUDE, max_buffer=64)
    tap.feed(b"event: message_start\ndata: " + b"x" * 100)
    assert tap.overflowed
    # The rest of the dropped event must not be parsed as a new event.
    tap.feed(b'yyy\ndata: {"type":"message_stop"}\r')
    tap.feed(b"\n")
    assert not tap.report().completed
    tap.feed(
        b"\r\n" + sse("message_delta", {"type": "message_delta", "usage": {"output_tokens": 5}})
    )
    assert tap.report().usage.output_tokens == 5
    tap.feed(sse("message_stop", {"type": "message_stop"}))
    tap.finish()
    assert tap.report().completed


def test_non_streaming_bodies() -> None:
    claude = {
        "model": "claude-haiku-4-5",
        "usage": {"input_tokens": 8, "output_tokens": 2, "cache_read_input_tokens": 5},
    }
    report = usage_from_json(json.dumps(claude).encode(), StreamProtocol.CLAUDE)
    assert report == UsageReport(Usage(8, 2, 0, 5), "claude-haiku-4-5", completed=True)
    responses = {
        "model": "gpt-5.1",
        "error": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 4,
            "input_tokens_details": {"cached_tokens": 3},
        },
    }
    report = usage_from_json(json.dumps(responses).encode(), StreamProtocol.OPENAI)
    assert (report.usage, report.model, report.has_error) == (Usage(7, 4, 0, 3), "gpt-5.1", False)
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    report = usage_from_json(json.dumps(error).encode(), StreamProtocol.CLAUDE)
    assert (report.error_message, report.error_type, report.completed) == (
        "bad",
        "invalid_request_error",
        False,
    )
    assert usage_from_json(b"<html>", StreamProtocol.CLAUDE) == UsageReport()


def test_openai_usage_shapes_and_protocols() -> None:
    assert openai_usage({"usage": None}) is None
    assert openai_usage({"response": {"usage": {"input_tokens": 5, "output_tokens": 1}}}) == Usage(
        5, 1, 0, 0
    )
    assert openai_usage(
        {"usage": {"input_tokens": 1, "input_tokens_details": {"cached_tokens": 4}}}
    ) == (Usage(0, 0, 0, 4))
    assert protocol_for_service_type("claude") is StreamProtocol.CLAUDE
    assert protocol_for_service_type("openai-oauth") is StreamProtocol.OPENAI
    assert protocol_for_service_type("openai") is None
    assert protocol_for_service_type("gemini") is None
    assert Usage(3, 4, 5, 6).total_tokens == 7
