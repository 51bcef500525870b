"""Prompt-emulated tool calls (``openai_chat``) on the response side."""

from __future__ import annotations

from ccbridge.convert.ir import Response, StopReason, Text, Thinking, Tool, ToolCall, Usage
from ccbridge.convert.sink import StreamSink
from ccbridge.convert.toolprompt import ToolTextParser

__all__ = ("EmulatedToolsSink", "extract_tool_calls")


class EmulatedToolsSink:
    """A sink in front of another: answer text goes through the call parser."""

    __slots__ = ("_calls", "_id_prefix", "_inner", "_parser")

    def __init__(
        self, inner: StreamSink, *, trigger: str, tools: list[Tool], thinking: bool, id_prefix: str
    ) -> None:
        self._inner = inner
        self._id_prefix = id_prefix
        self._calls = 0
        self._parser = ToolTextParser(
            _Forward(self), trigger=trigger, tools=tools, thinking=thinking
        )

    def found_call(self, name: str, arguments: str) -> None:
        """Send a call the parser found as a tool_use block."""
        self._calls += 1
        call_id = f"{self._id_prefix}{self._calls}"
        self._inner.tool_start(call_id, call_id, name)
        self._inner.tool_args(call_id, arguments)

    def meta(self, response_id: str, model: str) -> None:
        self._inner.meta(response_id, model)

    def text(self, text: str) -> None:
        self._parser.feed(text)

    def thinking(self, text: str) -> None:
        self._inner.thinking(text)

    def signature(self, signature: str) -> None:
        self._inner.signature(signature)

    def tool_start(self, key: str, call_id: str, name: str) -> None:
        self._inner.tool_start(key, call_id, name)

    def tool_args(self, key: str, fragment: str) -> None:
        self._inner.tool_args(key, fragment)

    def usage(self, usage: Usage) -> None:
        self._inner.usage(usage)

    def stop(self, reason: StopReason | None) -> None:
        self._inner.stop(reason)

    def finish(self) -> None:
        self._parser.close()
        self._inner.finish()

    def error(self, kind: str, message: str) -> None:
        self._parser.close()
        self._inner.error(kind, message)

    def parsed_text(self, text: str) -> None:
        """Send text the parser released to the inner sink."""
        self._inner.text(text)

    def parsed_thinking(self, text: str) -> None:
        """Send thinking the parser found to the inner sink."""
        self._inner.thinking(text)


class _Forward:
    """The parser's output side of :class:`EmulatedToolsSink`."""

    __slots__ = ("_sink",)

    def __init__(self, sink: EmulatedToolsSink) -> None:
        self._sink = sink

    def text(self, text: str) -> None:
        self._sink.parsed_text(text)

    def thinking(self, text: str) -> None:
        self._sink.parsed_thinking(text)

    def tool_call(self, name: str, arguments: str) -> None:
        self._sink.found_call(name, arguments)


class _Parts:
    """Collects parser output as response parts."""

    def __init__(self, id_prefix: str) -> None:
        self.parts: list[Text | Thinking | ToolCall] = []
        self._prefix = id_prefix

    def text(self, text: str) -> None:
        if self.parts and isinstance(self.parts[-1], Text):
            self.parts[-1].text += text
        else:
            self.parts.append(Text(text))

    def thinking(self, text: str) -> None:
        if self.parts and isinstance(self.parts[-1], Thinking):
            self.parts[-1].text += text
        else:
            self.parts.append(Thinking(text))

    def tool_call(self, name: str, arguments: str) -> None:
        n = sum(isinstance(p, ToolCall) for p in self.parts) + 1
        self.parts.append(ToolCall(f"{self._prefix}{n}", name, arguments))


def extract_tool_calls(
    response: Response, *, trigger: str, tools: list[Tool], thinking: bool, id_prefix: str
) -> Response:
    """Return ``response`` with calls written in its text turned into tool calls."""
    out = _Parts(id_prefix)
    parser = ToolTextParser(out, trigger=trigger, tools=tools, thinking=thinking)
    for part in response.parts:
        if isinstance(part, Text):
            parser.feed(part.text)
        else:
            parser.close()
            out.parts.append(part)
    parser.close()
    response.parts = out.parts
    return response
