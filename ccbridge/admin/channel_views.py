"""Typed answers of the read-mostly channel routes: quota, health, dashboard.

Response bodies as msgspec Structs, like the request bodies in
``ccbridge/store/shapes.py``: the handlers build them and the OpenAPI
document's components come from the same types (``model.ref``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

__all__ = (
    "ChannelHealth",
    "ChannelList",
    "ChannelSaved",
    "ChannelView",
    "DashboardChannel",
    "DashboardChannels",
    "MaskedKey",
    "QuotaStatus",
)

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


class MaskedKey(msgspec.Struct):
    """An upstream key as shown: never in full."""

    index: Annotated[int, _d("Position of the key in the channel's list.")]
    masked: Annotated[str, _d("First 8 and last 4 characters (*** for a short key).")]


class ChannelView(msgspec.Struct):
    """A channel as the admin API shows it: every field, keys masked, defaults filled in."""

    index: Annotated[int, _d("Index in the pool (scheduling order of the list).")]
    id: Annotated[str, _d("Stable channel id.")]
    name: Annotated[str, _d("Display name, unique in the pool.")]
    serviceType: Annotated[str, _d("Upstream protocol.")]
    baseUrl: Annotated[str, _d("Upstream base URL; '' = the service's default.")]
    apiKeyCount: Annotated[int, _d("Number of upstream keys.")]
    maskedKeys: Annotated[list[MaskedKey], _d("The upstream keys, masked, in order.")]
    description: Annotated[str, _d("Free text.")]
    website: Annotated[str, _d("Provider website.")]
    insecureSkipVerify: Annotated[bool, _d("TLS certificate checks upstream are skipped.")]
    responseHeaderTimeout: Annotated[int, _d("Seconds to wait for upstream headers.")]
    modelMapping: Annotated[dict[str, str], _d("Requested model -> model sent upstream.")]
    priceMultipliers: Annotated[
        dict[str, dict[str, float]], _d("Model ('*' = any) -> cost multipliers (1 = list price).")
    ]
    codexServiceTierOverride: Annotated[str, _d("Codex service tier override; '' = none.")]
    responsesEncryptedReasoningMode: Annotated[str, _d("Encrypted reasoning mode; '' = auto.")]
    responsesWebSocketEnabled: Annotated[bool, _d("The Responses WebSocket is used upstream.")]
    continueThinkingEnabled: Annotated[bool, _d("Thinking continues across turns.")]
    hasOAuthTokens: Annotated[bool, _d("An OAuth access token is stored (never shown).")]
    served: Annotated[
        bool,
        _d("Whether this pool can serve the channel's type; the scheduler skips one it cannot."),
    ]
    latency: Annotated[None, _d("Reserved (the reference's field); always null.")]
    status: Annotated[str, _d("active, suspended or disabled.")]
    priority: Annotated[int, _d("Order in the pool, lower first.")]
    promotionUntil: Annotated[
        datetime | None, _d("Preferred until this time (RFC 3339); null = not promoted.")
    ]
    quotaType: Annotated[str, _d("What the quota counts (requests, credit); '' = no quota.")]
    quotaLimit: Annotated[float, _d("Quota per period (requests or credit); 0 = none.")]
    quotaResetAt: Annotated[datetime | None, _d("Next quota reset (RFC 3339).")]
    quotaResetInterval: Annotated[int, _d("Quota period length, in quotaResetUnit.")]
    quotaResetUnit: Annotated[str, _d("Unit of the quota period: hours, days, weeks, months.")]
    quotaModels: Annotated[list[str], _d("Models the quota counts; [] = all.")]
    quotaResetMode: Annotated[str, _d("Quota period kind: fixed or rolling.")]
    rateLimitRpm: Annotated[int, _d("Requests per minute to this channel; 0 = none.")]
    queueEnabled: Annotated[bool, _d("Requests over the RPM wait instead of failing.")]
    queueTimeout: Annotated[int, _d("Seconds a queued request waits.")]
    keyLoadBalance: Annotated[str, _d("How keys are picked; '' = failover.")]
    compositeMappings: Annotated[
        list[dict[str, Any]], _d("Routing of a composite channel (CompositeMapping objects).")
    ]
    contentFilter: Annotated[
        dict[str, Any] | None, _d("Keyword filter (a ContentFilter object); null = none.")
    ]


class ChannelList(msgspec.Struct):
    """GET of a pool's channels."""

    channels: Annotated[list[ChannelView], _d("The pool's channels, in index order.")]
    loadBalance: Annotated[str, _d("How the pool picks a channel: failover, round-robin, random.")]


class ChannelSaved(msgspec.Struct):
    """The answer to a channel write; members that do not apply are absent."""

    success: Annotated[bool, _d("Always true (errors are problems).")]
    message: Annotated[str, _d("What was done, for a person.")]
    id: Annotated[str | msgspec.UnsetType, _d("Id of the created or deleted channel.")] = (
        msgspec.UNSET
    )
    status: Annotated[str | msgspec.UnsetType, _d("The status set (status change).")] = (
        msgspec.UNSET
    )
    promotionUntil: Annotated[
        str | None | msgspec.UnsetType, _d("End of the promotion (RFC 3339); null = cleared.")
    ] = msgspec.UNSET
    order: Annotated[list[str] | msgspec.UnsetType, _d("Channel ids in their new order.")] = (
        msgspec.UNSET
    )
    strategy: Annotated[str | msgspec.UnsetType, _d("The load-balance strategy set.")] = (
        msgspec.UNSET
    )
    channel: Annotated[ChannelView | msgspec.UnsetType, _d("The channel after the write.")] = (
        msgspec.UNSET
    )
