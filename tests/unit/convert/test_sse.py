"""The incremental SSE parser."""

from __future__ import annotations

import pytest

from ccbridge.convert.sse import SseParser, encode_event
from tests.unit.convert.streamcheck import cut_points

CASES = [
    (b"data: a\n\n", [("", b"a")]),
    (b"data:a\r\n\r\n", [("", b"a")]),
    (b"data: a\r\rdata: b\r\r", [("", b"a"), ("", b"b")]),
    (b"event: ping\ndata: {}\n\n", [("ping", b"{}")]),
    (b": keep-alive\n\ndata: x\n: comment inside\ndata: y\n\n", [("", b"x\ny")]),
    (b"data:  two spaces\n\n", [("", b" two spaces")]),
    (b"event: a\n\nevent: b\ndata: 1\n\n", [("b", b"1")]),  # an event without data is dropped
    (b"id: 7\nretry: 10\ndata: z\n\n", [("", b"z")]),
    (b"data: \xe2\x98\x80\n\n", [("", "☀".encode())]),
]


@pytest.mark.parametrize(("raw", "events"), CASES)
def test_events_whole(raw: bytes, events: list[tuple[str, bytes]]) -> None:
    parser = SseParser()
    assert parser.feed(raw) + parser.close() == events


@pytest.mark.parametrize(("raw", "events"), CASES)
def test_events_split_anywhere(raw: bytes, events: list[tuple[str, bytes]]) -> None:
    for cuts in cut_points(raw, random_runs=10):
        parser = SseParser()
        out = []
        last = 0
        for cut in [*cuts, len(raw)]:
            out += parser.feed(raw[last:cut])
            last = cut
        assert out + parser.close() == events, cuts


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r") == []
    assert parser.feed(b"\n\r") == [("", b"a\nb")]
    assert parser.feed(b"\n") == []
    assert parser.close() == []


def test_close_flushes_an_event_without_blank_line() -> None:
    parser = SseParser()
    assert parser.feed(b"data: last") == []
    assert parser.close() == [("", b"last")]


def test_encode_event() -> None:
    assert encode_event("message_stop", b'{"type":"message_stop"}') == (
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
