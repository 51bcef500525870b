"""One Responses turn sent to an upstream WebSocket, read like an SSE response.

A channel with ``responsesWebSocketEnabled`` serves a WebSocket client's turn
over a WebSocket of its own (``ws(s)://…/responses``, the POST URL's scheme
swapped): the ``response.create`` frame goes out, and each event frame comes
back as one SSE event, so the relay's usage tap, failover and logging apply
unchanged. An ``error`` frame with an HTTP status before the first event is
that HTTP error (the failover rules decide it); a close before the turn's
last event is a broken body. One upstream socket per turn: the client's
socket keeps the conversation (`ccbridge.proxy.wsturns`), so the upstream
needs no state between turns.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator
from typing import Any, Final

import aiohttp

from ccbridge.upstream.client import HeaderPairs, UpstreamResponse, UpstreamUnavailable
from ccbridge.upstream.client import _describe as describe_error
from ccbridge.upstream.client import _host_of as host_of
from ccbridge.upstream.client import _secret_values as secret_values
from ccbridge.upstream.deadlines import Deadlines

__all__ = ("BETA_HEADER", "send_turn", "websocket_url")

BETA_HEADER: Final = ("OpenAI-Beta", "responses_websockets=2026-02-06")
# The events that end a turn (Codex stops reading at them).
_LAST: Final = frozenset({"response.completed", "response.failed", "response.incomplete", "error"})
_TYPE_RE: Final = re.compile(r'"type"\s*:\s*"([^"\\]{1,64})"')
# Request headers of the POST that a WebSocket handshake must not carry.
_HTTP_ONLY: Final = frozenset(
    {"content-length", "content-type", "content-encoding", "accept-encoding", "connection", "host"}
)
_closing: set[asyncio.Future[Any]] = set()  # closes in flight, kept from the collector


def websocket_url(url: str) -> str:
    """Return the WebSocket URL of an http(s) Responses URL."""
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    return "ws://" + url.removeprefix("http://")


def _kind(text: str) -> str:
    match = _TYPE_RE.search(text, 0, 256)
    return match.group(1) if match else ""


class WebSocketTurn(UpstreamResponse):
    """The events of one turn, as an SSE body; or the HTTP error that refused it."""

    __slots__ = ("_body", "_first", "_ws")

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse | None,
        url: str,
        sent: HeaderPairs,
        *,
        status: int = 200,
        first: str = "",
        body: bytes = b"",
    ) -> None:
        self.status = status
        self.headers = ()
        self._url = url
        self._sent = sent
        self._ws = ws
        self._first = first
        self._body = body

    def __repr__(self) -> str:
        return f"<WebSocketTurn {self.status} from {host_of(self._url)}>"

    def header(self, name: str) -> str | None:
        """Return no header: a turn's events carry everything."""
        return None

    @property
    def content_type(self) -> str | None:
        """Return the type of what `iter_chunks` yields."""
        return "text/event-stream" if self.status == 200 else "application/json"

    @property
    def content_encoding(self) -> str | None:
        """Return None: frames are never encoded."""
        return None

    async def iter_chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield each event frame as one SSE event, up to the turn's last event.

        Raises:
            UpstreamUnavailable: The socket closed or broke before that event.
        """
        ws, text = self._ws, self._first
        try:
            while True:
                kind = _kind(text)
                yield (
                    f"event: {kind}\ndata: {text}\n\n".encode()
                    if kind
                    else f"data: {text}\n\n".encode()
                )
                if kind in _LAST or ws is None:
                    return
                message = await ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    reason = "websocket closed before the turn's last event"
                    raise UpstreamUnavailable(host_of(self._url), "body", reason)
                text = message.data
        finally:
            self.close()

    async def read(self) -> bytes:
        """Return the error body of a refused turn (a stream has none)."""
        return self._body

    def release(self) -> None:
        """Close the upstream socket (one per turn)."""
        self.close()

    def close(self) -> None:
        """Close the upstream socket now."""
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            task = asyncio.ensure_future(ws.close())
            _closing.add(task)
            task.add_done_callback(_closing.discard)


async def send_turn(
    session: aiohttp.ClientSession,
    url: str,
    pairs: HeaderPairs,
    body: bytes,
    *,
    ssl: Any,
    deadlines: Deadlines,
    header_timeout: float,
) -> UpstreamResponse:
    """Open the upstream socket, send the turn, wait for its first event.

    Raises:
        UpstreamUnavailable: No connection, no handshake or no first event
            in time: nothing reached the client, the next key may serve.
    """
    headers = [(n, v) for n, v in pairs if n.lower() not in _HTTP_ONLY]
    if not any(n.lower() == "openai-beta" and "responses_websockets" in v for n, v in headers):
        headers = [(n, v) for n, v in headers if n.lower() != "openai-beta"] + [BETA_HEADER]
    frame = {"type": "response.create", **json.loads(body)}
    host, secrets = host_of(url), secret_values(pairs)
    ws: aiohttp.ClientWebSocketResponse | None = None
    try:
        with deadlines.within(header_timeout):
            ws = await session.ws_connect(websocket_url(url), headers=headers, ssl=ssl)
            await ws.send_str(json.dumps(frame, separators=(",", ":")))
            message = await ws.receive()
    except aiohttp.WSServerHandshakeError as ex:
        error = {"message": f"websocket handshake refused: {ex.status} {ex.message}"}
        return WebSocketTurn(
            None, url, pairs, status=ex.status, body=json.dumps({"error": error}).encode()
        )
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as ex:
        raise UpstreamUnavailable(host, "connect", describe_error(ex, secrets)) from None
    except TimeoutError:
        if ws is not None:
            await ws.close()
        raise UpstreamUnavailable(
            host, "headers", f"no first event within {header_timeout:g}s"
        ) from None
    except (aiohttp.ClientError, OSError, ValueError) as ex:
        raise UpstreamUnavailable(host, "headers", describe_error(ex, secrets)) from None
    if message.type is not aiohttp.WSMsgType.TEXT:
        await ws.close()
        raise UpstreamUnavailable(host, "body", "websocket closed before its first event")
    refused = _refusal(message.data)
    if refused is not None:
        await ws.close()
        status, error_body = refused
        return WebSocketTurn(None, url, pairs, status=status, body=error_body)
    return WebSocketTurn(ws, url, pairs, first=message.data)


def _refusal(text: str) -> tuple[int, bytes] | None:
    """Return (status, OpenAI error body) of a first frame that is an HTTP error."""
    if _kind(text) != "error":
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    status = event.get("status", event.get("status_code")) if isinstance(event, dict) else None
    if not isinstance(status, int) or status < 400:
        return None
    error = event.get("error") if isinstance(event.get("error"), dict) else {"message": text}
    return status, json.dumps({"error": error}).encode()
