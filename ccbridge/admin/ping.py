"""GET /api/ping and /api/ping/{id}: how long a channel's upstream takes to answer.

As in the reference: a HEAD request to the channel's base URL (messages
pool) with a 5 s limit; any HTTP answer, whatever its status, counts as
reachable, and the latency is the time until its status line. No key is
sent, so nothing secret can appear in the result.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Final, Literal

import falcon.asgi
import msgspec

from ccbridge.admin import spec
from ccbridge.admin.channels import find_index
from ccbridge.admin.common import reply
from ccbridge.admin.model import ref
from ccbridge.runtime import Runtime
from ccbridge.store.shapes import to_json
from ccbridge.store.snapshot import Channel
from ccbridge.upstream.client import UpstreamClient, UpstreamUnavailable

__all__ = ("OPENAPI_PATHS", "register")

PING_PATH: Final = "/api/ping"
_POOL: Final = "messages"
_TIMEOUT: Final = 5.0


def _d(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


class Ping(msgspec.Struct, kw_only=True):
    """GET /api/ping/{ident}: one channel's answer to a HEAD request."""

    success: Annotated[bool, _d("Whether an HTTP answer came (any status).")]
    latency: Annotated[int, _d("Milliseconds until its status line (or the failure).")]
    status: Annotated[Literal["healthy", "error"], _d("healthy when an HTTP answer came.")]
    error: Annotated[str | msgspec.UnsetType, _d("Why it failed; absent when healthy.")] = (
        msgspec.UNSET
    )


class ChannelPing(Ping, kw_only=True):
    """One entry of GET /api/ping."""

    id: Annotated[int, _d("The channel's index in the messages pool.")]
    channelId: Annotated[str, _d("Its stable id.")]
    name: Annotated[str, _d("Its display name.")]


def _failed(latency: int, error: str) -> Ping:
    return Ping(success=False, latency=latency, status="error", error=error)


async def ping(upstream: UpstreamClient, channel: Channel) -> Ping:
    """Return the reference's ping result of one channel."""
    if not channel.base_url:
        return _failed(0, "no base URL")
    began = time.perf_counter()
    try:
        answer = await upstream.send(
            "HEAD",
            channel.base_url.rstrip("/"),
            {},
            header_timeout=_TIMEOUT,
            insecure_skip_verify=channel.insecure_skip_verify,
        )
    except UpstreamUnavailable as ex:
        return _failed(round((time.perf_counter() - began) * 1000), ex.reason)
    latency = round((time.perf_counter() - began) * 1000)
    answer.close()  # a HEAD answer's connection is not reused
    return Ping(success=True, latency=latency, status="healthy")


class PingResource:
    """Ping every channel of the messages pool, or one of them."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Ping every channel at once; one entry per channel, in pool order."""
        channels = self.rt.snapshot.pool(_POOL)
        results = await asyncio.gather(*(ping(self.rt.upstream, c) for c in channels))
        entries = [
            ChannelPing(
                id=c.index,
                channelId=c.uid,
                name=c.name,
                success=r.success,
                latency=r.latency,
                status=r.status,
                error=r.error,
            )
            for c, r in zip(channels, results, strict=True)
        ]
        reply(resp, to_json(entries))

    async def on_get_one(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, ident: str
    ) -> None:
        """Ping the channel an index or stable id names (404 if none)."""
        channels = self.rt.snapshot.pool(_POOL)
        index = find_index([c.uid for c in channels], ident, req.get_param("channelId"))
        reply(resp, to_json(await ping(self.rt.upstream, channels[index])))


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the ping routes."""
    resource = PingResource(rt)
    app.add_route(PING_PATH, resource)
    app.add_route(PING_PATH + "/{ident}", resource, suffix="one")


def _openapi() -> dict[str, Any]:
    return {
        PING_PATH: {
            "get": spec.operation(
                "Ping every messages channel's base URL",
                "channels",
                ok_schema=spec.array(ref(ChannelPing)),
                errors=(401, 403, 429),
            )
        },
        PING_PATH + "/{ident}": {
            "get": spec.operation(
                "Ping one messages channel's base URL",
                "channels",
                params=[
                    spec.path_param("ident", description="index or stable id", example="0"),
                    spec.query_param("channelId", spec.STR, "stable id (wins over ident)"),
                ],
                ok_schema=ref(Ping),
                errors=(401, 403, 404, 429),
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
