"""GET /api/logs/stats, /stats/daily, /stats/history and /sessions/active.

Stats count finished requests only: success = completed, failure = error;
pending, timeout, failover and retry_wait rows are left out (spec §3.10).
They are read from the rollups for whole days and hours and from raw rows
for the partial hours at the ends of the window (`statsread`); every
response is read in one read-only transaction. Percentiles come from the
latency histogram and are approximate (`ccbridge.store.rollup`).
``?source=raw`` recomputes from raw rows only, for checking.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import falcon.asgi

from ccbridge.admin.common import AdminError, reply
from ccbridge.admin.keybudget import key_budgets
from ccbridge.admin.log_models import LogStats, StatsGroup, TimeRange, TokenTotals
from ccbridge.admin.logquery import Scope, go_duration, int_param, scope, text_param
from ccbridge.admin.logview import iso
from ccbridge.admin.series_models import History, HistoryPoint, HistorySummary
from ccbridge.admin.statsread import StatsGroups, read_groups, read_series
from ccbridge.runtime import Runtime
from ccbridge.store.rollup import DAY, EPOCH, FAR_FUTURE, Sums, floor_time, percentile
from ccbridge.store.shapes import to_json
from generated.rows import RequestLogsActiveSessionsResult

__all__ = (
    "ActiveSessionsResource",
    "DailyStatsResource",
    "HISTORY_DURATIONS",
    "HistoryResource",
    "StatsResource",
    "history_interval",
    "history_json",
    "history_window",
    "percentiles_json",
    "point_json",
    "stats_json",
)

HISTORY_DURATIONS: Final = ("1h", "6h", "24h", "today", "period")
_WINDOWS: Final = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24)}
_DEFAULT_DAYS: Final = 30
_MAX_DAYS: Final = 3660
_ACTIVE_DEFAULT: Final = timedelta(minutes=30)
_UNKNOWN: Final = "<unknown>"


def _use_rollups(req: falcon.asgi.Request) -> bool:
    source = text_param(req, "source") or "rollups"
    if source not in ("rollups", "raw"):
        raise AdminError(400, "source must be rollups or raw", "INVALID_PARAMETER")
    return source == "rollups"


def _tokens(s: Sums) -> dict[str, int]:
    return {
        "inputTokens": s.input_tokens,
        "outputTokens": s.output_tokens,
        "cacheCreationInputTokens": s.cache_creation,
        "cacheReadInputTokens": s.cache_read,
    }


def _group_json(s: Sums) -> StatsGroup:
    return StatsGroup(
        count=s.requests,
        success=s.success,
        failure=s.failure,
        inputTokens=s.input_tokens,
        outputTokens=s.output_tokens,
        cacheCreationInputTokens=s.cache_creation,
        cacheReadInputTokens=s.cache_read,
        cost=s.cost,
        avgLatencyMs=s.avg_latency_ms,
    )


def _label(value: str) -> str:
    return value.strip() or _UNKNOWN


def _key_label(key_id: int) -> str:
    return _UNKNOWN if key_id < 0 else "master" if key_id == 0 else str(key_id)


def _add(groups: dict[str, Sums], label: str, sums: Sums) -> None:
    target = groups.get(label)
    if target is None:
        target = groups[label] = Sums(histogram=False)
    target.merge(sums, with_latency=False)


def _by_label(items: Iterable[tuple[str, Sums]]) -> dict[str, Sums]:
    """Group sums by label, merging only where labels repeat (sessions rarely do)."""
    out: dict[str, Sums] = {}
    for label, sums in items:
        seen = out.get(label)
        if seen is None:
            out[label] = sums
            continue
        merged = Sums(histogram=False)
        merged.merge(seen, with_latency=False)
        merged.merge(sums, with_latency=False)
        out[label] = merged
    return out


def stats_json(groups: StatsGroups) -> LogStats:
    """Return the reference's RequestLogStats JSON of grouped sums."""
    total = Sums()
    by_provider: dict[str, Sums] = {}
    by_model: dict[str, Sums] = {}
    by_key: dict[str, Sums] = {}
    by_client: dict[str, Sums] = {}
    for (provider, model, key_id, client), sums in groups.groups.items():
        total.merge(sums)
        _add(by_provider, provider, sums)
        _add(by_model, model, sums)
        _add(by_key, _key_label(key_id), sums)
        _add(by_client, _label(client), sums)
    by_session = _by_label((_label(session), s) for session, s in groups.sessions.items())
    total.add_latency(groups.latency)
    seconds = total.duration_ms / 1000
    return LogStats(
        totalRequests=total.requests,
        totalSuccess=total.success,
        totalFailure=total.failure,
        totalTokens=TokenTotals(**_tokens(total), totalTokens=total.total_tokens),
        totalCost=total.cost,
        avgLatencyMs=total.avg_latency_ms,
        p95LatencyMs=percentile(total.latency, 95),
        tps=total.output_tokens / seconds if seconds > 0 else 0.0,
        byProvider={k: _group_json(v) for k, v in sorted(by_provider.items())},
        byModel={k: _group_json(v) for k, v in sorted(by_model.items())},
        byClient={k: _group_json(v) for k, v in sorted(by_client.items())},
        bySession={k: _group_json(v) for k, v in sorted(by_session.items())},
        byApiKey={k: _group_json(v) for k, v in sorted(by_key.items())},
        timeRange=TimeRange(from_=total.first_at, to=total.last_at),
        unpricedRequests=0,
        unpricedModels={},
        keyBudgets={},
    )


class StatsResource:
    """GET /api/logs/stats."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return totals and breakdowns of finished requests."""
        window, rollups = scope(req), _use_rollups(req)
        async with self.rt.db.transaction(readonly=True) as tx:
            groups = await read_groups(tx, window, rollups=rollups)
            unpriced = await tx.request_logs.unpriced_models(
                since=window.since or EPOCH,
                until=window.until or FAR_FUTURE,
                endpoint=window.endpoint,
                client_id=window.client_id,
                session_id=window.session_id,
            )
            budgets = await key_budgets(tx)
        stats = stats_json(groups)
        stats.unpricedRequests = sum(r.requests or 0 for r in unpriced)
        stats.unpricedModels = {r.model: r.requests or 0 for r in unpriced if r.model is not None}
        stats.keyBudgets = budgets
        reply(resp, to_json(stats))


def point_json(s: Sums) -> dict[str, Any]:
    """Return one history or daily data point of sums."""
    return {
        "requests": s.requests,
        "success": s.success,
        "failure": s.failure,
        **_tokens(s),
        "cost": s.cost,
        "avgDurationMs": s.avg_latency_ms,
    }


class DailyStatsResource:
    """GET /api/logs/stats/daily."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return finished requests per UTC day."""
        window, rollups = scope(req), _use_rollups(req)
        if window.since is None:
            days = int_param(req, "days", low=1) or _DEFAULT_DAYS
            today = floor_time(datetime.now(UTC), DAY)
            first = today - timedelta(days=min(days, _MAX_DAYS) - 1)
            window = Scope(
                first, window.until, window.endpoint, window.client_id, window.session_id
            )
        async with self.rt.db.transaction(readonly=True) as tx:
            series = await read_series(tx, window, DAY, rollups=rollups)
        points = [{"date": day.date().isoformat(), **point_json(s)} for day, s in series.items()]
        reply(resp, {"dataPoints": points})


def history_interval(window: timedelta) -> int:
    """Return the bucket length (s) for a history window, as the reference picks it."""
    for limit, seconds in (
        (timedelta(hours=1), 60),
        (timedelta(hours=6), 300),
        (timedelta(hours=24), 900),
        (timedelta(days=7), 3600),
    ):
        if window <= limit:
            return seconds
    return 14400


def history_window(req: falcon.asgi.Request, duration: str) -> tuple[datetime, datetime]:
    """Return the [start, end) a history request covers (from/to, duration)."""
    now = datetime.now(UTC)
    explicit = scope(req)
    if explicit.since is None:
        start = (
            floor_time(now, DAY) if duration in ("today", "period") else now - _WINDOWS[duration]
        )
        return start, now
    # `from` alone runs to now.
    end = min(explicit.until or now, now)
    start = explicit.since if duration in ("today", "period") else end - _WINDOWS[duration]
    return max(start, explicit.since), end


class HistoryResource:
    """GET /api/logs/stats/history."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return finished requests per time bucket, with a summary."""
        duration = text_param(req, "duration") or "1h"
        if duration not in HISTORY_DURATIONS:
            raise AdminError(
                400, "Invalid duration. Use: 1h, 6h, 24h, today, or period", "INVALID_PARAMETER"
            )
        start, end = history_window(req, duration)
        interval = history_interval(end - start)
        window = Scope(start, end, text_param(req, "endpoint"))
        async with self.rt.db.transaction(readonly=True) as tx:
            series = await read_series(tx, window, interval, rollups=_use_rollups(req))
        reply(resp, to_json(history_json(series, duration)))


def history_json(series: dict[datetime, Sums], duration: str) -> History:
    """Return the reference's history: data points and a summary."""
    total = Sums()
    points = []
    for at, s in series.items():
        total.merge(s)
        points.append(HistoryPoint(timestamp=at, **point_json(s), **percentiles_json(s)))
    summary = HistorySummary(
        totalRequests=total.requests,
        totalSuccess=total.success,
        totalFailure=total.failure,
        totalInputTokens=total.input_tokens,
        totalOutputTokens=total.output_tokens,
        totalCacheCreationTokens=total.cache_creation,
        totalCacheReadTokens=total.cache_read,
        totalCost=total.cost,
        avgSuccessRate=total.success / total.requests * 100 if total.requests else 0.0,
        avgDurationMs=total.avg_latency_ms,
        **percentiles_json(total),
        duration=duration,
    )
    return History(dataPoints=points, summary=summary)


def percentiles_json(s: Sums) -> dict[str, int]:
    """Return the p50 and p95 latency of sums."""
    return {"p50DurationMs": percentile(s.latency, 50), "p95DurationMs": percentile(s.latency, 95)}


def _session_json(row: RequestLogsActiveSessionsResult) -> dict[str, Any]:
    return {
        "sessionId": row.session_id,
        "type": row.provider or "",
        "firstRequestTime": iso(row.first_request_time),
        "lastRequestTime": iso(row.last_request_time),
        "count": row.requests or 0,
        "inputTokens": row.input_tokens or 0,
        "outputTokens": row.output_tokens or 0,
        "cacheCreationInputTokens": row.cache_creation_input_tokens or 0,
        "cacheReadInputTokens": row.cache_read_input_tokens or 0,
        "cost": row.cost or 0.0,
    }


class ActiveSessionsResource:
    """GET /api/logs/sessions/active."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return sessions with a finished request within the threshold (default 30m)."""
        threshold = go_duration(text_param(req, "threshold")) or _ACTIVE_DEFAULT
        cutoff = datetime.now(UTC) - threshold
        rows = await self.rt.db.daos.request_logs.active_sessions(cutoff=cutoff)
        reply(resp, [_session_json(row) for row in rows])
