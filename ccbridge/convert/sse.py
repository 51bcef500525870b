"""Incremental server-sent-events parsing and encoding.

:class:`SseParser` takes bytes as the network hands them over (an event may
be split anywhere, even inside a CRLF) and returns whole events. It follows
the WHATWG rules that matter for LLM APIs: LF, CR or CRLF line ends, ``:``
comments, multi-line ``data``, an optional space after the colon.
"""

from __future__ import annotations

from typing import Final

__all__ = ("SseEvent", "SseParser", "encode_event")

SseEvent = tuple[str, bytes]
"""An event's name (``""`` when it had no ``event:`` line) and its data."""

_CR: Final = 13
_COLON: Final = 58
_SPACE: Final = 32


class SseParser:
    """Split a byte stream into ``(event, data)`` pairs."""

    __slots__ = ("_data", "_event", "_tail")

    def __init__(self) -> None:
        self._tail = b""
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Return the events that ``chunk`` completes."""
        buf = self._tail + chunk if self._tail else chunk
        if b"\r" in buf:
            # NOTE(convert): a CR at the very end may be half of a CRLF; keep it back.
            held = buf[-1] == _CR
            if held:
                buf, self._tail = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            end = buf.rfind(b"\n")
            if end < 0:
                self._tail = buf + self._tail if held else buf
                return []
            rest = buf[end + 1 :]
            self._tail = rest + b"\r" if held else rest
        else:
            end = buf.rfind(b"\n")
            if end < 0:
                self._tail = buf
                return []
            self._tail = buf[end + 1 :]
        out: list[SseEvent] = []
        for line in buf[:end].split(b"\n"):
            self._line(line, out)
        return out

    def close(self) -> list[SseEvent]:
        """Return what is left at end of stream, as if a blank line followed."""
        out: list[SseEvent] = []
        tail, self._tail = self._tail.rstrip(b"\r"), b""
        if tail:
            self._line(tail, out)
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[SseEvent]) -> None:
        if not line:
            if self._data:
                out.append((self._event, b"\n".join(self._data)))
                self._data = []
            self._event = ""
            return
        if line[0] == _COLON:
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")


def encode_event(event: str, data: bytes) -> bytes:
    """Return one SSE event with a name line and a single data line."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
