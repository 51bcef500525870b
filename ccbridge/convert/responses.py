"""OpenAI Responses API: requests out, responses and streams in.

Reference: platform.openai.com/docs/api-reference/responses (create, the
response object, input and output items) and .../responses-streaming. The
Codex backend (``openai-oauth`` channels) takes the same body with the
reference's edits: ``store: false`` and no ``max_output_tokens``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

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
    obj,
)
from ccbridge.convert.sink import StreamSink

__all__ = (
    "ENCRYPTED_REASONING",
    "SIGNATURE_PREFIX",
    "ResponsesStreamDecoder",
    "decode_responses_response",
    "encode_responses_request",
    "encrypted_reasoning_mode",
    "needs_encrypted_reasoning",
    "responses_usage",
    "split_effort_suffix",
    "with_encrypted_reasoning",
)

SIGNATURE_PREFIX: Final = "responses:"
_EFFORT_SUFFIX: Final = re.compile(r"^(.*?)\s*\((low|medium|high|xhigh)\)$")
_INCOMPLETE: Final[dict[str, StopReason]] = {
    "max_output_tokens": "max_tokens",
    "content_filter": "refusal",
}


ENCRYPTED_REASONING: Final = "reasoning.encrypted_content"
_REASONING_MODES: Final = {"auto": "auto", "always": "always", "on": "always", "off": "off"}


def encrypted_reasoning_mode(raw: str) -> str:
    """Return a ``responsesEncryptedReasoningMode`` as ``auto``, ``always`` or ``off``.

    Empty or unknown is ``auto`` and ``on`` is ``always``, as the reference
    normalises it for the responses channels it applies to.
    """
    return _REASONING_MODES.get(raw.strip().lower(), "auto")


def needs_encrypted_reasoning(mode: str, body: Mapping[str, Any]) -> bool:
    """Return whether a Responses body must be given ``include`` of encrypted reasoning.

    ``auto`` and ``always`` both ask for it (stateless reasoning replay); a
    body that already asks for it is left as it is.
    """
    if encrypted_reasoning_mode(mode) == "off":
        return False
    include = body.get("include")
    return not (isinstance(include, list) and ENCRYPTED_REASONING in include)


def with_encrypted_reasoning(body: Mapping[str, Any]) -> dict[str, Any]:
    """Return a Responses body whose ``include`` asks for encrypted reasoning."""
    include = body.get("include")
    kept = [x for x in include if x != ENCRYPTED_REASONING] if isinstance(include, list) else []
    return {**body, "include": [*kept, ENCRYPTED_REASONING]}


def split_effort_suffix(model: str) -> tuple[str, str]:
    """Return ``("gpt-5", "high")`` for ``"gpt-5(high)"``; the effort may be ``""``."""
    match = _EFFORT_SUFFIX.match(model)
    return (match.group(1), match.group(2)) if match else (model, "")


def responses_usage(raw: Any) -> Usage:
    """Return neutral usage; ``input_tokens`` includes cached tokens."""
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("input_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    prompt = raw.get("input_tokens", raw.get("prompt_tokens"))
    output = raw.get("output_tokens", raw.get("completion_tokens"))
    usage = Usage.from_inclusive(_int(prompt), _int(cached), _int(output))
    out_details = raw.get("output_tokens_details")
    if isinstance(out_details, dict):
        usage.reasoning_tokens = _int(out_details.get("reasoning_tokens"))
    return usage


def encode_responses_request(
    req: Request, *, model: str, codex: bool = False, replay_reasoning: bool = True
) -> dict[str, Any]:
    """Return a Responses API body.

    Args:
        req: The neutral request.
        model: The upstream model; a ``(high)``-style suffix becomes the effort.
        codex: Shape it for the Codex backend (``openai-oauth``).
        replay_reasoning: Send signed reasoning back as ``reasoning`` items
            with ``encrypted_content`` and ask for it in ``include`` (stateless
            replay; item ids are never sent, ``store`` is false).
    """
    model, suffix_effort = split_effort_suffix(model)
    body: dict[str, Any] = {"model": model, "input": _input(req.messages, replay_reasoning)}
    if req.system:
        body["instructions"] = "\n\n".join(req.system)
    if req.max_tokens and not codex:
        body["max_output_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    effort = suffix_effort or (req.reasoning.effort if req.reasoning is not None else "")
    if effort:
        body["reasoning"] = {"effort": effort, "summary": "auto"}
        if replay_reasoning:
            body["include"] = ["reasoning.encrypted_content"]
    _tools(req, body)
    if req.prompt_cache_key:
        body["prompt_cache_key"] = req.prompt_cache_key
    if req.fast:
        body["service_tier"] = "priority"
    if codex or replay_reasoning:
        body["store"] = False
    body["stream"] = req.stream
    return body


def _tools(req: Request, body: dict[str, Any]) -> None:
    tools: list[dict[str, Any]] = []
    for tool in req.tools:
        if tool.kind == "web_search":
            tools.append({"type": "web_search"})
        else:
            spec = {
                "type": "function",
                "name": tool.name,
                "parameters": tool.schema or _EMPTY,
                "strict": False,
            }
            if tool.description:
                spec["description"] = tool.description
            tools.append(spec)
    if not tools:
        return
    body["tools"] = tools
    choice = req.tool_choice
    if choice is None:
        body["tool_choice"] = "auto"
        return
    body["tool_choice"] = (
        {"type": "function", "name": choice.name} if choice.mode == "tool" else choice.mode
    )
    if not choice.parallel:
        body["parallel_tool_calls"] = False


_EMPTY: Final = {"type": "object", "properties": {}}


def _input(messages: list[Message], replay_reasoning: bool) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in messages:
        _message_items(message, replay_reasoning, items)
    return items


def _message_items(message: Message, replay_reasoning: bool, items: list[dict[str, Any]]) -> None:
    # Consecutive text and media share one message item; a call, a result or
    # reasoning closes it, so the item order follows the block order.
    content: list[dict[str, Any]] = []
    text_type = "output_text" if message.role == "assistant" else "input_text"
    for part in message.parts:
        if isinstance(part, Text):
            content.append({"type": text_type, "text": part.text})
            continue
        if isinstance(part, Image):
            content.append(_input_image(part))
            continue
        if isinstance(part, Document):
            content.append(_file(part))
            continue
        item = _item(part, replay_reasoning)
        if item is None:
            continue
        if content:
            items.append({"type": "message", "role": message.role, "content": content})
            content = []
        items.append(item)
        if isinstance(part, ToolResult):
            content.extend(_input_image(p) for p in part.content if isinstance(p, Image))
    if content:
        items.append({"type": "message", "role": message.role, "content": content})


def _item(part: Thinking | ToolCall | ToolResult, replay_reasoning: bool) -> dict[str, Any] | None:
    if isinstance(part, ToolCall):
        return {
            "type": "function_call",
            "call_id": part.id,
            "name": part.name,
            "arguments": part.arguments,
        }
    if isinstance(part, ToolResult):
        return {"type": "function_call_output", "call_id": part.call_id, "output": _output(part)}
    if replay_reasoning and part.signature.startswith(SIGNATURE_PREFIX):
        summary = [{"type": "summary_text", "text": part.text}] if part.text else []
        encrypted = part.signature[len(SIGNATURE_PREFIX) :]
        return {"type": "reasoning", "summary": summary, "encrypted_content": encrypted}
    return None


def _input_image(image: Image) -> dict[str, Any]:
    return {"type": "input_image", "image_url": image.url or _data_url(image), "detail": "auto"}


def _data_url(part: Image | Document) -> str:
    return f"data:{part.media_type};base64,{part.data}"


def _file(doc: Document) -> dict[str, Any]:
    if doc.text or not (doc.data or doc.url):
        return {"type": "input_text", "text": doc.text}
    if doc.url:
        return {"type": "input_file", "file_url": doc.url}
    return {
        "type": "input_file",
        "filename": doc.title or "document.pdf",
        "file_data": _data_url(doc),
    }


def _output(result: ToolResult) -> str:
    text = result.text()
    return ("Error: " + text if text else "Error") if result.is_error else text


def _stop(status: Any, incomplete: Any) -> StopReason | None:
    if status == "incomplete":
        reason = incomplete.get("reason") if isinstance(incomplete, dict) else None
        return _INCOMPLETE.get(str(reason), "max_tokens")
    if status == "completed":
        return "end_turn"
    return None


def decode_responses_response(body: Any) -> Response:
    """Return the neutral form of a Responses API response object.

    Raises:
        ConversionError: the body has no ``output`` list.
    """
    if not isinstance(body, dict) or not isinstance(body.get("output"), list):
        raise ConversionError("responses object without output")
    parts: list[Text | Thinking | ToolCall] = []
    for item in body["output"]:
        if isinstance(item, dict):
            part = _output_item(item)
            if part is not None:
                parts.append(part)
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=_stop(body.get("status"), body.get("incomplete_details")),
        usage=responses_usage(body.get("usage")),
    )


def _output_item(item: dict[str, Any]) -> Text | Thinking | ToolCall | None:
    kind = item.get("type")
    if kind == "message":
        texts = [
            str(c.get("text") or c.get("refusal") or "")
            for c in item.get("content") or ()
            if isinstance(c, dict) and c.get("type") in ("output_text", "refusal")
        ]
        return Text("".join(texts)) if any(texts) else None
    if kind == "function_call":
        return ToolCall(
            str(item.get("call_id") or item.get("id") or ""),
            str(item.get("name") or ""),
            str(item.get("arguments") or "{}"),
        )
    if kind == "reasoning":
        summary = "\n\n".join(
            str(s.get("text") or "") for s in item.get("summary") or () if isinstance(s, dict)
        )
        encrypted = item.get("encrypted_content")
        signature = SIGNATURE_PREFIX + encrypted if isinstance(encrypted, str) and encrypted else ""
        return Thinking(summary, signature) if summary or signature else None
    return None


class ResponsesStreamDecoder:
    """Responses streaming events -> :class:`StreamSink` calls.

    Function-call arguments may arrive with ``output_item.added``, as
    ``function_call_arguments.delta`` fragments, or only in the ``.done`` /
    ``output_item.done`` events: each call's arguments are sent exactly once.
    """

    __slots__ = ("_args_sent", "_keys", "_summary_parts")

    def __init__(self) -> None:
        self._args_sent: set[str] = set()
        self._keys: dict[int, str] = {}
        self._summary_parts = 0

    def event(self, name: str, data: bytes, sink: StreamSink) -> None:
        """Handle one SSE event."""
        if data == b"[DONE]":
            sink.finish()
            return
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type") or name
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, event, sink)

    def end(self, sink: StreamSink) -> None:
        """Handle upstream EOF: without a terminal event the answer is cut."""

    def _text(self, event: dict[str, Any], sink: StreamSink) -> None:
        delta = event.get("delta")
        if isinstance(delta, str):
            sink.text(delta)

    def _thinking(self, event: dict[str, Any], sink: StreamSink) -> None:
        delta = event.get("delta")
        if isinstance(delta, str):
            sink.thinking(delta)

    def _summary_part(self, event: dict[str, Any], sink: StreamSink) -> None:
        if _int(event.get("summary_index")) > 0:
            sink.thinking("\n\n")

    def _created(self, event: dict[str, Any], sink: StreamSink) -> None:
        response = event.get("response")
        if isinstance(response, dict):
            sink.meta(str(response.get("id") or ""), str(response.get("model") or ""))

    def _item_added(self, event: dict[str, Any], sink: StreamSink) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return
        key = str(item.get("id") or event.get("output_index"))
        self._keys[_int(event.get("output_index"))] = key
        sink.tool_start(key, str(item.get("call_id") or key), str(item.get("name") or ""))
        self._send_args(key, item.get("arguments"), sink)

    def _args_delta(self, event: dict[str, Any], sink: StreamSink) -> None:
        key = self._key(event)
        delta = event.get("delta")
        if isinstance(delta, str) and delta:
            self._args_sent.add(key)
            sink.tool_args(key, delta)

    def _args_done(self, event: dict[str, Any], sink: StreamSink) -> None:
        self._send_args(self._key(event), event.get("arguments"), sink)

    def _item_done(self, event: dict[str, Any], sink: StreamSink) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            return
        if item.get("type") == "function_call":
            key = str(item.get("id") or event.get("output_index"))
            if key not in self._keys.values():
                self._item_added(event, sink)
            self._send_args(key, item.get("arguments"), sink)
        elif item.get("type") == "reasoning":
            encrypted = item.get("encrypted_content")
            if isinstance(encrypted, str) and encrypted:
                sink.signature(SIGNATURE_PREFIX + encrypted)

    def _terminal(self, event: dict[str, Any], sink: StreamSink) -> None:
        response = obj(event.get("response"))
        if response.get("usage"):
            sink.usage(responses_usage(response["usage"]))
        if response.get("model") is not None:
            sink.meta(str(response.get("id") or ""), str(response["model"]))
        if response.get("status") == "failed" or event.get("type") == "response.failed":
            error = obj(response.get("error"))
            sink.error("api_error", str(error.get("message") or "upstream response failed"))
            return
        sink.stop(_stop(response.get("status") or "completed", response.get("incomplete_details")))
        sink.finish()

    def _error(self, event: dict[str, Any], sink: StreamSink) -> None:
        error = obj(event.get("error")) or event
        sink.error("api_error", str(error.get("message") or "upstream stream error"))

    def _key(self, event: dict[str, Any]) -> str:
        item_id = event.get("item_id")
        return str(item_id) if item_id else self._keys.get(_int(event.get("output_index")), "")

    def _send_args(self, key: str, arguments: Any, sink: StreamSink) -> None:
        if key in self._args_sent or not isinstance(arguments, str) or not arguments:
            return
        self._args_sent.add(key)
        sink.tool_args(key, arguments)


_HANDLERS: Final = {
    "response.created": ResponsesStreamDecoder._created,
    "response.output_text.delta": ResponsesStreamDecoder._text,
    "response.refusal.delta": ResponsesStreamDecoder._text,
    "response.reasoning_summary_text.delta": ResponsesStreamDecoder._thinking,
    "response.reasoning_text.delta": ResponsesStreamDecoder._thinking,
    "response.reasoning_summary_part.added": ResponsesStreamDecoder._summary_part,
    "response.output_item.added": ResponsesStreamDecoder._item_added,
    "response.function_call_arguments.delta": ResponsesStreamDecoder._args_delta,
    "response.function_call_arguments.done": ResponsesStreamDecoder._args_done,
    "response.output_item.done": ResponsesStreamDecoder._item_done,
    "response.completed": ResponsesStreamDecoder._terminal,
    "response.done": ResponsesStreamDecoder._terminal,
    "response.incomplete": ResponsesStreamDecoder._terminal,
    "response.failed": ResponsesStreamDecoder._terminal,
    "error": ResponsesStreamDecoder._error,
}


def _int(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
