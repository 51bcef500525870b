"""Neutral responses and streams rendered as Chat Completions output.

The Chat pool's client side (issue 19). Reference: the chat completion
object and the chunk object of platform.openai.com/docs/api-reference/chat.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ccbridge.convert.errors import error_message
from ccbridge.convert.ir import Response, StopReason, Text, Thinking, ToolCall, Usage
from ccbridge.convert.messages_out import final_stop_reason

__all__ = (
    "ChatStreamWriter",
    "chat_error",
    "chat_finish_reason",
    "chat_usage_json",
    "encode_chat_response",
)

_FINISH: Final[dict[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}
_DONE: Final = b"data: [DONE]\n\n"


def chat_finish_reason(reason: StopReason) -> str:
    """Return the ``finish_reason`` for a neutral stop reason."""
    return _FINISH.get(reason, "stop")


def chat_usage_json(usage: Usage) -> dict[str, Any]:
    """Return a Chat ``usage`` object (prompt tokens include cached ones)."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_creation_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def encode_chat_response(response: Response, *, model: str, created: int) -> dict[str, Any]:
    """Return a chat completion object for a neutral response."""
    text = "".join(p.text for p in response.parts if isinstance(p, Text))
    thought = "".join(p.text for p in response.parts if isinstance(p, Thinking))
    calls = [
        {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}}
        for p in response.parts
        if isinstance(p, ToolCall)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if thought:
        message["reasoning_content"] = thought
    if calls:
        message["tool_calls"] = calls
    reason = final_stop_reason(response.stop_reason, bool(calls))
    return {
        "id": _chat_id(response.id),
        "object": "chat.completion",
        "created": created,
        "model": response.model or model,
        "choices": [{"index": 0, "message": message, "finish_reason": chat_finish_reason(reason)}],
        "usage": chat_usage_json(response.usage),
    }


def _chat_id(upstream_id: str) -> str:
    return "chatcmpl-" + upstream_id.removeprefix("msg_").removeprefix("chatcmpl-")


def chat_error(status: int, raw: bytes) -> tuple[int, bytes]:
    """Return ``(status, OpenAI-shaped error body)`` for an upstream error."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": error_message(raw), "type": kind, "param": None, "code": None}}
    return status, orjson.dumps(body)


class ChatStreamWriter:
    """A :class:`~ccbridge.convert.sink.StreamSink` writing chat completion chunks.

    Tool calls are numbered 0, 1, 2... in the order they open, whatever keys
    the upstream used; the usage chunk follows the finish chunk when the
    client asked for ``stream_options.include_usage``.
    """

    __slots__ = (
        "_called",
        "_created",
        "_head",
        "_id",
        "_include_usage",
        "_out",
        "_reason",
        "_tools",
        "done",
        "errored",
        "has_content",
        "model",
        "started",
        "totals",
    )

    def __init__(self, *, response_id: str, model: str, created: int, include_usage: bool) -> None:
        self._id = _chat_id(response_id)
        self.model = model
        self._created = created
        self._include_usage = include_usage
        self._out: list[bytes] = []
        self._head = b""
        self._tools: dict[str, int] = {}
        self._called = False
        self._reason: StopReason | None = None
        self.totals = Usage()
        self.started = self.has_content = self.done = self.errored = False

    def take(self) -> bytes:
        """Return the bytes written since the last call."""
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    @property
    def stop_reason(self) -> StopReason:
        return final_stop_reason(self._reason, self._called)

    def meta(self, response_id: str, model: str) -> None:
        if model and not self.started:
            self.model = model

    def _start(self) -> None:
        if self.started:
            return
        self.started = True
        head = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
        }
        # PERF(convert): every chunk shares this prefix; encode it once.
        self._head = b"data: " + orjson.dumps(head)[:-1] + b',"choices":[{"index":0,"delta":'
        self._out.append(
            self._head + b'{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
        )

    def _delta(self, delta: dict[str, Any]) -> None:
        self._start()
        self.has_content = True
        self._out.append(self._head + orjson.dumps(delta) + b',"finish_reason":null}]}\n\n')

    def text(self, text: str) -> None:
        if text and not self.done:
            self._delta({"content": text})

    def thinking(self, text: str) -> None:
        if text and not self.done:
            self._delta({"reasoning_content": text})

    def signature(self, signature: str) -> None:
        """Drop it: Chat has no field for a reasoning signature."""

    def tool_start(self, key: str, call_id: str, name: str) -> None:
        if self.done:
            return
        index = self._tools.setdefault(key, len(self._tools))
        self._called = True
        call = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        self._delta({"tool_calls": [call]})

    def tool_args(self, key: str, fragment: str) -> None:
        if not fragment or self.done:
            return
        if key not in self._tools:
            self.tool_start(key, key, "")
        self._delta(
            {"tool_calls": [{"index": self._tools[key], "function": {"arguments": fragment}}]}
        )

    def usage(self, usage: Usage) -> None:
        self.totals.merge(usage)

    def stop(self, reason: StopReason | None) -> None:
        if reason is not None:
            self._reason = reason

    def finish(self) -> None:
        if self.done:
            return
        self._start()
        finish = orjson.dumps(chat_finish_reason(self.stop_reason))
        self._out.append(self._head + b'{},"finish_reason":' + finish + b"}]}\n\n")
        if self._include_usage:
            chunk = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self.model,
                "choices": [],
                "usage": chat_usage_json(self.totals),
            }
            self._out.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
        self._out.append(_DONE)
        self.done = True

    def error(self, kind: str, message: str) -> None:
        if self.done:
            return
        # NOTE(convert): Chat has no error event; OpenAI-compatible servers send
        # an `error` object as a data line, which the openai SDK raises.
        self._out.append(
            b"data: " + orjson.dumps({"error": {"message": message, "type": kind}}) + b"\n\n"
        )
        self.done = self.errored = True
