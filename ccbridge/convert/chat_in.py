"""Chat Completions request body -> neutral :class:`~ccbridge.convert.ir.Request`.

The Chat pool's client side (issue 19): ``claude`` and ``gemini`` channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ccbridge.convert.chat import text_of
from ccbridge.convert.ir import (
    ConversionError,
    Document,
    Image,
    Message,
    Part,
    Reasoning,
    Request,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    obj,
)

__all__ = ("decode_chat_request",)


def decode_chat_request(body: Mapping[str, Any]) -> Request:
    """Return the neutral form of a Chat Completions request body.

    Raises:
        ConversionError: ``messages`` is missing or not a list.
    """
    raw = body.get("messages")
    if not isinstance(raw, list):
        raise ConversionError("messages must be a list")
    system: list[str] = []
    messages: list[Message] = []
    names: dict[str, str] = {}
    for item in raw:
        _message(obj(item), system, messages, names)
    stop = body.get("stop")
    effort = body.get("reasoning_effort")
    return Request(
        model=str(body.get("model") or ""),
        messages=messages,
        system=system,
        max_tokens=_int(body.get("max_completion_tokens")) or _int(body.get("max_tokens")),
        temperature=_num(body.get("temperature")),
        top_p=_num(body.get("top_p")),
        stop=[stop] if isinstance(stop, str) else [s for s in stop or () if isinstance(s, str)],
        tools=[t for t in (_tool(obj(t)) for t in body.get("tools") or ()) if t is not None],
        tool_choice=_choice(body.get("tool_choice"), body.get("parallel_tool_calls")),
        reasoning=Reasoning(effort)
        if isinstance(effort, str) and effort not in ("", "none")
        else None,
        user=str(body.get("user") or ""),
        stream=body.get("stream") is True,
        prompt_cache_key=str(body.get("prompt_cache_key") or ""),
    )


def _message(
    item: dict[str, Any], system: list[str], out: list[Message], names: dict[str, str]
) -> None:
    role = item.get("role")
    if role in ("system", "developer"):
        text = text_of(item.get("content"))
        if text:
            system.append(text)
        return
    if role == "tool":
        call_id = str(item.get("tool_call_id") or "")
        result = ToolResult(
            call_id, [Text(text_of(item.get("content")))], name=names.get(call_id, "")
        )
        _append(out, "user", [result])
        return
    if role == "assistant":
        parts: list[Part] = []
        thought = item.get("reasoning_content")
        if isinstance(thought, str) and thought:
            parts.append(Thinking(thought))
        text = text_of(item.get("content"))
        if text:
            parts.append(Text(text))
        for call in item.get("tool_calls") or ():
            fn = obj(obj(call).get("function"))
            call_id, name = str(obj(call).get("id") or ""), str(fn.get("name") or "")
            names[call_id] = name
            args = fn.get("arguments")
            parts.append(ToolCall(call_id, name, args if isinstance(args, str) and args else "{}"))
        _append(out, "assistant", parts)
        return
    _append(out, "user", _user_parts(item.get("content")))


def _append(out: list[Message], role: str, parts: list[Part]) -> None:
    if not parts:
        return
    if out and out[-1].role == role:
        out[-1].parts.extend(parts)
    else:
        out.append(Message("assistant" if role == "assistant" else "user", parts))


def _user_parts(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [Text(content)] if content else []
    parts: list[Part] = []
    for raw in content if isinstance(content, list) else ():
        part = obj(raw)
        kind = part.get("type")
        if kind == "text" and part.get("text"):
            parts.append(Text(str(part["text"])))
        elif kind == "image_url":
            parts.append(_image(str(obj(part.get("image_url")).get("url") or "")))
        elif kind == "file":
            file = obj(part.get("file"))
            media, data = _split_data_url(str(file.get("file_data") or ""))
            parts.append(Document(media, data, title=str(file.get("filename") or "")))
    return parts


def _image(url: str) -> Image:
    if url.startswith("data:"):
        media, data = _split_data_url(url)
        return Image(media, data)
    return Image(url=url)


def _split_data_url(url: str) -> tuple[str, str]:
    """Return ``(media type, base64 data)`` of a ``data:`` URL."""
    head, _, data = url.partition(",")
    return head.removeprefix("data:").removesuffix(";base64"), data


def _tool(raw: dict[str, Any]) -> Tool | None:
    fn = obj(raw.get("function"))
    if raw.get("type") != "function" or not fn.get("name"):
        return None
    return Tool(str(fn["name"]), str(fn.get("description") or ""), obj(fn.get("parameters")))


def _choice(raw: Any, parallel: Any) -> ToolChoice | None:
    allow_parallel = parallel is not False
    if raw in ("auto", "none", "required"):
        return ToolChoice(raw, parallel=allow_parallel)
    name = obj(obj(raw).get("function")).get("name")
    if isinstance(name, str) and name:
        return ToolChoice("tool", name, allow_parallel)
    return ToolChoice("auto", parallel=False) if parallel is False else None


def _int(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else 0


def _num(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
