"""A whole answer gathered from an upstream stream, for a client that did not stream.

Some upstreams answer only as a stream (the Codex backend of ``openai-oauth``
channels): the relay asks them to stream and gathers the events into the
neutral :class:`Response`, which the client's response encoder renders as
one body.
"""

from __future__ import annotations

from ccbridge.convert.ir import (
    ConversionError,
    Response,
    StopReason,
    Text,
    Thinking,
    ToolCall,
    Usage,
)
from ccbridge.convert.sse import SseParser
from ccbridge.convert.stream import StreamDecoder

__all__ = ("ResponseCollector", "collect_stream")


class ResponseCollector:
    """A stream sink that builds the neutral response of a whole stream."""

    __slots__ = ("_tools", "errored", "finished", "model", "parts", "reason", "totals")

    def __init__(self) -> None:
        self.parts: list[Text | Thinking | ToolCall] = []
        self._tools: dict[str, ToolCall] = {}
        self.totals = Usage()
        self.model = ""
        self.reason: StopReason | None = None
        self.finished = False
        self.errored = ""

    def meta(self, response_id: str, model: str) -> None:
        self.model = self.model or model

    def text(self, text: str) -> None:
        last = self.parts[-1] if self.parts else None
        if isinstance(last, Text):
            last.text += text
        elif text:
            self.parts.append(Text(text))

    def thinking(self, text: str) -> None:
        self._thought().text += text

    def signature(self, signature: str) -> None:
        self._thought().signature += signature

    def tool_start(self, key: str, call_id: str, name: str) -> None:
        call = self._tools[key] = ToolCall(call_id, name, "")
        self.parts.append(call)

    def tool_args(self, key: str, fragment: str) -> None:
        call = self._tools.get(key)
        if call is None:
            self.tool_start(key, key, "")
            call = self._tools[key]
        call.arguments += fragment

    def usage(self, usage: Usage) -> None:
        self.totals.merge(usage)

    def stop(self, reason: StopReason | None) -> None:
        if reason is not None:
            self.reason = reason

    def finish(self) -> None:
        self.finished = True

    def error(self, kind: str, message: str) -> None:
        self.errored = f"{kind}: {message}"

    def _thought(self) -> Thinking:
        last = self.parts[-1] if self.parts else None
        if isinstance(last, Thinking):
            return last
        thought = Thinking()
        self.parts.append(thought)
        return thought


def collect_stream(raw: bytes, decoder: StreamDecoder, response_id: str) -> Response:
    """Return the neutral response of a whole upstream SSE body.

    Raises:
        ConversionError: the stream carries an error event or never finishes.
    """
    sink = ResponseCollector()
    parser = SseParser()
    for name, data in parser.feed(raw + b"\n\n"):
        decoder.event(name, data, sink)
    decoder.end(sink)
    if sink.errored:
        raise ConversionError(f"upstream stream reported {sink.errored}")
    if not sink.finished:
        raise ConversionError("upstream stream ended without its terminal event")
    for part in sink.parts:
        if isinstance(part, ToolCall) and not part.arguments:
            part.arguments = "{}"
    return Response(response_id, sink.model, sink.parts, sink.reason, sink.totals)
