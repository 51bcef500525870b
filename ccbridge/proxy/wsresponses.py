"""GET /v1/responses upgraded to a WebSocket: Responses turns over one socket.

The handshake is authenticated like POST /v1/responses (key from the
headers, permission ``responses``); a refusal is an HTTP answer to the
handshake (401, 403, 426 when the ``responses_websocket`` setting is off)
in the OpenAI error shape. Each ``response.create`` frame is one turn,
served by the relay exactly as a streamed POST /v1/responses: channel
order, failover before the first event, one request-log row per attempt
(transport ``ws``). The turn's SSE events go back as text frames, one
event's data per frame. An error before the first event is one
``{"type": "error", "status": …, "error": {…}}`` frame (what Codex reads as
an HTTP error); the socket stays open for the next turn.

See `wsturns` for what a socket remembers between turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

import falcon
import falcon.asgi

from ccbridge.access.guard import BLOCKED_MESSAGE, AccessGuard
from ccbridge.access.permissions import check_endpoint
from ccbridge.convert.sse import SseParser
from ccbridge.proxy import jsonread, observe
from ccbridge.proxy.errors import ProxyError, openai_body
from ccbridge.proxy.relay import Call
from ccbridge.proxy.resources import Responses
from ccbridge.proxy.wsturns import Conversation, Turn, prewarm_events, turn_request
from ccbridge.store.live import LiveConfig
from ccbridge.store.snapshot import ClientKey

__all__ = ("DENY_SCOPE_KEY", "ResponsesSocket", "denying_send")

Send = Callable[[Mapping[str, Any]], Awaitable[None]]

DENY_SCOPE_KEY: Final = "ccbridge.ws_deny"
_DISABLED = "Responses over WebSocket is turned off on this gateway: use POST /v1/responses"
_CLOSE_POLICY: Final = 1008  # a refused handshake where the server cannot answer in HTTP
_CLOSE_INTERNAL: Final = 1011

log = logging.getLogger("ccbridge")


class _DenyingSend:
    """The ASGI send of a WebSocket scope that can refuse the handshake in HTTP.

    Uses the ASGI ``websocket.http.response`` extension (uvicorn has it);
    after a refusal the close Falcon sends at the end is dropped.
    """

    __slots__ = ("_http", "_send", "denied")

    def __init__(self, scope: Mapping[str, Any], send: Send) -> None:
        self._send = send
        self._http = "websocket.http.response" in (scope.get("extensions") or {})
        self.denied = False

    async def __call__(self, message: Mapping[str, Any]) -> None:
        if not self.denied:
            await self._send(message)

    async def deny(self, ex: ProxyError) -> bool:
        """Answer the handshake with ex as an HTTP error; False if the server cannot."""
        if not self._http:
            return False
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), v.encode()) for k, v in ex.headers.items()]
        await self._send(
            {"type": "websocket.http.response.start", "status": ex.status, "headers": headers}
        )
        await self._send(
            {
                "type": "websocket.http.response.body",
                "body": openai_body(ex.status, ex.message, ex.code),
            }
        )
        self.denied = True
        return True


def denying_send(scope: dict[str, Any], send: Send) -> Send:
    """Return the send for a WebSocket scope; its refusal hook goes into the scope."""
    wrapped = _DenyingSend(scope, send)
    scope[DENY_SCOPE_KEY] = wrapped.deny
    return wrapped


class _Inbox:
    """Reads the socket while turns are served: frames queue, a hang-up is noticed.

    ``disconnected`` is the ``receive`` a turn's ClientWatch waits on, so a
    client that leaves mid-turn stops the relay and its row says 499.
    """

    def __init__(self, ws: falcon.asgi.WebSocket) -> None:
        self.frames: asyncio.Queue[str | None] = asyncio.Queue()
        self.gone = asyncio.Event()
        self._task = asyncio.ensure_future(self._read(ws))

    async def _read(self, ws: falcon.asgi.WebSocket) -> None:
        try:
            while True:
                try:
                    self.frames.put_nowait(await ws.receive_text())
                except falcon.errors.PayloadTypeError:
                    self.frames.put_nowait("")  # a binary frame: answered as a bad frame
        except falcon.errors.WebSocketDisconnected:
            pass
        finally:
            self.gone.set()
            self.frames.put_nowait(None)

    async def disconnected(self) -> Mapping[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class ResponsesSocket(Responses):
    """GET /v1/responses as a WebSocket (the POST responder is inherited)."""

    def __init__(self, *args: Any, live: LiveConfig, guard: AccessGuard) -> None:
        super().__init__(*args)
        self.live = live
        self.guard = guard  # the auth-failure blocking every /v1 request goes through

    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        """Accept the socket and serve its turns until the client leaves."""
        try:
            key = self._handshake(req)
        except ProxyError as ex:
            deny = req.scope.get(DENY_SCOPE_KEY)
            if deny is None or not await deny(ex):
                await ws.close(_CLOSE_POLICY, ex.message[:120])
            return
        await ws.accept()
        inbox = _Inbox(ws)
        conversation = Conversation()
        try:
            while (text := await inbox.frames.get()) is not None:
                if not await self._frame(req, ws, key, inbox, conversation, text):
                    break
        except Exception:  # a bug: say so on the socket, keep the traceback in the log
            log.exception("unhandled error on the Responses WebSocket")
            body = openai_body(500, "internal error in ccbridge", "INTERNAL")
            if await _send_all(ws, [_error_event(500, body)]):
                await ws.close(_CLOSE_INTERNAL)
        finally:
            await inbox.close()

    def _handshake(self, req: falcon.asgi.Request) -> ClientKey:
        address = req.remote_addr or ""
        key = self.auth.identify(req.headers, req.params)
        if key is None:
            if seconds := self.guard.blocked_for(address):
                headers = {"Retry-After": str(seconds)}
                raise ProxyError(429, BLOCKED_MESSAGE, "AUTH_BLOCKED", headers)
            self.guard.record_failure(address)
            raise ProxyError(401, "invalid or missing proxy access key", "INVALID_API_KEY")
        denial = check_endpoint(key, self.ENDPOINT)
        if denial is not None:
            raise ProxyError(403, denial.message, denial.code)
        if not self.live.snapshot.responses_websocket:
            raise ProxyError(426, _DISABLED, "WEBSOCKET_DISABLED")
        return key

    async def _frame(
        self,
        req: falcon.asgi.Request,
        ws: falcon.asgi.WebSocket,
        key: ClientKey,
        inbox: _Inbox,
        conversation: Conversation,
        text: str,
    ) -> bool:
        """Serve one client frame; False once the client is gone."""
        try:
            frame = jsonread.loads(text)
        except ValueError:
            frame = None
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "response.processed":  # Codex's acknowledgement: nothing to do
            return True
        try:
            if not isinstance(frame, dict) or kind != "response.create":
                raise ProxyError(400, "expected a JSON text frame of type 'response.create'")
            body = conversation.expand(turn_request(frame))
            if frame.get("generate") is False:
                return await _send_all(ws, prewarm_events(body, conversation))
            return await self._turn(req, ws, key, inbox, conversation, body)
        except ProxyError as ex:
            return await _send_all(
                ws, [_error_event(ex.status, openai_body(ex.status, ex.message, ex.code))]
            )

    async def _turn(
        self,
        req: falcon.asgi.Request,
        ws: falcon.asgi.WebSocket,
        key: ClientKey,
        inbox: _Inbox,
        conversation: Conversation,
        body: dict[str, Any],
    ) -> bool:
        began = time.monotonic()
        decision = self.auth.admit(key)
        if decision is not None and not decision.allowed:
            raise ProxyError(429, "rate limit exceeded for this key", "RATE_LIMITED")
        raw = json.dumps(body, separators=(",", ":")).encode()
        call = await self._call_for(req, key, raw, body)
        call.request_id = observe.request_id(None)
        call.transport = "ws"
        call.headers = _http_headers(req.headers)
        call.receive = inbox.disconnected
        try:
            reply = await self.relay.run(call)
        except ProxyError as ex:
            observe.failed(call, ex.status, began)
            raise
        observe.finished(call, reply, began)
        if reply.stream is None:  # an error (or a whole body) before any event
            if reply.status == 499:
                return False
            return await _send_all(ws, [_error_event(reply.status, reply.body)])
        return await _relay_events(ws, call, reply.stream, conversation.begin(body))


async def _relay_events(
    ws: falcon.asgi.WebSocket, call: Call, stream: AsyncIterator[bytes], turn: Turn
) -> bool:
    """Send each SSE event's data as one text frame; False if the client left."""
    parser = SseParser()
    try:
        async for chunk in stream:
            for _, data in parser.feed(chunk):
                turn.observe(data)
                await ws.send_text(data.decode("utf-8", "replace"))
    except falcon.errors.WebSocketDisconnected:
        if call.watch is not None:
            call.watch.gone = True  # the row says 499, as for an HTTP client that left
        return False
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    return True


def _http_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the handshake headers an HTTP upstream may see (no WebSocket ones)."""
    return {
        name: value
        for name, value in headers.items()
        if not name.startswith("sec-websocket-")
        and not (name == "openai-beta" and "responses_websockets" in value)
    }


def _error_event(status: int, body: bytes) -> dict[str, Any]:
    """Return the error frame of a turn that failed before its first event."""
    try:
        parsed = jsonread.loads(body)
    except ValueError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        error = json.loads(openai_body(status, body[:2000].decode("utf-8", "replace")))["error"]
    return {"type": "error", "status": status, "error": error}


async def _send_all(ws: falcon.asgi.WebSocket, events: list[dict[str, Any]]) -> bool:
    try:
        for event in events:
            await ws.send_text(json.dumps(event, separators=(",", ":")))
    except falcon.errors.WebSocketDisconnected:
        return False
    return True
