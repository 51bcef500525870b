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
_LF: Final = 10
_COLON: Final = 58


class SseParser:
    """Split a byte stream into ``(event, data)`` pairs."""

    __slots__ = ("_data", "_event", "_skip_lf", "_tail")

    def __init__(self) -> None:
        self._tail = b""
        self._event = ""
        self._data: list[bytes] = []
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Return the events that ``chunk`` completes."""
        if (
            not self._tail
            and not self._data
            and not self._event
            and not self._skip_lf
            and chunk[:6] == b"data: "
            and chunk[-2:] == b"\n\n"
            and chunk.count(b"\n") == 2
            and b"\r" not in chunk
        ):
            # PERF(convert): most chunks are exactly one `data:` event.
            return [("", chunk[6:-2])]
        if self._skip_lf and chunk:
            # NOTE(convert): the last chunk ended in CR, already taken as a line
            # end; an LF now is the second half of that CRLF.
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
        buf = self._tail + chunk if self._tail else chunk
        if b"\r" in buf:
            self._skip_lf = buf[-1] == _CR
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
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
        tail, self._tail = self._tail, b""
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
