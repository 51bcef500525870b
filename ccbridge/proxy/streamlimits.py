"""Bounds on a relayed stream, and the error event that ends a cut one.

An upstream that goes silent mid-stream would hold the client until the
client gives up, so every chunk must come within the idle timeout
(``STREAM_IDLE_TIMEOUT``) and the whole stream within the overall limit
(``STREAM_MAX_DURATION``). Either firing is a broken body, as a dropped
connection is: before any byte reached the client the next key serves,
after it the client gets the API's own error event and the stream ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator

from ccbridge.proxy.usage import StreamProtocol
from ccbridge.upstream.client import UpstreamUnavailable
from ccbridge.upstream.deadlines import Deadlines

__all__ = ("bounded_chunks", "error_event")


async def bounded_chunks(
    chunks: AsyncGenerator[bytes, None],
    deadlines: Deadlines,
    host: str,
    *,
    idle: float,
    overall: float,
) -> AsyncIterator[bytes]:
    """Yield ``chunks``; raise UpstreamUnavailable when one is too late.

    Args:
        chunks: The upstream body, chunk by chunk.
        deadlines: The process's swept deadlines (no loop timer per chunk).
        host: The upstream, for the error message.
        idle: Seconds allowed between two chunks.
        overall: Seconds allowed for the whole stream.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + overall
    while True:
        left = end - loop.time()
        wait = min(idle, left)
        try:
            with deadlines.within(max(wait, 0.0)):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            await chunks.aclose()
            if wait < idle:
                reason = f"stream exceeded its overall limit of {overall:g}s"
            else:
                reason = f"stream idle timeout: no data for {idle:g}s"
            raise UpstreamUnavailable(host, "body", reason) from None
        yield chunk


def error_event(protocol: StreamProtocol, message: str, *, chat: bool = False) -> bytes:
    """Return the API's own stream error event carrying ``message``.

    Anthropic streams end with ``event: error``; Responses streams with
    ``response.failed`` (what Codex treats as a failed turn); Chat and Gemini
    streams with a bare ``data: {"error": …}``.
    """
    if protocol is StreamProtocol.CLAUDE:
        name = "error"
        data = {"type": "error", "error": {"type": "api_error", "message": message}}
    elif chat:  # a Chat Completions stream: an error object, as OpenAI sends one
        bare: dict[str, object] = {"message": message, "type": "server_error", "code": None}
        return f"data: {json.dumps({'error': bare}, separators=(',', ':'))}\n\n".encode()
    elif protocol is StreamProtocol.GEMINI:  # Gemini streams carry no event names
        bare = {"code": 502, "message": message, "status": "UNAVAILABLE"}
        return f"data: {json.dumps({'error': bare}, separators=(',', ':'))}\n\n".encode()
    else:
        name = "response.failed"
        error = {"code": "server_error", "message": message}
        response = {"object": "response", "status": "failed", "error": error}
        data = {"type": "response.failed", "response": response}
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
