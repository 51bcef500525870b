"""Typed answers of the read-mostly channel routes: quota, health, dashboard.

Response bodies as msgspec Structs, like the request bodies in
``ccbridge/store/shapes.py``: the handlers build them and the OpenAPI
document's components come from the same types (``model.ref``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

__all__ = ("ChannelHealth", "DashboardChannel", "DashboardChannels", "QuotaStatus")

Pool = Literal["messages", "responses", "gemini", "chat"]


def _d(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


class QuotaStatus(msgspec.Struct):
    """A channel's quota and how much of it is used."""

    channelIndex: Annotated[int, _d("Index of the channel in its pool.")]
    channelId: Annotated[str, _d("Stable channel id.")]
    channelName: Annotated[str, _d("Display name.")]
    quotaType: Annotated[str, _d("What the quota counts (requests, credit); '' = no quota.")]
    limit: Annotated[float, _d("Quota per period (requests or credit); 0 = none.")]
    used: Annotated[float, _d("Used in the current period.")]
    remaining: Annotated[float, _d("limit - used, at least 0.")]
    remainingPercent: Annotated[float, _d("remaining as a percentage of limit; 100 = no quota.")]
    lastResetAt: Annotated[datetime | None, _d("Last reset (RFC 3339); null = never.")]
    nextResetAt: Annotated[datetime | None, _d("Next reset (RFC 3339); null = none due.")]


class ChannelHealth(msgspec.Struct):
    """Breaker, suspension and quota state of one channel."""

    channelIndex: Annotated[int, _d("Index of the channel in its pool.")]
    channelId: Annotated[str, _d("Stable channel id.")]
    channelName: Annotated[str, _d("Display name.")]
    status: Annotated[str, _d("Configured status: active, suspended or disabled.")]
    healthy: Annotated[bool, _d("Whether the breaker lets requests through.")]
    broken: Annotated[bool, _d("Whether the breaker is open.")]
    failureRate: Annotated[float, _d("Recent failure rate, 0-1, rounded to 4 places.")]
    suspendedUntil: Annotated[datetime | None, _d("End of a suspension (RFC 3339); null = none.")]
    quotaExhausted: Annotated[bool, _d("Whether its quota is used up.")]
    inPromotion: Annotated[bool, _d("Whether it is promoted (tried first) now.")]
    queued: Annotated[int, _d("Requests waiting for its RPM limit.")]


class DashboardChannel(msgspec.Struct):
    """Health and quota of one channel, for the dashboard."""

    pool: Annotated[Pool, _d("Pool of the channel.")]
    index: Annotated[int, _d("Index in the pool.")]
    id: Annotated[str, _d("Stable channel id.")]
    name: Annotated[str, _d("Display name.")]
    serviceType: Annotated[str, _d("Upstream protocol.")]
    status: Annotated[str, _d("Configured status: active, suspended or disabled.")]
    priority: Annotated[int, _d("Order in the pool, lower first.")]
    broken: Annotated[bool, _d("Whether the breaker is open.")]
    failureRate: Annotated[float, _d("Recent failure rate, 0-1, rounded to 4 places.")]
    suspendedUntil: Annotated[datetime | None, _d("End of a suspension (RFC 3339); null = none.")]
    quota: Annotated[QuotaStatus, _d("Quota status.")]


class DashboardChannels(msgspec.Struct):
    """GET /api/dashboard/channels."""

    channels: Annotated[list[DashboardChannel], _d("Every channel, pool by pool, in index order.")]
