"""What channels are doing: metrics, scheduler state, usage, mapping, models.

Metrics and scheduler state are this instance's in-memory view (circuit
breaker, affinity, suspensions); usage comes from the shared
``channel_usage`` table. Usage reset also lifts the channel's suspension.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import falcon.asgi

from ccbridge.admin import spec
from ccbridge.admin.channel_views import ChannelHealth, QuotaStatus
from ccbridge.admin.channels import POOL_PATHS, find_channel, find_index, pool_rows
from ccbridge.admin.common import AdminError, read_config, reply
from ccbridge.admin.model import ref
from ccbridge.admin.validate import choice, text
from ccbridge.routing.scheduler import SERVED_SERVICE_TYPES
from ccbridge.runtime import Runtime
from ccbridge.store.mapping import redirect_channel_model
from ccbridge.store.shapes import to_json
from ccbridge.store.snapshot import POOLS, Channel
from ccbridge.upstream.client import UpstreamUnavailable, auth_header, claude_url
from generated.dao import Daos
from generated.rows import ChannelsRow, ChannelUsageRow

__all__ = ("CURRENT_PATH", "OPENAPI_PATHS", "ChannelInfoResource", "register")

CURRENT_PATH: Final = "/api/messages/channels/current"
_UNITS: Final = {
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
    "months": timedelta(days=30),
}
_MODELS_TIMEOUT: Final = 15.0
_MAX_MODELS_BODY: Final = 4 << 20


def _next_reset(row: ChannelsRow, last_reset: datetime | None, now: datetime) -> datetime | None:
    unit = _UNITS.get(row.quota_reset_unit or "")
    if unit is None or not row.quota_reset_interval:
        return None
    interval = unit * row.quota_reset_interval
    if (row.quota_reset_mode or "fixed") == "rolling":
        return last_reset + interval if last_reset is not None else None
    anchor = row.quota_reset_at
    if anchor is None or now < anchor:
        return anchor
    return anchor + ((now - anchor) // interval + 1) * interval


def usage_status(
    row: ChannelsRow, index: int, usage: ChannelUsageRow | None, now: datetime
) -> QuotaStatus:
    """Return the reference's quota status of a channel."""
    limit = row.quota_limit or 0.0
    used = usage.used if usage is not None else 0.0
    last = usage.last_reset_at if usage is not None else None
    remaining = max(limit - used, 0.0)
    return QuotaStatus(
        channelIndex=index,
        channelId=row.channel_id,
        channelName=row.name,
        quotaType=row.quota_type or "",
        limit=limit,
        used=used,
        remaining=remaining,
        remainingPercent=round(remaining / limit * 100, 2) if limit > 0 else 100.0,
        lastResetAt=last,
        nextResetAt=_next_reset(row, last, now),
    )


class ChannelInfoResource:
    """Read-mostly channel routes of one pool."""

    def __init__(self, rt: Runtime, pool: str) -> None:
        self.rt = rt
        self.pool = pool

    def _channel(self, ident: str, req: falcon.asgi.Request) -> Channel:
        chans = self.rt.snapshot.pool(self.pool)
        uids = [c.uid for c in chans]
        return chans[find_index(uids, ident, req.get_param("channelId") or None)]

    async def on_get_metrics(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return breaker, suspension and quota state per channel."""
        rt, now = self.rt, datetime.now(UTC)
        breaker = rt.scheduler.breaker
        out = []
        for ch in rt.snapshot.pool(self.pool):
            until = rt.suspensions.until.get(ch.uid)
            out.append(
                ChannelHealth(
                    channelIndex=ch.index,
                    channelId=ch.uid,
                    channelName=ch.name,
                    status=ch.status,
                    healthy=breaker.is_healthy(ch.uid),
                    broken=breaker.is_broken(ch.uid),
                    failureRate=round(breaker.failure_rate(ch.uid), 4),
                    suspendedUntil=until if until is not None and until > now else None,
                    quotaExhausted=rt.quota.exhausted(ch),
                    inPromotion=ch.in_promotion(now),
                    queued=rt.scheduler.rpm.queued(ch.uid),
                )
            )
        reply(resp, to_json(out))

    async def on_get_stats(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return scheduler state of a pool (``?type=`` picks the pool)."""
        pool = self.pool
        raw = req.get_param("type")
        if raw:
            pool = choice("type", text("type", raw), POOLS)
        rt, now = self.rt, datetime.now(UTC)
        snap = rt.snapshot
        chans = snap.pool(pool)
        live = snap.by_priority[pool]
        suspended = [c for c in chans if (u := rt.suspensions.until.get(c.uid)) and u > now]
        promoted = next((c for c in live if c.is_active and c.in_promotion(now)), None)
        reply(
            resp,
            {
                "type": pool,
                "strategy": snap.strategy(pool),
                "multiChannelMode": len(live) > 1,
                "totalChannels": len(chans),
                "activeChannels": sum(1 for c in chans if c.is_active),
                "healthyChannels": sum(1 for c in live if rt.scheduler.breaker.is_healthy(c.uid)),
                "suspendedChannels": len(suspended),
                "circuitBreakerEnabled": not snap.failover.enabled,
                "affinityEntries": len(rt.scheduler.affinity),
                "promotedChannel": promoted.uid if promoted is not None else None,
                "configRevision": snap.revision,
            },
        )

    async def on_get_mapping(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Show which upstream model a client model maps to (``?model=``)."""
        ch = self._channel(id, req)
        model = text("model", req.get_param("model") or "", max_len=500)
        out: dict[str, Any] = {"channelId": ch.uid, "model": model}
        if ch.is_composite:
            lowered = model.lower()
            hit = next((m for m in ch.composite_mappings if m.pattern.lower() in lowered), None)
            out["mappedModel"] = (hit.target_model or model) if hit else model
            out["targetChannelId"] = hit.target_channel_id if hit else None
            out["targetPool"] = hit.target_pool if hit else None
        else:
            out["mappedModel"] = redirect_channel_model(ch, model)
        out["modelMapping"] = dict(ch.model_mapping)
        reply(resp, out)

    async def on_get_models(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Ask the channel's upstream for its model list (first key)."""
        ch = self._channel(id, req)
        if not ch.api_keys or not ch.base_url:
            raise AdminError(409, "The channel has no base URL or key to ask", "NO_UPSTREAM")
        reply(resp, await _upstream_models(self.rt, ch))

    async def on_get_usage_all(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return the quota status of every channel, keyed by index."""

        async def read(tx: Daos) -> dict[str, Any]:
            rows = await pool_rows(tx, self.pool)
            usage = {u.channel_uid: u for u in await tx.channel_usage.list()}
            now = datetime.now(UTC)
            return {
                str(i): to_json(usage_status(r, i, usage.get(r.channel_id), now))
                for i, r in enumerate(rows)
            }

        reply(resp, (await read_config(self.rt, read))[0])

    async def on_get_usage(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Return the quota status of one channel."""

        async def read(tx: Daos) -> QuotaStatus:
            index, row = find_channel(
                await pool_rows(tx, self.pool), id, req.get_param("channelId") or None
            )
            usage = await tx.channel_usage.get(row.channel_id)
            return usage_status(row, index, usage, datetime.now(UTC))

        reply(resp, to_json((await read_config(self.rt, read))[0]))

    async def on_post_usage_reset(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str
    ) -> None:
        """Zero a channel's usage and lift its suspension."""
        now = datetime.now(UTC)
        async with self.rt.db.transaction() as tx:
            index, row = find_channel(
                await pool_rows(tx, self.pool), id, req.get_param("channelId") or None
            )
            usage = ChannelUsageRow(
                channel_uid=row.channel_id,
                channel_type=self.pool,
                channel_id=index,
                used=0.0,
                last_reset_at=now,
                updated_at=now,
            )
            await tx.channel_usage.upsert(usage)
            await tx.channel_suspensions.delete(row.channel_id)
        self.rt.quota.reset_local(row.channel_id, now)
        self.rt.suspensions.lift(row.channel_id)
        reply(resp, {"success": True, "usage": to_json(usage_status(row, index, usage, now))})


class CurrentChannel:
    """GET /api/messages/channels/current: the channel requests go to now."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Name the first usable messages channel (composite: its opus target)."""
        ch = _first_usable(self.rt, self.rt.snapshot.by_priority["messages"], "messages")
        if ch is not None and ch.is_composite:
            opus = next((m for m in ch.composite_mappings if m.pattern.lower() == "opus"), None)
            target = self.rt.snapshot.channels_by_uid.get(opus.target_channel_id) if opus else None
            ch = target or ch
        reply(
            resp,
            {
                "channelName": ch.name if ch is not None else None,
                "channelId": ch.uid if ch is not None else None,
            },
        )


def _first_usable(rt: Runtime, channels: Iterable[Channel], pool: str) -> Channel | None:
    """Return what the scheduler would try first, without moving its counters.

    Only a channel whose service type the pool can serve counts: the
    scheduler never picks another.
    """
    now = datetime.now(UTC)
    served = SERVED_SERVICE_TYPES.get(pool, frozenset())
    usable = [
        c
        for c in channels
        if c.service_type in served
        and c.is_active
        and c.has_credentials
        and not ((u := rt.suspensions.until.get(c.uid)) and u > now)
        and not rt.quota.exhausted(c)
    ]
    promoted = next((c for c in usable if c.in_promotion(now)), None)
    if promoted is not None:
        return promoted
    healthy = [c for c in usable if rt.scheduler.breaker.is_healthy(c.uid)]
    chosen = healthy or usable
    return chosen[0] if chosen else None


async def _upstream_models(rt: Runtime, ch: Channel) -> dict[str, Any]:
    key = ch.api_keys[0]
    try:
        if ch.service_type == "gemini":
            url = ch.base_url.rstrip("/") + "/v1beta/models"
            headers = {"x-goog-api-key": key}
        else:
            url = claude_url(ch.base_url, "/v1/models")
            name, value = auth_header(key)
            headers = {name: value, "anthropic-version": "2023-06-01"}
        async with await rt.upstream.send(
            "GET",
            url,
            headers,
            header_timeout=_MODELS_TIMEOUT,
            insecure_skip_verify=ch.insecure_skip_verify,
        ) as upstream:
            body = await upstream.read()
            status = upstream.status
    except (UpstreamUnavailable, ValueError) as ex:
        raise AdminError(502, f"Upstream unreachable: {ex}", "UPSTREAM_UNAVAILABLE") from None
    if status != 200:
        raise AdminError(502, f"Upstream answered {status}", "UPSTREAM_ERROR")
    try:
        data = json.loads(body[:_MAX_MODELS_BODY])
    except ValueError:
        raise AdminError(502, "Upstream model list is not JSON", "UPSTREAM_ERROR") from None
    items = (data.get("data") or data.get("models") or []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        items = []
    ids = [str(m.get("id") or m.get("name") or "") for m in items if isinstance(m, dict)]
    return {"channelId": ch.uid, "models": [i for i in ids if i]}


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the metrics, stats, usage, mapping and model routes."""
    for pool, base in POOL_PATHS.items():
        res = ChannelInfoResource(rt, pool)
        app.add_route(f"{base}/metrics", res, suffix="metrics")
        app.add_route(f"{base}/scheduler/stats", res, suffix="stats")
        app.add_route(f"{base}/usage", res, suffix="usage_all")
        app.add_route(base + "/{id}/usage", res, suffix="usage")
        app.add_route(base + "/{id}/usage/reset", res, suffix="usage_reset")
        app.add_route(base + "/{id}/test-mapping", res, suffix="mapping")
        app.add_route(base + "/{id}/models", res, suffix="models")
    app.add_route(CURRENT_PATH, CurrentChannel(rt))


_USAGE: Final = ref(QuotaStatus)
_METRIC: Final = ref(ChannelHealth)


def _openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    ident = spec.path_param("id", spec.STR, "Stable channel id, or index in the pool", "0")
    item = [ident, spec.query_param("channelId", spec.STR)]
    for pool, base in POOL_PATHS.items():
        tag = f"channels ({pool})"

        def op(summary: str, **kw: Any) -> dict[str, Any]:
            return spec.operation(f"{summary} ({pool})", tag, **kw)  # noqa: B023

        paths[f"{base}/metrics"] = {"get": op("Channel health", ok_schema=spec.array(_METRIC))}
        paths[f"{base}/scheduler/stats"] = {
            "get": op(
                "Scheduler state",
                params=[spec.query_param("type", {"type": "string", "enum": list(POOLS)})],
                ok_schema=spec.obj(
                    {"type": spec.STR, "strategy": spec.STR}, ["type", "strategy"], additional=True
                ),
            )
        }
        paths[f"{base}/usage"] = {
            "get": op(
                "Quota status per channel index",
                ok_schema={"type": "object", "additionalProperties": _USAGE},
            )
        }
        paths[base + "/{id}/usage"] = {"get": op("Quota status", params=item, ok_schema=_USAGE)}
        paths[base + "/{id}/usage/reset"] = {
            "post": op(
                "Reset usage and lift the suspension",
                params=item,
                ok_schema=spec.obj({"success": spec.BOOL, "usage": _USAGE}, ["success", "usage"]),
            )
        }
        paths[base + "/{id}/test-mapping"] = {
            "get": op(
                "Show the model mapping result",
                params=[*item, spec.query_param("model", spec.STR)],
                ok_schema=spec.obj(
                    {"model": spec.STR, "mappedModel": spec.STR},
                    ["model", "mappedModel"],
                    additional=True,
                ),
            )
        }
        paths[base + "/{id}/models"] = {
            "get": op(
                "List the upstream's models",
                params=item,
                ok_schema=spec.obj(
                    {"channelId": spec.STR, "models": spec.array(spec.STR)}, ["models"]
                ),
                errors=(*spec.ERRORS, 502),
            )
        }
    paths[CURRENT_PATH] = {
        "get": spec.operation(
            "The messages channel requests go to now",
            "channels (messages)",
            ok_schema=spec.obj(
                {"channelName": spec.nullable(spec.STR), "channelId": spec.nullable(spec.STR)},
                ["channelName"],
            ),
        )
    }
    return paths


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
