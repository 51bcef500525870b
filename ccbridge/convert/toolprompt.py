"""Tool calling emulated in the prompt, for Chat upstreams without tools.

``openai_chat`` channels: the tools are described in a system message as XML,
the model announces a call with a per-request trigger string followed by an
``<invoke>`` element, and :class:`ToolTextParser` finds those calls in the
answer text (streamed or whole) and turns them back into tool calls.
"""

from __future__ import annotations

import html
import re
import secrets
import string
from collections.abc import Iterable
from typing import Any, Final, Protocol

import orjson

from ccbridge.convert.ir import Document, Request, Text, Thinking, Tool, ToolCall, ToolResult, obj

__all__ = (
    "ToolTextParser",
    "ToolTextSink",
    "build_tools_prompt",
    "encode_emulated_request",
    "new_trigger",
)

_ALPHABET: Final = string.ascii_lowercase + string.digits
_INVOKE: Final = re.compile(r'<invoke\s+name="([^"]*)"\s*>(.*?)</invoke>', re.S | re.I)
_PARAM: Final = re.compile(r'<parameter\s+name="([^"]*)"\s*>(.*?)</parameter>', re.S | re.I)
_SPANS: Final = re.compile(
    r"<invoke\b[^>]*>.*?</invoke>|<tool_result\b[^>]*>.*?</tool_result>", re.S | re.I
)
_INVOKE_END: Final = "</invoke>"
_THINK_OPEN: Final = "<thinking>"
_THINK_CLOSE: Final = "</thinking>"

_PROMPT: Final = """You can call the tools listed below. Call a tool only when the task needs it, \
and only a tool from this list.

<function_list>
{tools}
</function_list>

To call a tool, write the line {trigger} and then one <invoke> element, and write nothing \
after it. Example:
{trigger}
<invoke name="Read">
<parameter name="file_path">/tmp/notes.txt</parameter>
</invoke>

Earlier calls appear in the conversation the same way, and their results as \
<tool_result id="...">...</tool_result>."""

_THINKING_RULE: Final = "Before answering, think step by step inside <thinking>...</thinking>."


def new_trigger() -> str:
    """Return a fresh trigger string such as ``<<CALL_k3j9x0a1b2c3>>``."""
    return "<<CALL_" + "".join(secrets.choice(_ALPHABET) for _ in range(12)) + ">>"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def build_tools_prompt(tools: Iterable[Tool], trigger: str) -> str:
    """Return the system message that teaches the model the call format."""
    entries = [_tool_xml(n, t) for n, t in enumerate(tools, 1)]
    return _PROMPT.format(tools="\n".join(entries) or "None", trigger=trigger)


def _tool_xml(n: int, tool: Tool) -> str:
    props = tool.schema.get("properties")
    props = obj(props)
    required = [r for r in tool.schema.get("required") or () if isinstance(r, str)]
    lines = [f'<tool id="{n}">', f"<name>{_esc(tool.name)}</name>"]
    lines.append(f"<description>{_esc(tool.description or 'None')}</description>")
    for name in sorted(props):
        info = obj(props[name])
        kind = str(info.get("type") or "any")
        attrs = (
            f'name="{_esc(name)}" type="{_esc(kind)}" required="{str(name in required).lower()}"'
        )
        extra = ""
        if isinstance(info.get("description"), str):
            extra += f"<description>{_esc(info['description'])}</description>"
        if "enum" in info:
            extra += f"<enum>{_esc(orjson.dumps(info['enum']).decode())}</enum>"
        lines.append(f"<parameter {attrs}>{extra}</parameter>")
    lines.append("</tool>")
    return "\n".join(lines)


def encode_emulated_request(req: Request, *, model: str, trigger: str) -> dict[str, Any]:
    """Return a Chat Completions body with tools described in the prompt."""
    thinking = req.reasoning is not None
    messages: list[dict[str, Any]] = []
    tools = [t for t in req.tools if t.kind == "function"]
    if tools:
        messages.append({"role": "system", "content": build_tools_prompt(tools, trigger)})
    system = "\n\n".join(req.system + ([_THINKING_RULE] if thinking else []))
    if system:
        messages.append({"role": "system", "content": system})
    for message in req.messages:
        text = "\n".join(_flatten(part, trigger, thinking) for part in message.parts)
        if text:
            messages.append({"role": message.role, "content": text})
    if messages and messages[-1]["role"] == "assistant":
        messages.append({"role": "user", "content": "Continue."})
    body: dict[str, Any] = {"model": model, "messages": messages}
    if req.max_tokens:
        body["max_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _flatten(part: object, trigger: str, thinking: bool) -> str:
    if isinstance(part, Text):
        return _SPANS.sub("", part.text)
    if isinstance(part, Document):
        return part.text
    if isinstance(part, Thinking):
        return f"{_THINK_OPEN}{part.text}{_THINK_CLOSE}" if thinking and part.text else ""
    if isinstance(part, ToolCall):
        return trigger + "\n" + _invoke_xml(part)
    if isinstance(part, ToolResult):
        payload = ("Error: " if part.is_error else "") + part.text()
        return f'<tool_result id="{_esc(part.call_id)}">{_esc(payload)}</tool_result>'
    return ""


def _invoke_xml(call: ToolCall) -> str:
    try:
        args = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        args = {}
    lines = [f'<invoke name="{_esc(call.name)}">']
    for key in sorted(args) if isinstance(args, dict) else ():
        value = args[key]
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        lines.append(f'<parameter name="{_esc(key)}">{_esc(text)}</parameter>')
    lines.append("</invoke>")
    return "\n".join(lines)


class ToolTextSink(Protocol):
    """Where :class:`ToolTextParser` sends what it found."""

    def text(self, text: str) -> None: ...

    def thinking(self, text: str) -> None: ...

    def tool_call(self, name: str, arguments: str) -> None: ...


class ToolTextParser:
    """Find ``trigger`` + ``<invoke>`` calls (and ``<thinking>``) in text.

    Text is released as soon as it cannot be the start of a marker, so a
    stream is delayed by at most one marker's length of characters.
    """

    __slots__ = ("_buf", "_markers", "_mode", "_out", "_tools", "_trigger")

    def __init__(
        self, out: ToolTextSink, *, trigger: str, tools: Iterable[Tool], thinking: bool
    ) -> None:
        self._out = out
        self._trigger = trigger
        self._markers = (trigger, _THINK_OPEN) if thinking else (trigger,)
        self._tools = {t.name: t.schema for t in tools}
        self._mode = "text"  # text | call | thinking
        self._buf = ""

    def feed(self, text: str) -> None:
        """Take the next piece of answer text."""
        self._buf += text
        while self._step():
            pass

    def close(self) -> None:
        """Flush at end of answer: an unfinished call is shown as text."""
        buf, self._buf = self._buf, ""
        if self._mode == "call":
            buf = self._trigger + buf
        if buf:
            (self._out.thinking if self._mode == "thinking" else self._out.text)(buf)
        self._mode = "text"

    def _step(self) -> bool:
        if self._mode == "call":
            return self._call()
        if self._mode == "thinking":
            return self._thinking()
        return self._text()

    def _text(self) -> bool:
        buf = self._buf
        hits = [(buf.find(m), m) for m in self._markers]
        found = [(i, m) for i, m in hits if i >= 0]
        if found:
            i, marker = min(found)
            if i:
                self._out.text(buf[:i])
            self._buf = buf[i + len(marker) :]
            self._mode = "call" if marker == self._trigger else "thinking"
            return True
        keep = max(_partial(buf, m) for m in self._markers)
        if len(buf) > keep:
            self._out.text(buf[: len(buf) - keep])
            self._buf = buf[len(buf) - keep :]
        return False

    def _thinking(self) -> bool:
        buf = self._buf
        end = buf.find(_THINK_CLOSE)
        if end >= 0:
            if end:
                self._out.thinking(buf[:end])
            self._buf = buf[end + len(_THINK_CLOSE) :]
            self._mode = "text"
            return True
        keep = _partial(buf, _THINK_CLOSE)
        if len(buf) > keep:
            self._out.thinking(buf[: len(buf) - keep])
            self._buf = buf[len(buf) - keep :]
        return False

    def _call(self) -> bool:
        end = self._buf.lower().find(_INVOKE_END)
        if end < 0:
            return False
        capture = self._buf[: end + len(_INVOKE_END)]
        self._buf = self._buf[end + len(_INVOKE_END) :]
        self._mode = "text"
        match = _INVOKE.search(capture)
        if match is None:
            self._out.text(self._trigger + capture)
            return True
        name = html.unescape(match.group(1))
        self._out.tool_call(name, orjson.dumps(self._arguments(name, match.group(2))).decode())
        return True

    def _arguments(self, tool: str, body: str) -> dict[str, Any]:
        props = self._tools.get(tool, {}).get("properties")
        props = obj(props)
        args: dict[str, Any] = {}
        for match in _PARAM.finditer(body):
            key, raw = html.unescape(match.group(1)), match.group(2)
            info = props.get(key)
            kind = info.get("type") if isinstance(info, dict) else None
            args[key] = _value(raw, kind)
        return args


def _value(raw: str, kind: Any) -> Any:
    # A string parameter keeps its text (minus the newlines around it); others
    # are JSON when they parse, so numbers and objects keep their types.
    if kind == "string":
        return raw.removeprefix("\n").removesuffix("\n")
    stripped = raw.strip()
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return stripped


def _partial(buf: str, marker: str) -> int:
    """Return the length of the longest end of ``buf`` that starts ``marker``."""
    for n in range(min(len(marker) - 1, len(buf)), 0, -1):
        if marker.startswith(buf[-n:]):
            return n
    return 0
