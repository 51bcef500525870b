"""The Anthropic stream grammar, and helpers that feed streams in pieces."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from ccbridge.convert.sse import SseParser
from ccbridge.convert.stream import StreamConverter

__all__ = ("check_grammar", "cut_points", "events_of", "run_in_pieces", "summarize")

_DELTAS = {
    "text": {"text_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
}
_STOPS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def events_of(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Return the ``(event, payload)`` pairs of a client SSE byte string."""
    parser = SseParser()
    pairs = parser.feed(raw) + parser.close()
    return [(name, orjson.loads(data)) for name, data in pairs]


def check_grammar(events: list[tuple[str, dict[str, Any]]], *, finished: bool = True) -> None:
    """Fail unless ``events`` is a valid Messages stream.

    message_start, then blocks opened at indexes 0, 1, 2... each closed before
    the next opens and carrying only its own delta type, then one
    message_delta and message_stop; an ``error`` event may end it anywhere.
    """
    assert events, "empty stream"
    state = "start"
    index = -1
    block = ""
    fragments: list[str] = []
    for n, (name, payload) in enumerate(events):
        where = f"event {n} ({name}) after state {state}"
        assert payload.get("type") == name, f"{where}: event name and data type differ"
        if name == "ping":
            continue
        if name == "error":
            assert set(payload["error"]) >= {"type", "message"}, where
            assert n == len(events) - 1, f"{where}: events after error"
            return
        if state == "start":
            assert name == "message_start", f"{where}: stream must open with message_start"
            message = payload["message"]
            assert message["role"] == "assistant" and message["content"] == [], where
            assert message["id"].startswith("msg_") and isinstance(message["model"], str), where
            assert all(isinstance(message["usage"][k], int) for k in _USAGE_KEYS), where
            state = "blocks"
        elif state == "blocks" and name == "content_block_start":
            assert payload["index"] == index + 1, (
                f"{where}: index {payload['index']} not {index + 1}"
            )
            index += 1
            block = payload["content_block"]["type"]
            assert block in _DELTAS, f"{where}: unknown block {block}"
            if block == "tool_use":
                start = payload["content_block"]
                assert start["input"] == {} and start["id"] and start["name"], f"{where}: {start}"
            fragments = []
            state = "in_block"
        elif state == "in_block" and name == "content_block_delta":
            assert payload["index"] == index, f"{where}: delta for block {payload['index']}"
            delta = payload["delta"]
            assert delta["type"] in _DELTAS[block], f"{where}: {delta['type']} in a {block} block"
            if delta["type"] == "input_json_delta":
                fragments.append(delta["partial_json"])
        elif state == "in_block" and name == "content_block_stop":
            assert payload["index"] == index, where
            if block == "tool_use" and fragments:
                assert isinstance(orjson.loads("".join(fragments)), dict), (
                    f"{where}: input not an object"
                )
            state = "blocks"
        elif state == "blocks" and name == "message_delta":
            assert payload["delta"]["stop_reason"] in _STOPS, where
            assert all(isinstance(payload["usage"][k], int) for k in _USAGE_KEYS), where
            state = "delta"
        elif state == "delta" and name == "message_stop":
            state = "stopped"
            assert n == len(events) - 1, f"{where}: events after message_stop"
        else:
            raise AssertionError(f"{where}: not allowed here")
    if finished:
        assert state == "stopped", f"stream ended in state {state}"


def summarize(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Return blocks (with text joined and tool input parsed), stop reason and usage."""
    blocks: list[dict[str, Any]] = []
    out: dict[str, Any] = {"blocks": blocks}
    for name, payload in events:
        if name == "message_start":
            out["model"] = payload["message"]["model"]
        elif name == "content_block_start":
            start = dict(payload["content_block"])
            blocks.append(start)
            if start["type"] == "tool_use":
                start["partial"] = ""
        elif name == "content_block_delta":
            _apply(blocks[-1], payload["delta"])
        elif name == "message_delta":
            out["stop_reason"] = payload["delta"]["stop_reason"]
            out["usage"] = payload["usage"]
        elif name == "error":
            out["error"] = payload["error"]
    for block in blocks:
        if block["type"] == "tool_use":
            block["input"] = orjson.loads(block.pop("partial") or "{}")
    return out


def _apply(block: dict[str, Any], delta: dict[str, Any]) -> None:
    kind = delta["type"]
    if kind == "text_delta":
        block["text"] += delta["text"]
    elif kind == "thinking_delta":
        block["thinking"] += delta["thinking"]
    elif kind == "signature_delta":
        block["signature"] += delta["signature"]
    elif kind == "input_json_delta":
        block["partial"] += delta["partial_json"]


def run_in_pieces(make: Callable[[], StreamConverter], data: bytes, cuts: list[int]) -> bytes:
    """Return the client bytes when ``data`` arrives split at ``cuts``."""
    conv = make()
    out = []
    last = 0
    for cut in [*cuts, len(data)]:
        out.append(conv.feed(data[last:cut]))
        last = cut
    out.append(conv.close())
    return b"".join(out)


def cut_points(data: bytes, *, random_runs: int = 40, seed: int = 18) -> Iterator[list[int]]:
    """Yield every single cut, then random multi-cut splits (fixed seed)."""
    for cut in range(1, len(data)):
        yield [cut]
    rng = random.Random(seed)
    for _ in range(random_runs):
        k = rng.randint(2, max(2, len(data) // 20))
        yield sorted(rng.sample(range(1, len(data)), min(k, len(data) - 1)))
    yield list(range(1, len(data)))  # one byte at a time
