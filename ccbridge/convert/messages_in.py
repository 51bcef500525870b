"""Anthropic Messages request body -> neutral :class:`~ccbridge.convert.ir.Request`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ccbridge.convert.ir import (
    ConversionError,
    Document,
    Image,
    Message,
    Part,
    Reasoning,
    Request,
    Role,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    budget_to_effort,
    obj,
)

__all__ = ("decode_messages_request",)

_SESSION_MARK = "_account__session_"


def decode_messages_request(body: Mapping[str, Any]) -> Request:
    """Return the neutral form of a Messages API request body.

    Raises:
        ConversionError: ``messages`` is missing or not a list.
    """
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list):
        raise ConversionError("messages must be a list")
    names: dict[str, str] = {}
    messages = [m for m in (_message(raw, names) for raw in raw_messages) if m.parts]
    metadata = obj(body.get("metadata"))
    user = str(metadata.get("user_id") or "")
    return Request(
        model=str(body.get("model") or ""),
        messages=messages,
        system=_system(body.get("system")),
        max_tokens=_int(body.get("max_tokens")),
        temperature=_num(body.get("temperature")),
        top_p=_num(body.get("top_p")),
        top_k=_int(body.get("top_k")) or None,
        stop=[s for s in body.get("stop_sequences") or () if isinstance(s, str)],
        tools=[t for t in (_tool(raw) for raw in body.get("tools") or ()) if t is not None],
        tool_choice=_tool_choice(body.get("tool_choice")),
        reasoning=_reasoning(body.get("thinking"), body.get("output_config")),
        user=user,
        stream=body.get("stream") is True,
        fast=body.get("speed") == "fast",
        prompt_cache_key=_cache_key(body, user),
    )


def _system(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw] if raw else []
    if isinstance(raw, list):
        return [b["text"] for b in raw if isinstance(b, dict) and isinstance(b.get("text"), str)]
    return []


def _message(raw: Any, names: dict[str, str]) -> Message:
    if not isinstance(raw, dict):
        raise ConversionError("each message must be an object")
    role: Role = "assistant" if raw.get("role") == "assistant" else "user"
    content = raw.get("content")
    if isinstance(content, str):
        return Message(role, [Text(content)] if content else [])
    parts: list[Part] = []
    for block in content if isinstance(content, list) else ():
        part = _block(block, names) if isinstance(block, dict) else None
        if part is not None:
            parts.append(part)
    return Message(role, parts)


def _block(block: dict[str, Any], names: dict[str, str]) -> Part | None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return Text(text) if isinstance(text, str) and text else None
    if kind == "image":
        return _image(block.get("source"))
    if kind == "document":
        return _document(block)
    if kind == "thinking":
        return Thinking(str(block.get("thinking") or ""), str(block.get("signature") or ""))
    if kind == "redacted_thinking":
        return Thinking(signature=str(block.get("data") or ""), redacted=True)
    if kind == "tool_use":
        call_id, name = str(block.get("id") or ""), str(block.get("name") or "")
        names[call_id] = name
        args = block.get("input")
        return ToolCall(call_id, name, orjson.dumps(args if args is not None else {}).decode())
    if kind == "tool_result":
        call_id = str(block.get("tool_use_id") or "")
        return ToolResult(
            call_id,
            _result_content(block.get("content")),
            is_error=block.get("is_error") is True,
            name=names.get(call_id, ""),
        )
    # server_tool_use, web_search_tool_result, container uploads: nothing to carry.
    return None


def _image(source: Any) -> Image | None:
    if not isinstance(source, dict):
        return None
    if source.get("type") == "url":
        return Image(url=str(source.get("url") or ""))
    if source.get("type") == "base64":
        return Image(str(source.get("media_type") or ""), str(source.get("data") or ""))
    return None


def _document(block: dict[str, Any]) -> Document | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    title = str(block.get("title") or "")
    kind = source.get("type")
    if kind == "base64":
        return Document(str(source.get("media_type") or ""), str(source["data"]), title=title)
    if kind == "url":
        return Document(url=str(source.get("url") or ""), title=title)
    if kind == "text":
        return Document("text/plain", text=str(source.get("data") or ""), title=title)
    if kind == "content":
        text = "\n".join(
            p.text for p in _result_content(source.get("content")) if isinstance(p, Text)
        )
        return Document("text/plain", text=text, title=title)
    return None


def _result_content(raw: Any) -> list[Text | Image]:
    if isinstance(raw, str):
        return [Text(raw)] if raw else []
    out: list[Text | Image] = []
    for block in raw if isinstance(raw, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            out.append(Text(block["text"]))
        elif block.get("type") == "image":
            image = _image(block.get("source"))
            if image is not None:
                out.append(image)
    return out


def _tool(raw: Any) -> Tool | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    kind = str(raw.get("type") or "custom")
    if kind.startswith("web_search"):
        return Tool(raw["name"], kind="web_search")
    if kind != "custom":
        return None  # Anthropic-defined client tools (bash_*, text_editor_*) carry no schema.
    schema = raw.get("input_schema")
    return Tool(
        raw["name"], str(raw.get("description") or ""), schema if isinstance(schema, dict) else {}
    )


def _tool_choice(raw: Any) -> ToolChoice | None:
    if not isinstance(raw, dict):
        return None
    parallel = raw.get("disable_parallel_tool_use") is not True
    kind = raw.get("type")
    if kind == "any":
        return ToolChoice("required", parallel=parallel)
    if kind == "tool":
        return ToolChoice("tool", str(raw.get("name") or ""), parallel)
    if kind == "none":
        return ToolChoice("none", parallel=parallel)
    return ToolChoice("auto", parallel=parallel)


def _reasoning(thinking: Any, output_config: Any) -> Reasoning | None:
    # NOTE(convert): Claude Code's adaptive thinking sends an effort and no budget;
    # the effort wins so a budget-only mapping never picks the lowest level.
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled" or (kind is None and not effort):
        return None
    budget = _int(thinking.get("budget_tokens")) if isinstance(thinking, dict) else 0
    if isinstance(effort, str) and effort:
        return Reasoning("xhigh" if effort == "max" else effort, budget)
    return Reasoning(budget_to_effort(budget) if budget else "medium", budget)


def _cache_key(body: Mapping[str, Any], user: str) -> str:
    key = body.get("prompt_cache_key")
    if isinstance(key, str) and key:
        return key
    if user.startswith("{"):
        # Newer Claude Code sends user_id as a JSON object with a session_id.
        try:
            session = orjson.loads(user).get("session_id")
        except (orjson.JSONDecodeError, AttributeError):
            return ""
        return session if isinstance(session, str) else ""
    _, mark, session = user.partition(_SESSION_MARK)
    return session if mark else ""


def _int(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else 0


def _num(raw: Any) -> float | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    return None
