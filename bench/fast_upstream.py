"""The benchmarks' upstream: a raw asyncio server answering one fixed reply.

The proxy benchmarks run proxy, load generator and upstream on the same two
cores, so whatever the upstream spends is taken from the proxy under test
(with ``--workers 2`` most of all). The test double of tests/fakes/upstream.py
records every request and parses it with asyncio streams, about 40 µs of CPU
per request; this server frames requests with httptools and writes reply
bytes built once, at a fraction of that. The replies are the test double's own
(`messages_json_reply`, `messages_sse_reply`), byte for byte.

    python bench/fast_upstream.py --mode messages-sse --deltas 44

prints ``READY <url>`` once listening and serves until SIGTERM or
``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import httptools
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.upstream import (  # noqa: E402
    chat_json_reply,
    chat_sse_reply,
    messages_json_reply,
    messages_sse_reply,
)

__all__ = ("main", "reply_bytes")


def reply_bytes(mode: str, deltas: int) -> bytes:
    """Return the whole wire form of the reply of a mode."""
    replies = {
        "messages-json": messages_json_reply,
        "messages-sse": lambda: messages_sse_reply(deltas=deltas),
        "chat-json": chat_json_reply,
        "chat-sse": lambda: chat_sse_reply(deltas=deltas),
    }
    return replies[mode]().wire


class _Connection(asyncio.Protocol):
    """Answer every complete request on a keep-alive connection."""

    def __init__(self, reply: bytes) -> None:
        self._reply = reply
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self._transport is not None
            self._transport.close()

    def on_message_complete(self) -> None:
        assert self._transport is not None
        self._transport.write(self._reply)
        if not self._parser.should_keep_alive():
            self._transport.close()


async def _serve(args: argparse.Namespace) -> None:
    reply = reply_bytes(args.mode, args.deltas)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(reply), "127.0.0.1", args.port)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY http://127.0.0.1:{port}", flush=True)
    async with server:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.max_seconds)


def main() -> None:
    """Parse options and serve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--mode", choices=("messages-json", "messages-sse", "chat-json", "chat-sse"), required=True
    )
    parser.add_argument("--deltas", type=int, default=44, help="text deltas per SSE reply")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    uvloop.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
