"""The neutral stream interface between upstream decoders and client writers.

An upstream decoder reads one API's stream events and calls a
:class:`StreamSink`; a client writer implements it and renders another API's
events. Calls, not event objects, keep the per-delta cost to one method call.
"""

from __future__ import annotations

from typing import Protocol

from ccbridge.convert.ir import StopReason, Usage

__all__ = ("StreamSink",)


class StreamSink(Protocol):
    """What an upstream stream decoder reports, in arrival order."""

    def meta(self, response_id: str, model: str) -> None:
        """Record the upstream response id and model (empty when unknown)."""

    def text(self, text: str) -> None:
        """Append answer text."""

    def thinking(self, text: str) -> None:
        """Append reasoning text."""

    def signature(self, signature: str) -> None:
        """Sign the reasoning just sent (opens an empty one if none is open)."""

    def tool_start(self, key: str, call_id: str, name: str) -> None:
        """Open a tool call; ``key`` names it in later :meth:`tool_args` calls."""

    def tool_args(self, key: str, fragment: str) -> None:
        """Append a fragment of a tool call's JSON arguments."""

    def usage(self, usage: Usage) -> None:
        """Record usage so far; zero fields leave earlier values alone."""

    def stop(self, reason: StopReason | None) -> None:
        """Record why the upstream stopped (the stream may still carry usage)."""

    def finish(self) -> None:
        """End the answer: the upstream's terminal event arrived."""

    def error(self, kind: str, message: str) -> None:
        """End the answer with an error (an Anthropic error type in ``kind``)."""
