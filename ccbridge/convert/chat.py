"""OpenAI Chat Completions: requests out, responses and streams in.

Reference: platform.openai.com/docs/api-reference/chat (create, the chat
completion object, the streamed chunk object).
"""

from __future__ import annotations

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
    "ChatStreamDecoder",
    "chat_stop_reason",
    "chat_usage",
    "decode_chat_response",
    "encode_chat_request",
    "text_of",
)

_STOP: Final[dict[str, StopReason]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_MAX_STOP: Final = 4  # the API rejects more stop sequences


def chat_stop_reason(finish: Any) -> StopReason | None:
    """Return the neutral stop reason of a ``finish_reason``."""
    return _STOP.get(finish, "end_turn") if isinstance(finish, str) and finish else None


def chat_usage(raw: Any) -> Usage:
    """Return neutral usage; ``prompt_tokens`` includes cached tokens."""
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if not cached:
        cached = raw.get("prompt_cache_hit_tokens")  # DeepSeek's spelling
    usage = Usage.from_inclusive(
        _int(raw.get("prompt_tokens")), _int(cached), _int(raw.get("completion_tokens"))
    )
    out_details = raw.get("completion_tokens_details")
    if isinstance(out_details, dict):
        usage.reasoning_tokens = _int(out_details.get("reasoning_tokens"))
    return usage


def encode_chat_request(
    req: Request, *, model: str, legacy: bool = False, reasoning_content: bool = False
) -> dict[str, Any]:
    """Return a Chat Completions body.

    Args:
        req: The neutral request.
        model: The upstream model name.
        legacy: Use ``max_tokens`` and no ``reasoning_effort`` (``openaiold``
            channels: OpenAI-compatible servers that predate both).
        reasoning_content: Send thinking back as ``reasoning_content``
            (DeepSeek, Kimi and GLM require it after a tool call).
    """
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": "\n\n".join(req.system)})
    for message in req.messages:
        if message.role == "assistant":
            messages.append(_assistant(message, reasoning_content))
        else:
            messages.extend(_user(message))
    body: dict[str, Any] = {"model": model, "messages": messages}
    if req.max_tokens:
        body["max_tokens" if legacy else "max_completion_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop:
        body["stop"] = req.stop[:_MAX_STOP]
    _tools(req, body)
    if req.reasoning is not None and req.reasoning.effort and not legacy:
        body["reasoning_effort"] = (
            "high" if req.reasoning.effort in ("xhigh", "max") else req.reasoning.effort
        )
    if req.user:
        body["user"] = req.user[:64]
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _tools(req: Request, body: dict[str, Any]) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.schema or _EMPTY,
            },
        }
        for t in req.tools
        if t.kind == "function"
    ]
    if not tools:
        return
    body["tools"] = tools
    choice = req.tool_choice
    if choice is None:
        return
    if choice.mode == "tool":
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    else:
        body["tool_choice"] = choice.mode
    if not choice.parallel:
        body["parallel_tool_calls"] = False


_EMPTY: Final = {"type": "object", "properties": {}}


def _user(message: Message) -> list[dict[str, Any]]:
    # Tool messages must follow the assistant's tool_calls directly, so they go
    # first; images in results are not allowed in a tool message and move to
    # the user message after them.
    out: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ToolResult):
            text = part.text() or ("(no output)" if not part.is_error else "")
            if part.is_error:
                text = "Error: " + text if text else "Error"
            out.append({"role": "tool", "tool_call_id": part.call_id, "content": text})
            content.extend(_image_part(p) for p in part.content if isinstance(p, Image))
        elif isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, Image):
            content.append(_image_part(part))
        elif isinstance(part, Document):
            content.append(_document_part(part))
    if content:
        if all(c["type"] == "text" for c in content):
            out.append({"role": "user", "content": "\n".join(c["text"] for c in content)})
        else:
            out.append({"role": "user", "content": content})
    return out


def _image_part(image: Image) -> dict[str, Any]:
    url = image.url or f"data:{image.media_type};base64,{image.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(doc: Document) -> dict[str, Any]:
    if doc.text or not (doc.data or doc.url):
        return {"type": "text", "text": doc.text}
    if doc.url:
        return {"type": "text", "text": doc.url}
    filename = doc.title or "document.pdf"
    return {
        "type": "file",
        "file": {"filename": filename, "file_data": f"data:{doc.media_type};base64,{doc.data}"},
    }


def _assistant(message: Message, reasoning_content: bool) -> dict[str, Any]:
    texts = [p.text for p in message.parts if isinstance(p, Text)]
    calls = [
        {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}}
        for p in message.parts
        if isinstance(p, ToolCall)
    ]
    out: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) if texts else None}
    if calls:
        out["tool_calls"] = calls
    if reasoning_content:
        thought = "".join(p.text for p in message.parts if isinstance(p, Thinking))
        if thought:
            out["reasoning_content"] = thought
    if out["content"] is None and not calls:
        out["content"] = ""
    return out


def text_of(content: Any) -> str:
    """Return the text of a ``content`` value (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def decode_chat_response(body: Any) -> Response:
    """Return the neutral form of a chat completion object.

    Raises:
        ConversionError: the body has no choices.
    """
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ConversionError("chat completion without choices")
    choice = choices[0]
    message = obj(choice.get("message"))
    parts: list[Text | Thinking | ToolCall] = []
    thought = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(thought, str) and thought:
        parts.append(Thinking(thought))
    text = text_of(message.get("content"))
    if text:
        parts.append(Text(text))
    for n, call in enumerate(message.get("tool_calls") or ()):
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            args = fn.get("arguments")
            parts.append(
                ToolCall(str(call.get("id") or f"call_{n}"), str(fn.get("name") or ""), _args(args))
            )
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=chat_stop_reason(choice.get("finish_reason")),
        usage=chat_usage(body.get("usage")),
    )


def _args(raw: Any) -> str:
    if isinstance(raw, str):
        return raw or "{}"
    return orjson.dumps(raw if raw is not None else {}).decode()


class ChatStreamDecoder:
    """Chat Completions chunks -> :class:`StreamSink` calls.

    The stream ends at ``data: [DONE]``; one whose upstream omits it ends at
    EOF once a ``finish_reason`` was seen (:meth:`end`).
    """

    __slots__ = ("_finished", "_meta", "_tools")

    def __init__(self) -> None:
        self._tools: set[str] = set()
        self._meta = False
        self._finished = False

    def event(self, name: str, data: bytes, sink: StreamSink) -> None:
        """Handle one SSE event."""
        if data == b"[DONE]":
            sink.finish()
            return
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return  # NOTE(convert): malformed lines are skipped, as every gateway does
        if not isinstance(chunk, dict):
            return
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            sink.error("api_error", str(message or "upstream stream error"))
            return
        if not self._meta:
            self._meta = True
            sink.meta(str(chunk.get("id") or ""), str(chunk.get("model") or ""))
        usage = chunk.get("usage")
        if usage:
            sink.usage(chat_usage(usage))
        choices = chunk.get("choices")
        if choices and isinstance(choices[0], dict):
            self._choice(choices[0], sink)

    def _choice(self, choice: dict[str, Any], sink: StreamSink) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            thought = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(thought, str):
                sink.thinking(thought)
            content = delta.get("content")
            if content:
                sink.text(content if isinstance(content, str) else text_of(content))
            calls = delta.get("tool_calls")
            if calls:
                self._calls(calls, sink)
        finish = choice.get("finish_reason")
        if finish:
            self._finished = True
            sink.stop(chat_stop_reason(finish))

    def _calls(self, calls: list[Any], sink: StreamSink) -> None:
        for call in calls:
            if not isinstance(call, dict):
                continue
            key = str(call.get("index", 0))
            fn = obj(call.get("function"))
            if key not in self._tools:
                self._tools.add(key)
                sink.tool_start(
                    key, str(call.get("id") or f"call_{key}"), str(fn.get("name") or "")
                )
            args = fn.get("arguments")
            if args:
                sink.tool_args(key, args if isinstance(args, str) else orjson.dumps(args).decode())

    def end(self, sink: StreamSink) -> None:
        """Handle upstream EOF."""
        if self._finished:
            sink.finish()


def _int(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
