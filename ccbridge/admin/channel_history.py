"""GET /api/logs/providers/stats/history and /api/logs/channels/{id}/stats/history.

The reference's cost chart (one series per provider label, i.e. channel
name, each with the cost spent earlier in the selected period as
``baselineCost``) and a single channel's history. Both read the finished
raw rows of the window (the rollups keep no per-channel latency), bucket
them like /api/logs/stats/history and fill empty buckets with zeros so
every series has the same timestamps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import falcon.asgi

from ccbridge.admin import spec
from ccbridge.admin.common import AdminError, reply
from ccbridge.admin.logquery import Scope, scope, text_param
from ccbridge.admin.model import ref
from ccbridge.admin.series_models import History, ProviderHistory, ProviderSeries
from ccbridge.admin.stats import (
    HISTORY_DURATIONS,
    history_interval,
    history_json,
    history_window,
)
from ccbridge.admin.statsread import raw_rows
from ccbridge.runtime import Runtime
from ccbridge.store.rollup import DAY, RollupSource, Sums, floor_time
from ccbridge.store.shapes import to_json
from ccbridge.store.snapshot import Snapshot
from generated.dao import Daos

__all__ = ("OPENAPI_PATHS", "register")

PROVIDERS_PATH: Final = "/api/logs/providers/stats/history"
CHANNEL_PATH: Final = "/api/logs/channels/{ident}/stats/history"
# The reference offers no "period" for one channel.
_CHANNEL_DURATIONS: Final = ("1h", "6h", "24h", "today")
_POOL_OF_ENDPOINT: Final = {
    "/v1/messages": "messages",
    "/v1/responses": "responses",
    "/v1/chat/completions": "chat",
}

Series = dict[datetime, Sums]


def _duration(req: falcon.asgi.Request, allowed: tuple[str, ...]) -> str:
    duration = text_param(req, "duration") or "1h"
    if duration not in allowed:
        raise AdminError(400, f"Invalid duration. Use: {', '.join(allowed)}", "INVALID_PARAMETER")
    return duration


async def _series_by(
    tx: Daos, window: Scope, interval: int, label: Callable[[RollupSource], str | None]
) -> dict[str, Series]:
    """Sum the window's finished rows per label and bucket (rows labelled None skipped)."""
    assert window.since is not None and window.until is not None
    out: dict[str, Series] = {}
    async for row in raw_rows(tx, window, window.since, window.until):
        name = label(row)
        if name is None or row.initial_time is None:
            continue
        buckets = out.setdefault(name, {})
        at = floor_time(row.initial_time, interval)
        sums = buckets.get(at)
        if sums is None:
            sums = buckets[at] = Sums(histogram=True)
        sums.add_row(row)
    return out


def _filled(series: Series, start: datetime, end: datetime, interval: int) -> Series:
    """Return series with a (zero) point for every bucket of [start, end]."""
    out: Series = {}
    at, last, step = (
        floor_time(start, interval),
        floor_time(end, interval),
        timedelta(seconds=interval),
    )
    while at <= last:
        out[at] = series.get(at) or Sums(histogram=True)
        at += step
    return out


def _provider(row: RollupSource) -> str:
    return row.provider_name or row.provider or ""


def _period_start(req: falcon.asgi.Request) -> datetime:
    """Return where the selected period begins: ``from``, else today (UTC)."""
    return scope(req).since or floor_time(datetime.now(UTC), DAY)


class ProviderHistoryResource:
    """GET /api/logs/providers/stats/history."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return one cost/usage series per provider label, and the total."""
        duration = _duration(req, HISTORY_DURATIONS)
        start, end = history_window(req, duration)
        interval = history_interval(end - start)
        endpoint = text_param(req, "endpoint")
        period = _period_start(req)
        async with self.rt.db.transaction(readonly=True) as tx:
            per = await _series_by(tx, Scope(start, end, endpoint), interval, _provider)
            baseline: dict[str, float] = {}
            if period < start:  # the cost spent earlier in the period
                async for row in raw_rows(tx, Scope(period, start, endpoint), period, start):
                    label = _provider(row)
                    baseline[label] = baseline.get(label, 0.0) + (row.price or 0.0)
        providers = sorted(set(per) | {p for p, cost in baseline.items() if cost > 0})
        total: Series = {}
        series = []
        for name in providers:
            filled = _filled(per.get(name, {}), start, end, interval)
            for at, sums in filled.items():
                total.setdefault(at, Sums(histogram=True)).merge(sums)
            body = history_json(filled, duration)
            series.append(
                ProviderSeries(
                    dataPoints=body.dataPoints,
                    summary=body.summary,
                    provider=name,
                    baselineCost=baseline.get(name, 0.0),
                )
            )
        summary = history_json(total, duration).summary
        reply(resp, to_json(ProviderHistory(providers=series, summary=summary)))


def _channel_uid(snap: Snapshot, req: falcon.asgi.Request, ident: str) -> str:
    """Return the uid an index (in the endpoint's pool) or a stable id names."""
    wanted = req.get_param("channelId") or ident
    pool = snap.pool(_POOL_OF_ENDPOINT.get(text_param(req, "endpoint") or "", "messages"))
    if not req.get_param("channelId") and ident.isascii() and ident.isdigit():
        if int(ident) < len(pool):
            return pool[int(ident)].uid
    if wanted in snap.channels_by_uid:
        return wanted
    raise AdminError(404, f"Channel {wanted!r} not found", "CHANNEL_NOT_FOUND")


class ChannelHistoryResource:
    """GET /api/logs/channels/{ident}/stats/history."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, ident: str
    ) -> None:
        """Return one channel's finished requests per time bucket, with a summary."""
        uid = _channel_uid(self.rt.snapshot, req, ident)
        duration = _duration(req, _CHANNEL_DURATIONS)
        start, end = history_window(req, duration)
        interval = history_interval(end - start)
        window = Scope(start, end, text_param(req, "endpoint"))
        async with self.rt.db.transaction(readonly=True) as tx:
            per = await _series_by(
                tx, window, interval, lambda row: "" if row.channel_uid == uid else None
            )
        history = history_json(_filled(per.get("", {}), start, end, interval), duration)
        reply(resp, to_json(history))


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the provider and channel history routes."""
    app.add_route(PROVIDERS_PATH, ProviderHistoryResource(rt))
    app.add_route(CHANNEL_PATH, ChannelHistoryResource(rt))


def _openapi() -> dict[str, Any]:
    window = [
        spec.query_param("from", {"type": "string", "format": "date-time"}, "with to"),
        spec.query_param("to", {"type": "string", "format": "date-time"}, "with from"),
        spec.query_param("endpoint", spec.STR, "e.g. /v1/messages"),
    ]
    return {
        PROVIDERS_PATH: {
            "get": spec.operation(
                "Cost and usage per provider label and time bucket",
                "logs",
                params=[spec.query_param("duration", {"enum": list(HISTORY_DURATIONS)}), *window],
                ok_schema=ref(ProviderHistory),
                errors=(400, 401, 403, 429),
            )
        },
        CHANNEL_PATH: {
            "get": spec.operation(
                "One channel's requests per time bucket",
                "logs",
                params=[
                    spec.path_param("ident", description="index (in the endpoint's pool) or id"),
                    spec.query_param("duration", {"enum": list(_CHANNEL_DURATIONS)}),
                    spec.query_param("channelId", spec.STR, "stable id (wins over ident)"),
                    *window,
                ],
                ok_schema=ref(History),
                errors=(400, 401, 403, 404, 429),
            )
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
