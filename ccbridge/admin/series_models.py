"""Typed answers of the stats time series: /api/logs/stats/history and the
provider and channel histories (``channel_history.py``).

``stats.history_json`` builds a ``History``; the OpenAPI document refers to
these models, so the answers and their description have one definition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

__all__ = ("History", "HistoryPoint", "HistorySummary", "ProviderHistory", "ProviderSeries")


def _d(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


class HistoryPoint(msgspec.Struct):
    """Sums of the finished requests of one time bucket."""

    timestamp: Annotated[datetime, _d("Start of the bucket (RFC 3339).")]
    requests: Annotated[int, _d("Requests.")]
    success: Annotated[int, _d("Requests that completed.")]
    failure: Annotated[int, _d("Requests that failed.")]
    inputTokens: Annotated[int, _d("Input tokens.")]
    outputTokens: Annotated[int, _d("Output tokens.")]
    cacheCreationInputTokens: Annotated[int, _d("Input tokens written to the cache.")]
    cacheReadInputTokens: Annotated[int, _d("Input tokens read from the cache.")]
    cost: Annotated[float, _d("Cost, in the pricing currency (USD default).")]
    avgDurationMs: Annotated[float, _d("Mean duration, in milliseconds.")]
    p50DurationMs: Annotated[int, _d("Median duration, in ms, from a sqrt(2)-step histogram.")]
    p95DurationMs: Annotated[int, _d("95th percentile duration, in ms, likewise.")]


class HistorySummary(msgspec.Struct):
    """Sums of every bucket of the window."""

    totalRequests: Annotated[int, _d("Requests.")]
    totalSuccess: Annotated[int, _d("Requests that completed.")]
    totalFailure: Annotated[int, _d("Requests that failed.")]
    totalInputTokens: Annotated[int, _d("Input tokens.")]
    totalOutputTokens: Annotated[int, _d("Output tokens.")]
    totalCacheCreationTokens: Annotated[int, _d("Input tokens written to the cache.")]
    totalCacheReadTokens: Annotated[int, _d("Input tokens read from the cache.")]
    totalCost: Annotated[float, _d("Cost, in the pricing currency (USD default).")]
    avgSuccessRate: Annotated[float, _d("Completed requests, in percent; 0 = none.")]
    avgDurationMs: Annotated[float, _d("Mean duration, in milliseconds.")]
    p50DurationMs: Annotated[int, _d("Median duration, in ms.")]
    p95DurationMs: Annotated[int, _d("95th percentile duration, in ms.")]
    duration: Annotated[str, _d("The duration asked for (1h, 6h, 24h, today or period).")]


class History(msgspec.Struct):
    """Finished requests per time bucket (1m … 4h by window length), with a summary."""

    dataPoints: Annotated[list[HistoryPoint], _d("One point per bucket, oldest first.")]
    summary: Annotated[HistorySummary, _d("Sums of every bucket.")]


class ProviderSeries(History, kw_only=True):
    """One provider label's history."""

    provider: Annotated[str, _d("Channel name (else service type) the rows logged.")]
    baselineCost: Annotated[
        float, _d("Cost this label spent earlier in the selected period (before the window).")
    ]


class ProviderHistory(msgspec.Struct):
    """GET /api/logs/providers/stats/history: one series per provider label."""

    providers: Annotated[list[ProviderSeries], _d("The series, by label.")]
    summary: Annotated[HistorySummary, _d("Sums over every label.")]
