"""GET /api/logs/stats/channels: latency percentiles and failovers per channel.

The rollups sum finished requests per channel but keep their latency
histogram per endpoint and client, and do not count failover attempts at
all (a failover row is not final). So this reads the newest attempts of the
window from the raw rows instead, at most `SAMPLE_CAP` of them along the
time index: the cost stays bounded at any table size, and ``sampled`` and
``since`` say which attempts the figures cover (all of the window when
``complete``). Percentiles are exact over those attempts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import falcon.asgi

from ccbridge.admin.common import reply
from ccbridge.admin.log_models import ChannelFigures, ChannelStats
from ccbridge.admin.logquery import int_param, time_param
from ccbridge.runtime import Runtime
from ccbridge.store.shapes import to_json
from generated.rows import RequestLogsRecentAttemptsResult

__all__ = ("DEFAULT_SAMPLE", "SAMPLE_CAP", "ChannelStatsResource", "exact_percentile")

DEFAULT_SAMPLE: Final = 5000
SAMPLE_CAP: Final = 20_000
_DEFAULT_WINDOW: Final = timedelta(hours=24)
_ERRORS: Final = frozenset({"error", "timeout", "interrupted"})


def exact_percentile(values: Sequence[int], p: float) -> int:
    """Return the p-th percentile (0..100) of sorted values, interpolated (0 when none)."""
    if not values:
        return 0
    rank = p / 100 * (len(values) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return round(values[low] + (values[high] - values[low]) * (rank - low))


@dataclass(slots=True)
class _Channel:
    """What the sample holds of one channel."""

    name: str
    attempts: int = 0
    completed: int = 0
    errors: int = 0
    failovers: int = 0
    durations: list[int] = field(default_factory=list)

    def add(self, row: RequestLogsRecentAttemptsResult) -> None:
        self.attempts += 1
        if row.status == "completed":
            self.completed += 1
            if row.duration_ms:
                self.durations.append(row.duration_ms)
        elif row.status == "failover":
            self.failovers += 1
        elif row.status in _ERRORS:
            self.errors += 1

    def figures(self, uid: str) -> ChannelFigures:
        ordered = sorted(self.durations)
        return ChannelFigures(
            channelUid=uid,
            channelName=self.name,
            attempts=self.attempts,
            completed=self.completed,
            errors=self.errors,
            failovers=self.failovers,
            p50LatencyMs=exact_percentile(ordered, 50),
            p95LatencyMs=exact_percentile(ordered, 95),
        )


def _by_channel(rows: list[RequestLogsRecentAttemptsResult]) -> dict[str, _Channel]:
    channels: dict[str, _Channel] = {}
    for row in rows:
        uid = row.channel_uid or ""
        entry = channels.get(uid)
        if entry is None:
            entry = channels[uid] = _Channel(row.channel_name or "")
        entry.add(row)
    return channels


class ChannelStatsResource:
    """Per-channel latency and failovers over the newest attempts of a window."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return one entry per channel seen among the newest attempts since ``from``."""
        since = time_param(req, "from") or datetime.now(UTC) - _DEFAULT_WINDOW
        limit = int_param(req, "limit", low=1, high=SAMPLE_CAP) or DEFAULT_SAMPLE
        rows = await self.rt.db.daos.request_logs.recent_attempts(since=since, max_rows=limit)
        complete = len(rows) < limit
        channels = _by_channel(rows)
        answer = ChannelStats(
            channels=[entry.figures(uid) for uid, entry in channels.items()],
            sampled=len(rows),
            complete=complete,
            since=since if complete or not rows else rows[-1].initial_time,
        )
        reply(resp, to_json(answer))
