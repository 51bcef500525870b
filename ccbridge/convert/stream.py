"""Upstream SSE bytes in, client SSE bytes out: one object per stream.

:class:`StreamConverter` joins an :class:`~ccbridge.convert.sse.SseParser`,
an upstream decoder and a client writer. The relay feeds it whatever chunks
the socket gives and writes out whatever it returns; nothing waits for the
end of the answer.
"""

from __future__ import annotations

from typing import Final, Protocol

from ccbridge.convert.ir import StopReason, Usage
from ccbridge.convert.sink import StreamSink
from ccbridge.convert.sse import SseParser

__all__ = ("ClientWriter", "StreamConverter", "StreamDecoder")

_KEEPALIVE: Final = b": keep-alive\n\n"


class StreamDecoder(Protocol):
    """Reads one upstream API's SSE events."""

    def event(self, name: str, data: bytes, sink: StreamSink) -> None:
        """Handle one event."""

    def end(self, sink: StreamSink) -> None:
        """Handle upstream EOF (finish the answer if the API has no end marker)."""


class ClientWriter(StreamSink, Protocol):
    """A sink that renders one client API's stream and reports its state."""

    def take(self) -> bytes:
        """Return the bytes written since the last call."""

    @property
    def started(self) -> bool:
        """Whether any byte was written."""

    @property
    def has_content(self) -> bool:
        """Whether content was written (past the failover point)."""

    @property
    def done(self) -> bool:
        """Whether the stream ended (finished or errored)."""

    @property
    def errored(self) -> bool:
        """Whether the stream ended with an error."""

    @property
    def totals(self) -> Usage:
        """Usage seen so far."""

    @property
    def model(self) -> str:
        """The response model (the upstream's when it named one)."""

    @property
    def stop_reason(self) -> StopReason:
        """The stop reason the client is told."""


class StreamConverter:
    """Convert one upstream stream to a client API's SSE.

    Attributes the relay reads: :attr:`started` (bytes went out),
    :attr:`has_content` (a content block began: past the failover point),
    :attr:`usage`, :attr:`model`, :attr:`terminal` (the answer ended
    properly) and :attr:`errored`.
    """

    __slots__ = ("_decoder", "_parser", "_sink", "_writer")

    def __init__(
        self, decoder: StreamDecoder, writer: ClientWriter, sink: StreamSink | None = None
    ) -> None:
        self._parser = SseParser()
        self._decoder = decoder
        self._writer = writer
        self._sink: StreamSink = sink if sink is not None else writer

    def feed(self, chunk: bytes) -> bytes:
        """Return the client bytes that ``chunk`` completes (often ``b""``)."""
        writer, decoder, sink = self._writer, self._decoder, self._sink
        for name, data in self._parser.feed(chunk):
            if writer.done:
                break
            decoder.event(name, data, sink)
        return writer.take()

    def close(self) -> bytes:
        """Handle upstream EOF and return the last bytes.

        If :attr:`terminal` is still false afterwards the upstream was cut:
        call :meth:`fail` when output began, else fail over.
        """
        for name, data in self._parser.close():
            if self._writer.done:
                break
            self._decoder.event(name, data, self._sink)
        if not self._writer.done:
            self._decoder.end(self._sink)
        return self._writer.take()

    def keepalive(self) -> bytes:
        """Return bytes that keep an idle connection open without changing the answer.

        An SSE comment: every client's parser skips it wherever it falls, so
        it may go out before the first event too.
        """
        return b"" if self._writer.done else _KEEPALIVE

    def fail(self, message: str, kind: str = "api_error") -> bytes:
        """Return an ``event: error`` that ends the stream (once)."""
        self._writer.error(kind, message)
        return self._writer.take()

    @property
    def started(self) -> bool:
        return self._writer.started

    @property
    def has_content(self) -> bool:
        return self._writer.has_content

    @property
    def usage(self) -> Usage:
        return self._writer.totals

    @property
    def model(self) -> str:
        return self._writer.model

    @property
    def stop_reason(self) -> StopReason:
        return self._writer.stop_reason

    @property
    def terminal(self) -> bool:
        return self._writer.done and not self._writer.errored

    @property
    def errored(self) -> bool:
        return self._writer.errored
