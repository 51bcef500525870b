"""Neutral responses and streams rendered as Responses API output.

The Responses pool's client side (issue 19). Reference: the response object
and platform.openai.com/docs/api-reference/responses-streaming. Every item is
announced with ``output_item.added`` and closed with ``output_item.done``,
and the stream ends with a full ``response.completed`` snapshot, because
Codex reads its final items from there.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ccbridge.convert.ir import Response, StopReason, Text, Thinking, ToolCall, Usage
from ccbridge.convert.messages_out import final_stop_reason
from ccbridge.convert.responses import SIGNATURE_PREFIX
from ccbridge.convert.responses_in import WRAPPED_PREFIX

__all__ = (
    "ResponsesStreamWriter",
    "encode_responses_response",
    "responses_usage_json",
    "wrap_signature",
)

_INCOMPLETE: Final = {"max_tokens": "max_output_tokens", "refusal": "content_filter"}


def wrap_signature(signature: str) -> str:
    """Return the ``encrypted_content`` that carries a neutral signature."""
    if signature.startswith(SIGNATURE_PREFIX):
        return signature[len(SIGNATURE_PREFIX) :]
    return WRAPPED_PREFIX + signature if signature else ""


def responses_usage_json(usage: Usage) -> dict[str, Any]:
    """Return a Responses ``usage`` object (input tokens include cached ones)."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_creation_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": prompt + usage.output_tokens,
    }


def _status(reason: StopReason) -> tuple[str, dict[str, str] | None]:
    incomplete = _INCOMPLETE.get(reason)
    return ("incomplete", {"reason": incomplete}) if incomplete else ("completed", None)


def _response(
    rid: str, model: str, created: int, status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": None,
    }


class _Items:
    """Builds output items; ids derive from the response id."""

    def __init__(self, rid: str, custom_tools: frozenset[str]) -> None:
        self._base = rid.removeprefix("resp_")
        self._custom = custom_tools
        self.n = 0

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self._base}_{self.n}"

    def message(self, text: str, status: str = "completed") -> dict[str, Any]:
        content = (
            [{"type": "output_text", "text": text, "annotations": []}]
            if status == "completed"
            else []
        )
        return {
            "id": self._id("msg"),
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def reasoning(self, text: str, signature: str) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self._id("rs"), "type": "reasoning", "summary": []}
        if text:
            item["summary"] = [{"type": "summary_text", "text": text}]
        if signature:
            item["encrypted_content"] = wrap_signature(signature)
        return item

    def call(self, call: ToolCall, status: str = "completed") -> dict[str, Any]:
        if call.name in self._custom:
            return {
                "id": self._id("ctc"),
                "type": "custom_tool_call",
                "status": status,
                "call_id": call.id,
                "name": call.name,
                "input": _custom_input(call.arguments) if status == "completed" else "",
            }
        args = call.arguments if status == "completed" else ""
        return {
            "id": self._id("fc"),
            "type": "function_call",
            "status": status,
            "call_id": call.id,
            "name": call.name,
            "arguments": args,
        }


def _custom_input(arguments: str) -> str:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    return str(value.get("input", "")) if isinstance(value, dict) else arguments


def encode_responses_response(
    response: Response, *, model: str, created: int, custom_tools: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Return a Responses API response object for a neutral response."""
    rid = "resp_" + response.id.removeprefix("resp_").removeprefix("msg_")
    items = _Items(rid, custom_tools)
    output: list[dict[str, Any]] = []
    for part in response.parts:
        if isinstance(part, Text):
            output.append(items.message(part.text))
        elif isinstance(part, Thinking):
            output.append(items.reasoning(part.text, part.signature))
        else:
            output.append(items.call(part))
    called = any(isinstance(p, ToolCall) for p in response.parts)
    status, incomplete = _status(final_stop_reason(response.stop_reason, called))
    body = _response(rid, response.model or model, created, status, output)
    body["incomplete_details"] = incomplete
    body["usage"] = responses_usage_json(response.usage)
    return body


class ResponsesStreamWriter:
    """A :class:`~ccbridge.convert.sink.StreamSink` writing Responses events."""

    __slots__ = (
        "_called",
        "_created",
        "_id",
        "_item",
        "_items",
        "_kind",
        "_out",
        "_output",
        "_reason",
        "_seq",
        "_signature",
        "_text",
        "_tool",
        "_tool_key",
        "done",
        "errored",
        "has_content",
        "model",
        "started",
        "totals",
    )

    def __init__(
        self, *, response_id: str, model: str, created: int, custom_tools: frozenset[str]
    ) -> None:
        self._id = "resp_" + response_id.removeprefix("resp_")
        self.model = model
        self._created = created
        self._items = _Items(self._id, custom_tools)
        self._out: list[bytes] = []
        self._output: list[dict[str, Any]] = []
        self._seq = 0
        self._kind = ""  # "", "message", "reasoning" or "call"
        self._item: dict[str, Any] = {}
        self._text: list[str] = []
        self._signature = ""
        self._tool: ToolCall | None = None
        self._tool_key = ""
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

    def _event(self, kind: str, payload: dict[str, Any]) -> None:
        payload = {"type": kind, "sequence_number": self._seq, **payload}
        self._seq += 1
        self._out.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n")

    def _start(self) -> None:
        if self.started:
            return
        self.started = True
        snapshot = _response(self._id, self.model, self._created, "in_progress", [])
        self._event("response.created", {"response": snapshot})
        self._event("response.in_progress", {"response": snapshot})

    def _open(self, kind: str, item: dict[str, Any]) -> None:
        self._start()
        self._close()
        self.has_content = True
        self._kind, self._item, self._text, self._signature = kind, item, [], ""
        self._event("response.output_item.added", {"output_index": len(self._output), "item": item})

    def _where(self) -> dict[str, Any]:
        return {"item_id": self._item["id"], "output_index": len(self._output)}

    def meta(self, response_id: str, model: str) -> None:
        if model and not self.started:
            self.model = model

    def text(self, text: str) -> None:
        if not text or self.done:
            return
        if self._kind != "message":
            self._open("message", self._items.message("", "in_progress"))
            part = {"type": "output_text", "text": "", "annotations": []}
            self._event(
                "response.content_part.added", {**self._where(), "content_index": 0, "part": part}
            )
        self._text.append(text)
        self._event(
            "response.output_text.delta", {**self._where(), "content_index": 0, "delta": text}
        )

    def thinking(self, text: str) -> None:
        if not text or self.done:
            return
        if self._kind != "reasoning":
            self._open_reasoning()
        self._text.append(text)
        self._event(
            "response.reasoning_summary_text.delta",
            {**self._where(), "summary_index": 0, "delta": text},
        )

    def _open_reasoning(self) -> None:
        self._open("reasoning", self._items.reasoning("", ""))
        part = {"type": "summary_text", "text": ""}
        self._event(
            "response.reasoning_summary_part.added",
            {**self._where(), "summary_index": 0, "part": part},
        )

    def signature(self, signature: str) -> None:
        if not signature or self.done:
            return
        if self._kind != "reasoning":
            self._open_reasoning()
        self._signature += signature

    def tool_start(self, key: str, call_id: str, name: str) -> None:
        if self.done:
            return
        self._tool = ToolCall(call_id, name, "")
        self._open("call", self._items.call(self._tool, "in_progress"))
        self._tool_key = key
        self._called = True

    def tool_args(self, key: str, fragment: str) -> None:
        if not fragment or self.done:
            return
        if self._kind != "call" or self._tool_key != key:
            self.tool_start(key, key, "")
        self._text.append(fragment)
        if self._item["type"] == "function_call":
            self._event(
                "response.function_call_arguments.delta", {**self._where(), "delta": fragment}
            )

    def usage(self, usage: Usage) -> None:
        self.totals.merge(usage)

    def stop(self, reason: StopReason | None) -> None:
        if reason is not None:
            self._reason = reason

    def _close(self) -> None:
        kind, where = self._kind, self._where() if self._kind else {}
        if not kind:
            return
        text = "".join(self._text)
        item = dict(self._item)
        if kind == "message":
            part = {"type": "output_text", "text": text, "annotations": []}
            self._event("response.output_text.done", {**where, "content_index": 0, "text": text})
            self._event("response.content_part.done", {**where, "content_index": 0, "part": part})
            item.update(status="completed", content=[part])
        elif kind == "reasoning":
            part = {"type": "summary_text", "text": text}
            self._event(
                "response.reasoning_summary_text.done", {**where, "summary_index": 0, "text": text}
            )
            self._event(
                "response.reasoning_summary_part.done", {**where, "summary_index": 0, "part": part}
            )
            item["summary"] = [part] if text else []
            if self._signature:
                item["encrypted_content"] = wrap_signature(self._signature)
        else:
            assert self._tool is not None
            args = text or "{}"
            if item["type"] == "function_call":
                self._event("response.function_call_arguments.done", {**where, "arguments": args})
                item.update(status="completed", arguments=args)
            else:
                item.update(status="completed", input=_custom_input(args))
        self._event(
            "response.output_item.done", {"output_index": where["output_index"], "item": item}
        )
        self._output.append(item)
        self._kind = ""

    def finish(self) -> None:
        if self.done:
            return
        self._start()
        self._close()
        status, incomplete = _status(self.stop_reason)
        snapshot = _response(self._id, self.model, self._created, status, self._output)
        snapshot["incomplete_details"] = incomplete
        snapshot["usage"] = responses_usage_json(self.totals)
        self._event(f"response.{status}", {"response": snapshot})
        self.done = True

    def error(self, kind: str, message: str) -> None:
        if self.done:
            return
        self._start()
        snapshot = _response(self._id, self.model, self._created, "failed", self._output)
        snapshot["error"] = {"code": kind, "message": message}
        self._event("response.failed", {"response": snapshot})
        self.done = self.errored = True
