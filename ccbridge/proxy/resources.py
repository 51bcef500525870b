"""Falcon resources of the /v1 proxy and /health.

Each responder authenticates from the in-memory snapshot, applies the /v1
rate limit, parses the body, checks permissions, and hands a `Call` to the
relay. Nothing here awaits the database.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import falcon
import falcon.asgi

from ccbridge.access.auth import ClientAuth
from ccbridge.access.permissions import check_endpoint, check_model
from ccbridge.db.base import Database
from ccbridge.proxy import jsonread, observe
from ccbridge.proxy.errors import ProxyError
from ccbridge.proxy.identity import (
    RequestIdentity,
    claude_identity,
    header_getter,
    responses_identity,
)
from ccbridge.proxy.relay import Call, Relay, Reply
from ccbridge.settings import Settings
from ccbridge.store.live import LiveConfig
from ccbridge.store.snapshot import ClientKey
from ccbridge.store.writer import Writer

__all__ = (
    "ChatCompletions",
    "CountTokens",
    "Gemini",
    "Health",
    "Messages",
    "Models",
    "NotFound",
    "Responses",
    "admitted_key",
    "not_found",
)

_PING_TIMEOUT = 0.8  # seconds: /health answers within 1 s
_MODELS_CREATED = 1704067200  # the reference's fixed `created` value


class _Proxied:
    """Shared request handling of the proxied endpoints."""

    POOL: str
    ENDPOINT: str  # permission name
    LOG_ENDPOINT: str

    def __init__(self, auth: ClientAuth, relay: Relay, writer: Writer, settings: Settings) -> None:
        self.auth = auth
        self.relay = relay
        self.writer = writer
        self.settings = settings

    def _authorise(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> ClientKey:
        key = _authenticate(self.auth, req, resp)
        denial = check_endpoint(key, self.ENDPOINT)
        if denial is not None:
            raise ProxyError(403, denial.message, denial.code)
        refusal = self.auth.spent(key)
        if refusal is not None:
            raise ProxyError(refusal.status, refusal.message, refusal.code)
        return key

    async def _payload(self, req: falcon.asgi.Request) -> tuple[bytes, dict[str, Any]]:
        limit = self.settings.max_request_body_mb * 1024 * 1024
        if (req.content_length or 0) > limit:
            raise ProxyError(
                413, f"request body is larger than {self.settings.max_request_body_mb} MB"
            )
        body = await req.stream.read(limit + 1)
        if len(body) > limit:
            raise ProxyError(
                413, f"request body is larger than {self.settings.max_request_body_mb} MB"
            )
        try:
            payload = jsonread.loads(body)
        except ValueError as ex:
            raise ProxyError(400, f"request body is not valid JSON: {ex}") from None
        if not isinstance(payload, dict):
            raise ProxyError(400, "request body must be a JSON object")
        return body, payload

    def _identity(self, payload: dict[str, Any], req: falcon.asgi.Request) -> RequestIdentity:
        raise NotImplementedError

    def _model(self, payload: dict[str, Any], req: falcon.asgi.Request) -> str:
        model = payload.get("model")
        if not isinstance(model, str) or not model:
            raise ProxyError(400, "'model' is required")
        return model

    def _stream(self, payload: dict[str, Any], req: falcon.asgi.Request) -> bool:
        return payload.get("stream") is True

    async def _call(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, *, counted: bool = True
    ) -> Call:
        key = self._authorise(req, resp)
        body, payload = await self._payload(req)
        return await self._call_for(req, key, body, payload, counted=counted)

    async def _call_for(
        self,
        req: falcon.asgi.Request,
        key: ClientKey,
        body: bytes,
        payload: dict[str, Any],
        *,
        counted: bool = True,
    ) -> Call:
        """Return the Call of a parsed body (also one WebSocket turn's)."""
        model = self._model(payload, req)
        denial = check_model(key, model)
        if denial is not None:
            raise ProxyError(403, denial.message, denial.code)
        if not key.is_master:
            waiting = self.writer.touch_key(key.id, datetime.now(UTC))
            if waiting is not None:  # the writer is full: back-pressure
                await waiting
        return Call(
            pool=self.POOL,
            endpoint=self.LOG_ENDPOINT,
            path=req.path,
            query=req.query_string,
            body=body,
            payload=payload,
            model=model,
            stream=self._stream(payload, req),
            key=key,
            identity=self._identity(payload, req),
            headers=req.headers,
            receive=req.scope.get("ccbridge.receive"),
            counted=counted,
            logged=counted and self.settings.request_logs,
        )

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Proxy the request."""
        await self._serve(req, resp)

    async def _serve(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, *, counted: bool = True
    ) -> None:
        began = time.monotonic()
        rid = observe.request_id(req.get_header(observe.REQUEST_ID_HEADER))
        resp.set_header(observe.REQUEST_ID_HEADER, rid)
        call = await self._call(req, resp, counted=counted)
        call.request_id = rid
        if not counted:
            call.stream = False
        try:
            reply = await self.relay.run(call)
        except ProxyError as ex:
            observe.failed(call, ex.status, began)
            raise
        if any(name.lower() == observe.REQUEST_ID_HEADER for name, _ in reply.headers):
            # A relayed upstream's own id passes unchanged, as before; ours moves aside.
            resp.delete_header(observe.REQUEST_ID_HEADER)
            resp.set_header(observe.OWN_REQUEST_ID_HEADER, rid)
        _apply(observe.finished(call, reply, began), resp)


class Messages(_Proxied):
    """POST /v1/messages (Anthropic Messages API)."""

    POOL = "messages"
    ENDPOINT = "messages"
    LOG_ENDPOINT = "/v1/messages"

    def _identity(self, payload: dict[str, Any], req: falcon.asgi.Request) -> RequestIdentity:
        return claude_identity(payload, header_getter(req.headers, lowered=True))


class CountTokens(Messages):
    """POST /v1/messages/count_tokens, proxied to a claude channel, unlogged."""

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Proxy the count without a log row or quota use."""
        await self._serve(req, resp, counted=False)


class Responses(_Proxied):
    """POST /v1/responses (OpenAI Responses API)."""

    POOL = "responses"
    ENDPOINT = "responses"
    LOG_ENDPOINT = "/v1/responses"

    def _identity(self, payload: dict[str, Any], req: falcon.asgi.Request) -> RequestIdentity:
        return responses_identity(payload, header_getter(req.headers, lowered=True))


class ChatCompletions(_Proxied):
    """POST /v1/chat/completions (OpenAI Chat Completions)."""

    POOL = "chat"
    ENDPOINT = "chat"
    LOG_ENDPOINT = "/v1/chat/completions"

    def _identity(self, payload: dict[str, Any], req: falcon.asgi.Request) -> RequestIdentity:
        return responses_identity(payload, header_getter(req.headers, lowered=True))


_GEMINI_ACTIONS = frozenset({"generateContent", "streamGenerateContent"})


class Gemini(_Proxied):
    """POST /v1/models/{model}:{action}, /v1/gemini/models/…, /v1beta/models/… (Gemini).

    The model and whether to stream come from the path; the key may also
    come in ``x-goog-api-key`` or ``?key=`` (never forwarded upstream).
    """

    POOL = "gemini"
    ENDPOINT = "gemini"
    LOG_ENDPOINT = "/v1/gemini"

    def _identity(self, payload: dict[str, Any], req: falcon.asgi.Request) -> RequestIdentity:
        return RequestIdentity()

    def _model(self, payload: dict[str, Any], req: falcon.asgi.Request) -> str:
        model, _, action = req.path.rpartition("/")[2].partition(":")
        if not model or action not in _GEMINI_ACTIONS:
            raise not_found(req)
        return model

    def _stream(self, payload: dict[str, Any], req: falcon.asgi.Request) -> bool:
        return req.path.endswith(":streamGenerateContent")

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, action: str = ""
    ) -> None:
        """Proxy the request."""
        await super().on_post(req, resp)


class Models:
    """GET /v1/models: the priced models, in the reference's format."""

    def __init__(self, auth: ClientAuth, live: LiveConfig) -> None:
        self.auth = auth
        self.live = live

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """List the exported models."""
        _authenticate(self.auth, req, resp)
        models = self.live.snapshot.pricing.exported_models()
        data = [
            {"id": m, "object": "model", "created": _MODELS_CREATED, "owned_by": "cc-bridge"}
            for m in models
        ]
        resp.media = {"object": "list", "data": data}


class Health:
    """GET /health: liveness, database reachability, config revision."""

    def __init__(self, db: Database, live: LiveConfig, writer: Writer, settings: Settings) -> None:
        self.db = db
        self.live = live
        self.writer = writer
        self.settings = settings

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Report health without authentication."""
        try:
            # An answer within a second whatever the database does (a hung
            # server, an exhausted pool): a health check must not hang.
            async with asyncio.timeout(_PING_TIMEOUT):
                await self.db.ping()
            database = "ok"
        except TimeoutError:
            database = f"unreachable: no answer within {_PING_TIMEOUT:g}s"
        except Exception as ex:  # health must answer whatever the failure
            database = f"unreachable: {type(ex).__name__}"
        resp.status = 200 if database == "ok" else 503
        resp.media = {
            "status": "healthy" if database == "ok" else "degraded",
            "database": database,
            "databaseType": self.settings.database_type,
            "configRevision": self.live.snapshot.revision,
            "pendingWrites": self.writer.pending,
        }


class NotFound:
    """Any other /v1 path, or a /v1 route with a wrong method: 404 in JSON."""

    async def __call__(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response | None, **_: Any
    ) -> None:
        raise not_found(req)


def not_found(req: falcon.asgi.Request) -> ProxyError:
    """Return the error answering a request no /v1 responder serves."""
    return ProxyError(404, f"API endpoint not found: {req.method} {req.path}", "NOT_FOUND")


def _authenticate(
    auth: ClientAuth, req: falcon.asgi.Request, resp: falcon.asgi.Response
) -> ClientKey:
    """Return the client key of a /v1 request, counted against its limit."""
    key, headers = admitted_key(auth, req)
    if headers:
        resp.set_headers(headers)
    return key


def admitted_key(auth: ClientAuth, req: falcon.asgi.Request) -> tuple[ClientKey, dict[str, str]]:
    """Return the client key of a request and its rate-limit headers (ProxyError if refused)."""
    key = auth.identify(req.headers, req.params)
    if key is None:
        raise ProxyError(401, "invalid or missing proxy access key", "INVALID_API_KEY")
    refusal = auth.expired(key)
    if refusal is not None:
        raise ProxyError(refusal.status, refusal.message, refusal.code)
    decision = auth.admit(key)
    if decision is None:
        return key, {}
    if not decision.allowed:
        raise ProxyError(
            429, "rate limit exceeded for this key", "RATE_LIMITED", decision.headers()
        )
    return key, dict(decision.headers())


def _apply(reply: Reply, resp: falcon.asgi.Response) -> None:
    resp.status = reply.status
    for name, value in reply.headers:
        resp.append_header(name, value)
    if reply.stream is not None:
        resp.stream = reply.stream
    else:
        resp.data = reply.body
