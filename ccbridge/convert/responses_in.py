"""Responses API request body -> neutral :class:`~ccbridge.convert.ir.Request`.

The Responses pool's client side (issue 19): ``claude``, ``openai``,
``openaiold`` and ``gemini`` channels. Codex's freeform ``custom`` tools
become function tools taking ``{"input": string}``, and their calls come back
as ``custom_tool_call`` items (:mod:`ccbridge.convert.responses_out`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

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
from ccbridge.convert.responses import SIGNATURE_PREFIX

__all__ = (
    "CUSTOM_TOOL_SCHEMA",
    "WRAPPED_PREFIX",
    "custom_tool_names",
    "decode_responses_request",
    "unwrap_signature",
)

CUSTOM_TOOL_SCHEMA: Final = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The raw input to the tool."}},
    "required": ["input"],
}
WRAPPED_PREFIX: Final = "ccb:"
"""Marks ``encrypted_content`` that wraps another API's signature."""


def unwrap_signature(encrypted: str) -> str:
    """Return the neutral signature of a reasoning item's ``encrypted_content``."""
    if encrypted.startswith(WRAPPED_PREFIX):
        return encrypted[len(WRAPPED_PREFIX) :]
    return SIGNATURE_PREFIX + encrypted if encrypted else ""


def custom_tool_names(body: Mapping[str, Any]) -> frozenset[str]:
    """Return the names of the request's freeform (``custom``) tools."""
    return frozenset(
        str(obj(t).get("name")) for t in body.get("tools") or () if obj(t).get("type") == "custom"
    )


def decode_responses_request(body: Mapping[str, Any]) -> Request:
    """Return the neutral form of a Responses API request body.

    Raises:
        ConversionError: ``input`` is neither a string nor a list.
    """
    raw = body.get("input")
    system: list[str] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        system.append(body["instructions"])
    messages: list[Message] = []
    if isinstance(raw, str):
        messages.append(Message("user", [Text(raw)]))
    elif isinstance(raw, list):
        names: dict[str, str] = {}
        for item in raw:
            _item(obj(item), system, messages, names)
    else:
        raise ConversionError("input must be a string or a list")
    reasoning = obj(body.get("reasoning"))
    effort = reasoning.get("effort")
    return Request(
        model=str(body.get("model") or ""),
        messages=messages,
        system=system,
        max_tokens=_int(body.get("max_output_tokens")),
        temperature=_num(body.get("temperature")),
        top_p=_num(body.get("top_p")),
        tools=[t for t in (_tool(obj(t)) for t in body.get("tools") or ()) if t is not None],
        tool_choice=_choice(body.get("tool_choice"), body.get("parallel_tool_calls")),
        reasoning=Reasoning(effort)
        if isinstance(effort, str) and effort not in ("", "none")
        else None,
        user=str(body.get("user") or body.get("safety_identifier") or ""),
        stream=body.get("stream") is True,
        fast=body.get("service_tier") == "priority",
        prompt_cache_key=str(body.get("prompt_cache_key") or ""),
    )


def _item(
    item: dict[str, Any], system: list[str], out: list[Message], names: dict[str, str]
) -> None:
    kind = item.get("type") or ("message" if "role" in item else "")
    if kind == "message":
        role = item.get("role")
        if role in ("system", "developer"):
            text = _text(item.get("content"))
            if text:
                system.append(text)
        else:
            _append(
                out, "assistant" if role == "assistant" else "user", _parts(item.get("content"))
            )
    elif kind in ("function_call", "custom_tool_call"):
        call_id, name = str(item.get("call_id") or ""), str(item.get("name") or "")
        names[call_id] = name
        if kind == "custom_tool_call":
            args = orjson.dumps({"input": str(item.get("input") or "")}).decode()
        else:
            args = str(item.get("arguments") or "{}")
        _append(out, "assistant", [ToolCall(call_id, name, args)])
    elif kind in ("function_call_output", "custom_tool_call_output"):
        call_id = str(item.get("call_id") or "")
        output = item.get("output")
        content = _parts(output) if isinstance(output, list) else [Text(str(output or ""))]
        result = ToolResult(
            call_id,
            [p for p in content if isinstance(p, Text | Image)],
            name=names.get(call_id, ""),
        )
        _append(out, "user", [result])
    elif kind == "reasoning":
        summary = "\n\n".join(str(obj(s).get("text") or "") for s in item.get("summary") or ())
        encrypted = item.get("encrypted_content")
        signature = unwrap_signature(encrypted) if isinstance(encrypted, str) else ""
        if summary or signature:
            _append(out, "assistant", [Thinking(summary, signature)])
    # item_reference, web_search_call, local_shell_call...: nothing a stateless upstream can use.


def _append(out: list[Message], role: str, parts: list[Part]) -> None:
    if not parts:
        return
    if out and out[-1].role == role:
        out[-1].parts.extend(parts)
    else:
        out.append(Message("assistant" if role == "assistant" else "user", parts))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(obj(p).get("text") or "") for p in content or () if obj(p).get("text"))


def _parts(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [Text(content)] if content else []
    parts: list[Part] = []
    for raw in content if isinstance(content, list) else ():
        part = obj(raw)
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text") and part.get("text"):
            parts.append(Text(str(part["text"])))
        elif kind == "refusal" and part.get("refusal"):
            parts.append(Text(str(part["refusal"])))
        elif kind == "input_image" and part.get("image_url"):
            url = str(part["image_url"])
            parts.append(_image(url))
        elif kind == "input_file":
            parts.append(_file(part))
    return parts


def _image(url: str) -> Image:
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        return Image(head.removeprefix("data:").removesuffix(";base64"), data)
    return Image(url=url)


def _file(part: dict[str, Any]) -> Document:
    title = str(part.get("filename") or "")
    data = str(part.get("file_data") or "")
    if data.startswith("data:"):
        head, _, payload = data.partition(",")
        return Document(head.removeprefix("data:").removesuffix(";base64"), payload, title=title)
    if part.get("file_url"):
        return Document(url=str(part["file_url"]), title=title)
    return Document("application/pdf", data, title=title)


def _tool(raw: dict[str, Any]) -> Tool | None:
    kind = raw.get("type")
    name = str(raw.get("name") or "")
    if kind == "function" and name:
        return Tool(name, str(raw.get("description") or ""), obj(raw.get("parameters")))
    if kind == "custom" and name:
        return Tool(name, str(raw.get("description") or ""), dict(CUSTOM_TOOL_SCHEMA))
    if isinstance(kind, str) and kind.startswith("web_search"):
        return Tool("web_search", kind="web_search")
    return None


def _choice(raw: Any, parallel: Any) -> ToolChoice | None:
    allow_parallel = parallel is not False
    if raw in ("auto", "none", "required"):
        return ToolChoice(raw, parallel=allow_parallel)
    name = obj(raw).get("name")
    if isinstance(name, str) and name:
        return ToolChoice("tool", name, allow_parallel)
    return ToolChoice("auto", parallel=False) if parallel is False else None


def _int(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else 0


def _num(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
