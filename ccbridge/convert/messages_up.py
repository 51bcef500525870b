"""Anthropic Messages as an upstream: requests out, responses and streams in.

Used by the Chat and Responses pools for ``claude`` channels.
Reference: docs.anthropic.com/en/api/messages and .../messages-streaming.
"""

from __future__ import annotations

from typing import Any, Final, cast

import orjson

from ccbridge.convert.gemini import SIGNATURE_PREFIX as GEMINI_PREFIX
from ccbridge.convert.ir import (
    ConversionError,
    Document,
    Image,
    Message,
    Request,
    Response,
    StopReason,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    Usage,
    effort_to_budget,
    obj,
)
from ccbridge.convert.responses import SIGNATURE_PREFIX as RESPONSES_PREFIX
from ccbridge.convert.sink import StreamSink

__all__ = (
    "DEFAULT_MAX_TOKENS",
    "MessagesStreamDecoder",
    "decode_messages_response",
    "encode_messages_request",
    "messages_usage",
)

DEFAULT_MAX_TOKENS: Final = 8192  # the Messages API requires max_tokens
_MIN_BUDGET: Final = 1024
_STOPS: Final = frozenset(
    {"end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal", "pause_turn"}
)
_FOREIGN: Final = (GEMINI_PREFIX, RESPONSES_PREFIX)


def messages_usage(raw: Any) -> Usage:
    """Return neutral usage of a Messages ``usage`` object (already exclusive)."""
    raw = obj(raw)
    return Usage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")),
        cache_read_tokens=_int(raw.get("cache_read_input_tokens")),
        cache_creation_tokens=_int(raw.get("cache_creation_input_tokens")),
    )


def _stop(raw: Any) -> StopReason | None:
    return cast(StopReason, raw) if raw in _STOPS else None


def encode_messages_request(req: Request, *, model: str) -> dict[str, Any]:
    """Return a Messages API body."""
    max_tokens = req.max_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens,
        "messages": _messages(req.messages),
    }
    if req.system:
        body["system"] = [{"type": "text", "text": text} for text in req.system]
    thinking = _thinking(req, max_tokens) if _can_think(body["messages"]) else None
    if thinking:
        body["thinking"] = thinking
    elif req.temperature is not None:
        body["temperature"] = req.temperature  # with thinking on, only the default is allowed
    if req.top_p is not None and not thinking:
        body["top_p"] = req.top_p
    if req.top_k is not None and not thinking:
        body["top_k"] = req.top_k
    if req.stop:
        body["stop_sequences"] = req.stop
    _tools(req, body)
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if req.stream:
        body["stream"] = True
    return body


def _thinking(req: Request, max_tokens: int) -> dict[str, Any] | None:
    reasoning = req.reasoning
    if reasoning is None or (not reasoning.budget and reasoning.effort in ("none", "")):
        return None
    budget = reasoning.budget or effort_to_budget(reasoning.effort)
    budget = min(max(budget, _MIN_BUDGET), max_tokens - 1)
    return {"type": "enabled", "budget_tokens": budget} if budget >= _MIN_BUDGET else None


def _can_think(messages: list[dict[str, Any]]) -> bool:
    """Return False when thinking on would be a 400.

    With thinking on, the API wants the last assistant turn that called tools
    to open with its signed thinking; a client that cannot keep signatures
    (Chat, or history from another upstream) continues without thinking.
    """
    for message in reversed(messages):
        if message["role"] != "assistant":
            continue
        blocks = message["content"]
        if not any(b["type"] == "tool_use" for b in blocks):
            return True
        return blocks[0]["type"] in ("thinking", "redacted_thinking")
    return True


def _tools(req: Request, body: dict[str, Any]) -> None:
    tools: list[dict[str, Any]] = []
    for tool in req.tools:
        if tool.kind == "web_search":
            tools.append({"type": "web_search_20250305", "name": tool.name or "web_search"})
        else:
            schema = tool.schema or {"type": "object", "properties": {}}
            tools.append(
                {"name": tool.name, "description": tool.description, "input_schema": schema}
            )
    if not tools:
        return
    body["tools"] = tools
    choice = req.tool_choice
    if choice is None:
        return
    kind = {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}[choice.mode]
    out: dict[str, Any] = {"type": kind}
    if choice.mode == "tool":
        out["name"] = choice.name
    if not choice.parallel and kind != "none":
        out["disable_parallel_tool_use"] = True
    body["tool_choice"] = out


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    # Consecutive turns of one role merge, so tool results land in the one
    # user message right after the assistant's calls, as the API requires.
    out: list[dict[str, Any]] = []
    for message in messages:
        blocks = [b for b in (_block(p) for p in message.parts) if b is not None]
        if not blocks:
            continue
        if out and out[-1]["role"] == message.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    for turn in out:
        # Tool results must open the user message that answers the calls.
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    return out


def _block(part: object) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, Image):
        return {"type": "image", "source": _source(part)}
    if isinstance(part, Document):
        if part.text:
            return {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": part.text},
            }
        return {"type": "document", "source": _source(part)}
    if isinstance(part, Thinking):
        # Only Anthropic-signed thinking can go back; others would be rejected.
        if not part.signature or part.signature.startswith(_FOREIGN):
            return None
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.signature}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    if isinstance(part, ToolCall):
        try:
            args = orjson.loads(part.arguments or "{}")
        except orjson.JSONDecodeError:
            args = {}
        return {
            "type": "tool_use",
            "id": part.id,
            "name": part.name,
            "input": args if isinstance(args, dict) else {},
        }
    if isinstance(part, ToolResult):
        content: list[dict[str, Any]] = [
            {"type": "text", "text": p.text}
            if isinstance(p, Text)
            else {"type": "image", "source": _source(p)}
            for p in part.content
        ]
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": part.call_id,
            "content": content,
        }
        if part.is_error:
            block["is_error"] = True
        return block
    return None


def _source(part: Image | Document) -> dict[str, Any]:
    if part.url:
        return {"type": "url", "url": part.url}
    return {"type": "base64", "media_type": part.media_type, "data": part.data}


def decode_messages_response(body: Any) -> Response:
    """Return the neutral form of a Messages API response.

    Raises:
        ConversionError: the body is not a message.
    """
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise ConversionError("messages response without content")
    parts: list[Text | Thinking | ToolCall] = []
    for block in body["content"]:
        block = obj(block)
        kind = block.get("type")
        if kind == "text":
            parts.append(Text(str(block.get("text") or "")))
        elif kind == "thinking":
            parts.append(
                Thinking(str(block.get("thinking") or ""), str(block.get("signature") or ""))
            )
        elif kind == "redacted_thinking":
            parts.append(Thinking(signature=str(block.get("data") or ""), redacted=True))
        elif kind == "tool_use":
            args = orjson.dumps(block.get("input") or {}).decode()
            parts.append(ToolCall(str(block.get("id") or ""), str(block.get("name") or ""), args))
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=_stop(body.get("stop_reason")),
        usage=messages_usage(body.get("usage")),
        stop_sequence=body.get("stop_sequence")
        if isinstance(body.get("stop_sequence"), str)
        else None,
    )


class MessagesStreamDecoder:
    """Messages streaming events -> :class:`StreamSink` calls."""

    __slots__ = ("_tools",)

    def __init__(self) -> None:
        self._tools: set[int] = set()

    def event(self, name: str, data: bytes, sink: StreamSink) -> None:
        """Handle one SSE event."""
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type") or name
        if kind == "content_block_delta":
            self._delta(event, sink)
        elif kind == "content_block_start":
            self._start(event, sink)
        elif kind == "message_start":
            message = obj(event.get("message"))
            sink.usage(messages_usage(message.get("usage")))
            sink.meta(str(message.get("id") or ""), str(message.get("model") or ""))
        elif kind == "message_delta":
            sink.usage(messages_usage(event.get("usage")))
            sink.stop(_stop(obj(event.get("delta")).get("stop_reason")))
        elif kind == "message_stop":
            sink.finish()
        elif kind == "error":
            error = obj(event.get("error"))
            sink.error(
                str(error.get("type") or "api_error"), str(error.get("message") or "upstream error")
            )

    def _start(self, event: dict[str, Any], sink: StreamSink) -> None:
        block = obj(event.get("content_block"))
        index = _int(event.get("index"))
        kind = block.get("type")
        if kind == "tool_use":
            self._tools.add(index)
            sink.tool_start(str(index), str(block.get("id") or ""), str(block.get("name") or ""))
            if block.get("input"):
                sink.tool_args(str(index), orjson.dumps(block["input"]).decode())
        elif kind == "text" and block.get("text"):
            sink.text(str(block["text"]))
        elif kind == "redacted_thinking" and block.get("data"):
            sink.signature(str(block["data"]))

    def _delta(self, event: dict[str, Any], sink: StreamSink) -> None:
        delta = obj(event.get("delta"))
        kind = delta.get("type")
        if kind == "text_delta":
            sink.text(str(delta.get("text") or ""))
        elif kind == "input_json_delta":
            index = _int(event.get("index"))
            if index in self._tools:
                sink.tool_args(str(index), str(delta.get("partial_json") or ""))
        elif kind == "thinking_delta":
            sink.thinking(str(delta.get("thinking") or ""))
        elif kind == "signature_delta":
            sink.signature(str(delta.get("signature") or ""))

    def end(self, sink: StreamSink) -> None:
        """Handle upstream EOF: without ``message_stop`` the answer is cut."""


def _int(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
