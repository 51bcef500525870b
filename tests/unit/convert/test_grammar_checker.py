"""The stream grammar checker itself rejects malformed streams."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.convert.streamcheck import check_grammar

START = (
    "message_start",
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 1,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
    },
)
USAGE = {
    "input_tokens": 1,
    "output_tokens": 2,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}
DELTA = (
    "message_delta",
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": USAGE,
    },
)
STOP = ("message_stop", {"type": "message_stop"})


def _start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def _delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def _stop(index: int) -> tuple[str, dict[str, Any]]:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


TEXT = {"type": "text", "text": ""}
TOOL = {"type": "tool_use", "id": "t", "name": "n", "input": {}}
TEXT_DELTA = {"type": "text_delta", "text": "hi"}


def test_valid_stream_passes() -> None:
    check_grammar(
        [
            START,
            _start(0, TEXT),
            _delta(0, TEXT_DELTA),
            _stop(0),
            _start(1, TOOL),
            _delta(1, {"type": "input_json_delta", "partial_json": '{"a":'}),
            _delta(1, {"type": "input_json_delta", "partial_json": "1}"}),
            _stop(1),
            DELTA,
            STOP,
        ]
    )


BAD = {
    "no message_start": [_start(0, TEXT), _stop(0), DELTA, STOP],
    "index skips": [START, _start(1, TEXT), _stop(1), DELTA, STOP],
    "blocks overlap": [START, _start(0, TEXT), _start(1, TOOL), _stop(1), _stop(0), DELTA, STOP],
    "wrong delta type": [
        START,
        _start(0, TEXT),
        _delta(0, {"type": "input_json_delta", "partial_json": "{}"}),
        _stop(0),
        DELTA,
        STOP,
    ],
    "delta for closed block": [
        START,
        _start(0, TEXT),
        _stop(0),
        _delta(0, TEXT_DELTA),
        DELTA,
        STOP,
    ],
    "tool input not empty at start": [
        START,
        _start(0, {**TOOL, "input": {"a": 1}}),
        _stop(0),
        DELTA,
        STOP,
    ],
    "tool json not an object": [
        START,
        _start(0, TOOL),
        _delta(0, {"type": "input_json_delta", "partial_json": "[1]"}),
        _stop(0),
        DELTA,
        STOP,
    ],
    "unclosed block": [START, _start(0, TEXT), DELTA, STOP],
    "no message_stop": [START, DELTA],
    "bad stop reason": [
        START,
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "stop"}, "usage": USAGE},
        ),
        STOP,
    ],
    "event after stop": [START, DELTA, STOP, _start(0, TEXT)],
    "event after error": [
        START,
        ("error", {"type": "error", "error": {"type": "api_error", "message": "x"}}),
        STOP,
    ],
    "name differs from type": [START, ("message_stop", {"type": "message_delta"})],
}


@pytest.mark.parametrize("events", BAD.values(), ids=BAD.keys())
def test_malformed_stream_fails(events: list[tuple[str, dict[str, Any]]]) -> None:
    with pytest.raises(AssertionError):
        check_grammar(events)
