"""Neutral responses and streams rendered as Anthropic Messages API output."""

from __future__ import annotations

from typing import Any, Final

import orjson

from ccbridge.convert.ir import Response, StopReason, Text, Thinking, ToolCall, Usage

__all__ = ("MessagesStreamWriter", "encode_messages_response", "final_stop_reason", "usage_json")

# PERF(convert): deltas are most of a stream; they are filled into fixed byte
# templates instead of building and serialising a dict per delta.
_TEXT_DELTA: Final = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":%s}}\n\n'
)
_THINKING_DELTA: Final = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"thinking_delta","thinking":%s}}\n\n'
)
_JSON_DELTA: Final = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"input_json_delta","partial_json":%s}}\n\n'
)
_BLOCK_STOP: Final = (
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
)
_MESSAGE_STOP: Final = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def usage_json(usage: Usage) -> dict[str, int]:
    """Return a Messages ``usage`` object."""
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def final_stop_reason(reason: StopReason | None, called_tools: bool) -> StopReason:
    """Return the stop reason a Messages client should act on.

    Gemini says ``STOP`` after function calls, and some Chat upstreams say
    ``stop``: any call sent means the client must run tools, and a claimed
    tool stop without a call would leave the client waiting for one.
    """
    if called_tools and reason in (None, "end_turn", "stop_sequence"):
        return "tool_use"
    if reason == "tool_use" and not called_tools:
        return "end_turn"
    return reason or "end_turn"


def encode_messages_response(response: Response, model: str) -> dict[str, Any]:
    """Return a Messages API response object for a neutral response."""
    content: list[dict[str, Any]] = []
    for part in response.parts:
        if isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, Thinking):
            content.append({"type": "thinking", "thinking": part.text, "signature": part.signature})
        elif isinstance(part, ToolCall):
            content.append(
                {"type": "tool_use", "id": part.id, "name": part.name, "input": _input(part)}
            )
    called = any(isinstance(p, ToolCall) for p in response.parts)
    return {
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model or model,
        "content": content,
        "stop_reason": final_stop_reason(response.stop_reason, called),
        "stop_sequence": response.stop_sequence,
        "usage": usage_json(response.usage),
    }


def _input(call: ToolCall) -> Any:
    try:
        value = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


class MessagesStreamWriter:
    """A :class:`~ccbridge.convert.sink.StreamSink` writing Messages SSE bytes.

    Blocks never interleave: opening one closes the open one, so the output
    obeys the Messages grammar whatever order the upstream used. Tool calls
    open with ``input: {}`` and send every argument fragment as
    ``input_json_delta``, the only place Claude Code reads arguments from.
    """

    __slots__ = (
        "_block",
        "_called",
        "_id",
        "_index",
        "_out",
        "_reason",
        "_tool_key",
        "_tools",
        "done",
        "errored",
        "model",
        "started",
        "totals",
    )

    def __init__(self, *, message_id: str, model: str) -> None:
        self._id = message_id
        self.model = model
        self._out: list[bytes] = []
        self._block = ""  # "", "text", "thinking" or "tool"
        self._index = -1
        self._tool_key = ""
        self._tools: set[str] = set()
        self._called = False
        self._reason: StopReason | None = None
        self.totals = Usage()
        self.started = False  # message_start written
        self.done = False
        self.errored = False

    def take(self) -> bytes:
        """Return the bytes written since the last call."""
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    @property
    def has_content(self) -> bool:
        """Whether a content block has been opened."""
        return self._index >= 0

    def meta(self, response_id: str, model: str) -> None:
        if model and not self.started:
            self.model = model

    def text(self, text: str) -> None:
        if not text or self.done:
            return
        if self._block != "text":
            self._open("text", {"type": "text", "text": ""})
        self._out.append(_TEXT_DELTA % (self._index, orjson.dumps(text)))

    def thinking(self, text: str) -> None:
        if not text or self.done:
            return
        if self._block != "thinking":
            self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        self._out.append(_THINKING_DELTA % (self._index, orjson.dumps(text)))

    def signature(self, signature: str) -> None:
        if not signature or self.done:
            return
        if self._block != "thinking":
            self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        delta = {"type": "signature_delta", "signature": signature}
        self._event(
            "content_block_delta",
            {"type": "content_block_delta", "index": self._index, "delta": delta},
        )

    def tool_start(self, key: str, call_id: str, name: str) -> None:
        if self.done:
            return
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        self._open("tool", block)
        self._tool_key = key
        self._tools.add(key)
        self._called = True

    def tool_args(self, key: str, fragment: str) -> None:
        if not fragment or self.done:
            return
        if self._block != "tool" or self._tool_key != key:
            if key in self._tools:
                # NOTE(convert): blocks cannot reopen; an upstream that interleaves
                # parallel calls loses the late fragment (none seen in practice).
                return
            self.tool_start(key, key, "")
        self._out.append(_JSON_DELTA % (self._index, orjson.dumps(fragment)))

    def usage(self, usage: Usage) -> None:
        self.totals.merge(usage)

    def stop(self, reason: StopReason | None) -> None:
        if reason is not None:
            self._reason = reason

    @property
    def stop_reason(self) -> StopReason:
        """Return the stop reason the final ``message_delta`` carries."""
        return final_stop_reason(self._reason, self._called)

    def finish(self) -> None:
        if self.done:
            return
        self._start()
        self._close()
        delta = {"stop_reason": self.stop_reason, "stop_sequence": None}
        self._event(
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": usage_json(self.totals)},
        )
        self._out.append(_MESSAGE_STOP)
        self.done = True

    def error(self, kind: str, message: str) -> None:
        if self.done:
            return
        self._event("error", {"type": "error", "error": {"type": kind, "message": message}})
        self.done = self.errored = True

    def _start(self) -> None:
        if self.started:
            return
        self.started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_json(self.totals),
        }
        self._event("message_start", {"type": "message_start", "message": message})

    def _open(self, kind: str, block: dict[str, Any]) -> None:
        self._start()
        self._close()
        self._index += 1
        self._block = kind
        self._event(
            "content_block_start",
            {"type": "content_block_start", "index": self._index, "content_block": block},
        )

    def _close(self) -> None:
        if self._block:
            self._out.append(_BLOCK_STOP % self._index)
            self._block = ""

    def _event(self, name: str, payload: dict[str, Any]) -> None:
        self._out.append(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n")
