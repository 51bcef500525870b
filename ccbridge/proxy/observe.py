"""Observability of the proxied requests: request ids, the access log, GET /metrics.

Each proxied request gets a request id: the client's `x-request-id` when it
is sane (1 to 128 characters of letters, digits and `._:-`), else a new
one. It is answered in `x-request-id` (in `x-ccbridge-request-id` when a
relayed stream carries the upstream's own `x-request-id`, which passes
unchanged) and stored in each log row of the request. When the request
ends (a stream: when its last byte went out and its record settled) one
access line goes to the `ccbridge.access` logger:
request id, endpoint, model, channel, status, duration and tokens, never a
header or a body, so never a secret.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Final

import falcon
import falcon.asgi

from ccbridge import metrics
from ccbridge.logsetup import ACCESS_LOGGER
from ccbridge.proxy.relay import Call, Reply

__all__ = ("MetricsResource", "finished", "request_id")

REQUEST_ID_HEADER: Final = "x-request-id"
OWN_REQUEST_ID_HEADER: Final = "x-ccbridge-request-id"  # when the upstream's is relayed
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

access_log = logging.getLogger(ACCESS_LOGGER)


def request_id(given: str | None) -> str:
    """Return the client's request id when sane, else a new one."""
    if given and _SANE_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def finished(call: Call, reply: Reply, began: float) -> Reply:
    """Log a whole answer now; wrap a stream to count it open and log it at its end."""
    if reply.stream is None:
        log_access(call, reply.status, began)
        return reply
    reply.stream = _observed(reply.stream, call, reply.status, began)
    return reply


def failed(call: Call, status: int, began: float) -> None:
    """Log a request the relay refused with an error."""
    log_access(call, status, began)


async def _observed(
    stream: AsyncIterator[bytes], call: Call, status: int, began: float
) -> AsyncIterator[bytes]:
    metrics.stream_opened()
    try:
        async for chunk in stream:
            yield chunk
    finally:
        metrics.stream_closed()
        close = getattr(stream, "aclose", None)
        if close is not None:  # settles its record now, not when collected
            await close()
        record = call.current
        log_access(call, record.http_status if record is not None else status, began)


def log_access(call: Call, status: int, began: float) -> None:
    """Write the access line of a finished request."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    record = call.current
    channel = record.channel if record is not None else None
    fields = {
        "request_id": call.request_id,
        "endpoint": call.endpoint,
        "model": call.model,
        "channel": channel.name if channel is not None else "",
        "status": status,
        "duration_ms": int((time.monotonic() - began) * 1000),
        "input_tokens": record.input_tokens if record is not None else 0,
        "output_tokens": record.output_tokens if record is not None else 0,
    }
    access_log.info("request", extra={"fields": fields})


class MetricsResource:
    """GET /metrics: the Prometheus text format, behind an optional bearer token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Answer every metric (all workers' together)."""
        if self._token:
            given = (req.get_header("Authorization") or "").removeprefix("Bearer ").encode()
            if not hmac.compare_digest(given, self._token):
                resp.status = 401
                resp.set_header("WWW-Authenticate", "Bearer")
                resp.content_type = falcon.MEDIA_TEXT
                resp.data = b"metrics token required\n"
                return
        resp.content_type = metrics.CONTENT_TYPE
        resp.data = metrics.render()
