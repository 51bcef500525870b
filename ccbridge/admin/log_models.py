"""Typed answers of /api/logs: a log row, a page of rows, a row's debug data.

The handlers build these Structs (``logview.py``) and the OpenAPI document
describes the responses with their ``model.ref`` (``logs_openapi.py``).
Members of a row that are empty are absent, as in the reference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from ccbridge.admin.keybudget import KeyBudgetView

__all__ = (
    "ChannelFigures",
    "ChannelStats",
    "ChannelStatsQuery",
    "LogStats",
    "StatsGroup",
    "DebugEntry",
    "LogEntry",
    "LogListQuery",
    "LogPage",
    "LogScopeQuery",
    "LogWithChain",
    "LogsCleared",
    "with_chain",
)

LogStatus = Literal[
    "pending", "completed", "error", "timeout", "interrupted", "failover", "retry_wait"
]
_UNSET = msgspec.UNSET


def _d(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


class LogEntry(msgspec.Struct):
    """One attempt of a proxied request (the reference's RequestLog)."""

    id: Annotated[str, _d("Row id (req_…).")]
    status: Annotated[LogStatus, _d("Outcome of the attempt; pending while it runs.")]
    initialTime: Annotated[datetime | None, _d("When the request arrived (RFC 3339).")]
    firstTokenTime: Annotated[datetime | None, _d("When the first output arrived; null = none.")]
    firstTokenDurationMs: Annotated[int, _d("Time to first output, in milliseconds; 0 = none.")]
    completeTime: Annotated[datetime | None, _d("When it ended; null while pending.")]
    durationMs: Annotated[int, _d("Whole duration, in milliseconds.")]
    type: Annotated[str | None, _d("Service type of the channel.")]
    providerName: Annotated[str, _d("Channel name at the time.")]
    model: Annotated[str | None, _d("Model the client asked for.")]
    responseModel: Annotated[str, _d("Model the upstream answered with; '' = unknown.")]
    inputTokens: Annotated[int, _d("Input tokens.")]
    outputTokens: Annotated[int, _d("Output tokens.")]
    cacheCreationInputTokens: Annotated[int, _d("Input tokens written to the cache.")]
    cacheReadInputTokens: Annotated[int, _d("Input tokens read from the cache.")]
    totalTokens: Annotated[int, _d("Sum of the token counts.")]
    price: Annotated[float, _d("Cost of the attempt, in the pricing currency (USD default).")]
    inputCost: Annotated[float, _d("Cost of the input tokens.")]
    outputCost: Annotated[float, _d("Cost of the output tokens.")]
    cacheCreationCost: Annotated[float, _d("Cost of the cache writes.")]
    cacheReadCost: Annotated[float, _d("Cost of the cache reads.")]
    httpStatus: Annotated[int, _d("HTTP status answered; 0 = none yet.")]
    stream: Annotated[bool, _d("Whether the client asked for a stream.")]
    transport: Annotated[str, _d("How the upstream was reached (http, websocket); '' = unknown.")]
    channelId: Annotated[int, _d("Index of the channel in its pool then; -1 = none.")]
    channelName: Annotated[str, _d("Channel name; '' = none.")]
    endpoint: Annotated[str, _d("Client endpoint, e.g. /v1/messages.")]
    domain: Annotated[str, _d("Upstream host.")]
    apiKeyId: Annotated[int | None, _d("Client key id; 0 = the master key, null = unknown.")]
    hasDebugData: Annotated[bool, _d("Whether GET /api/logs/{log_id}/debug has data.")]
    createdAt: Annotated[datetime | None, _d("When the row was written (RFC 3339).")]
    reasoningEffort: Annotated[str | msgspec.UnsetType, _d("Reasoning effort asked for.")] = _UNSET
    serviceTier: Annotated[str | msgspec.UnsetType, _d("Service tier used upstream.")] = _UNSET
    serviceTierOverridden: Annotated[
        bool | msgspec.UnsetType, _d("Present (true) when the channel overrode the tier.")
    ] = _UNSET
    channelUid: Annotated[str | msgspec.UnsetType, _d("Stable id of the channel.")] = _UNSET
    clientId: Annotated[str | msgspec.UnsetType, _d("Client (user) id the request named.")] = _UNSET
    sessionId: Annotated[str | msgspec.UnsetType, _d("Client session id.")] = _UNSET
    requestId: Annotated[
        str | msgspec.UnsetType, _d("The client request's x-request-id (shared by its attempts).")
    ] = _UNSET
    error: Annotated[str | msgspec.UnsetType, _d("Error answered to the client.")] = _UNSET
    upstreamError: Annotated[str | msgspec.UnsetType, _d("Error the upstream answered.")] = _UNSET
    failoverInfo: Annotated[
        str | msgspec.UnsetType, _d("The failover step the scheduler took, as it wrote it.")
    ] = _UNSET


class LogWithChain(LogEntry, kw_only=True):
    """GET /api/logs/{log_id}: one row and the attempts of its client request."""

    chain: Annotated[
        list[LogEntry],
        _d(
            "The attempts of the row's client request (same requestId), oldest first, at most"
            " 50; the row alone when it has no requestId."
        ),
    ]


def with_chain(entry: LogEntry, chain: list[LogEntry]) -> LogWithChain:
    """Return ``entry`` with the attempts of its client request."""
    fields: dict[str, Any] = msgspec.structs.asdict(entry)
    return LogWithChain(**fields, chain=chain)


class LogPage(msgspec.Struct):
    """GET /api/logs: one page of rows, newest first."""

    requests: Annotated[list[LogEntry], _d("The page's rows, newest first.")]
    total: Annotated[int, _d("Matching rows, counted up to 10000.")]
    totalExact: Annotated[bool, _d("false when the count stopped at 10000.")]
    hasMore: Annotated[bool, _d("Whether an older page has rows.")]
    nextCursor: Annotated[str | None, _d("Pass as cursor for the next page; null = last page.")]


class DebugEntry(msgspec.Struct):
    """GET /api/logs/{log_id}/debug: what was captured (headers masked)."""

    requestId: Annotated[str, _d("Log row id.")]
    requestMethod: Annotated[str | None, _d("HTTP method of the client's request.")]
    requestPath: Annotated[str | None, _d("Path of the client's request.")]
    requestHeaders: Annotated[
        dict[str, Any], _d("Client request headers; authorization, x-api-key, … masked.")
    ]
    requestRemovedHeaders: Annotated[list[Any], _d("Header names not forwarded upstream.")]
    requestModifiedHeaders: Annotated[dict[str, Any], _d("Headers changed upstream (masked).")]
    requestBody: Annotated[str, _d("Request body as sent, UTF-8 (bad bytes replaced).")]
    requestBodySize: Annotated[int, _d("Request body size, in bytes.")]
    responseStatus: Annotated[int, _d("HTTP status of the answer.")]
    responseHeaders: Annotated[dict[str, Any], _d("Answer headers (masked).")]
    responseBody: Annotated[str, _d("Answer body as the client got it.")]
    responseBodySize: Annotated[int, _d("Answer body size, in bytes.")]
    createdAt: Annotated[datetime | None, _d("When it was captured (RFC 3339).")]


class LogsCleared(msgspec.Struct):
    """The answer to a deletion of log rows."""

    message: Annotated[str, _d("What was done, for a person.")]
    deletedCount: Annotated[int, _d("Rows deleted.")]


_MAX_INT = 2**31 - 1
_TIME = {"format": "date-time"}


class LogScopeQuery(msgspec.Struct):
    """Which rows the stats read (query parameters)."""

    from_: Annotated[
        str, msgspec.Meta(extra_json_schema=_TIME, description="Start, RFC 3339, inclusive")
    ] = msgspec.field(default="", name="from")
    to: Annotated[
        str, msgspec.Meta(extra_json_schema=_TIME, description="End, RFC 3339, inclusive")
    ] = ""
    endpoint: Annotated[str, _d("Client endpoint, e.g. /v1/messages")] = ""
    clientId: Annotated[str, _d("Client (user) id")] = ""
    sessionId: Annotated[str, _d("Client session id")] = ""
    source: Annotated[
        Literal["rollups", "raw"],
        _d("rollups (default) or raw: recomputed from the raw rows only (slow; for checks)"),
    ] = "rollups"


class LogListQuery(msgspec.Struct):
    """Which rows GET /api/logs lists (query parameters)."""

    provider: Annotated[str, _d("Service type of the channel")] = ""
    channel: Annotated[str, _d("Channel name, provider name or service type")] = ""
    model: Annotated[str, _d("Model the client asked for")] = ""
    endpoint: Annotated[str, _d("Client endpoint, e.g. /v1/messages")] = ""
    clientId: Annotated[str, _d("Client (user) id")] = ""
    sessionId: Annotated[str, _d("Client session id")] = ""
    apiKeyId: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] | None,
        _d("Client key id as the logs store it; 0 = the master key"),
    ] = None
    httpStatus: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=999)] | None, _d("HTTP status answered")
    ] = None
    from_: Annotated[
        str, msgspec.Meta(extra_json_schema=_TIME, description="Start, RFC 3339, inclusive")
    ] = msgspec.field(default="", name="from")
    to: Annotated[
        str, msgspec.Meta(extra_json_schema=_TIME, description="End, RFC 3339, inclusive")
    ] = ""
    limit: Annotated[
        int,
        msgspec.Meta(
            le=_MAX_INT,
            description="Rows per page: 0 or less = 100 (the default), over 1000 = 1000",
        ),
    ] = 100
    cursor: Annotated[str, _d("nextCursor of the previous page")] = ""
    offset: Annotated[
        int,
        msgspec.Meta(
            ge=0, le=_MAX_INT, description="Rows skipped (legacy paging); ignored with cursor"
        ),
    ] = 0


class ChannelFigures(msgspec.Struct):
    """One channel's figures over the attempts read."""

    channelUid: Annotated[str, _d("Stable id of the channel; '' for attempts without one.")]
    channelName: Annotated[str, _d("Channel name as the attempts logged it.")]
    attempts: Annotated[int, _d("Attempts read.")]
    completed: Annotated[int, _d("Attempts that completed.")]
    errors: Annotated[int, _d("Error, timeout and interrupted attempts.")]
    failovers: Annotated[int, _d("Attempts that failed over to another channel.")]
    p50LatencyMs: Annotated[int, _d("Median duration of completed attempts, exact, in ms.")]
    p95LatencyMs: Annotated[int, _d("95th percentile duration of completed attempts, in ms.")]


class ChannelStats(msgspec.Struct):
    """GET /api/logs/stats/channels: latency and failovers per channel."""

    channels: Annotated[list[ChannelFigures], _d("One entry per channel seen.")]
    sampled: Annotated[int, _d("Attempts read: the newest, at most limit.")]
    complete: Annotated[bool, _d("Whether every attempt since from was read.")]
    since: Annotated[datetime | None, _d("The oldest time the figures cover (RFC 3339).")]


class ChannelStatsQuery(msgspec.Struct):
    """Which attempts GET /api/logs/stats/channels reads (query parameters)."""

    from_: Annotated[
        str, msgspec.Meta(extra_json_schema=_TIME, description="Start, RFC 3339; default 24 h ago")
    ] = msgspec.field(default="", name="from")
    limit: Annotated[
        int,
        msgspec.Meta(ge=1, le=20_000, description="Attempts read at most, newest first"),
    ] = 5000


class StatsGroup(msgspec.Struct):
    """Sums of the finished requests of one group."""

    count: Annotated[int, _d("Requests.")]
    success: Annotated[int, _d("Requests that completed.")]
    failure: Annotated[int, _d("Requests that failed.")]
    inputTokens: Annotated[int, _d("Input tokens.")]
    outputTokens: Annotated[int, _d("Output tokens.")]
    cacheCreationInputTokens: Annotated[int, _d("Input tokens written to the cache.")]
    cacheReadInputTokens: Annotated[int, _d("Input tokens read from the cache.")]
    cost: Annotated[float, _d("Cost, in the pricing currency (USD default).")]
    avgLatencyMs: Annotated[float, _d("Mean duration, in milliseconds.")]


class TokenTotals(msgspec.Struct):
    """Token sums of every finished request."""

    inputTokens: Annotated[int, _d("Input tokens.")]
    outputTokens: Annotated[int, _d("Output tokens.")]
    cacheCreationInputTokens: Annotated[int, _d("Input tokens written to the cache.")]
    cacheReadInputTokens: Annotated[int, _d("Input tokens read from the cache.")]
    totalTokens: Annotated[int, _d("Sum of the four.")]


class TimeRange(msgspec.Struct):
    """First and last request counted."""

    from_: Annotated[datetime | None, _d("First request (RFC 3339); null = none.")] = msgspec.field(
        name="from"
    )
    to: Annotated[datetime | None, _d("Last request (RFC 3339); null = none.")]


_GROUPS = "label -> sums"


class LogStats(msgspec.Struct):
    """GET /api/logs/stats: totals and breakdowns of finished requests."""

    totalRequests: Annotated[int, _d("Finished requests.")]
    totalSuccess: Annotated[int, _d("Requests that completed.")]
    totalFailure: Annotated[int, _d("Requests that failed.")]
    totalTokens: Annotated[TokenTotals, _d("Token sums.")]
    totalCost: Annotated[float, _d("Cost, in the pricing currency (USD default).")]
    avgLatencyMs: Annotated[float, _d("Mean duration, in milliseconds.")]
    p95LatencyMs: Annotated[
        int, _d("95th percentile duration, in ms, from a sqrt(2)-step histogram, interpolated.")
    ]
    tps: Annotated[float, _d("Output tokens per second of request duration.")]
    byProvider: Annotated[
        dict[str, StatsGroup], _d(f"{_GROUPS}, by channel name (else service type).")
    ]
    byModel: Annotated[dict[str, StatsGroup], _d(f"{_GROUPS}, by requested model.")]
    byClient: Annotated[
        dict[str, StatsGroup], _d(f"{_GROUPS}, by client id; '<unknown>' for rows without one.")
    ]
    bySession: Annotated[dict[str, StatsGroup], _d(f"{_GROUPS}, by session id.")]
    byApiKey: Annotated[
        dict[str, StatsGroup], _d(f"{_GROUPS}, by client key id, 'master' or '<unknown>'.")
    ]
    timeRange: Annotated[TimeRange, _d("First and last request counted.")]
    unpricedRequests: Annotated[int, _d("Finished requests of models without a price.")]
    unpricedModels: Annotated[
        dict[str, int], _d("Model -> finished requests logged at cost 0 for want of a price.")
    ]
    keyBudgets: Annotated[
        dict[str, KeyBudgetView], _d("Client keys with a budget or an expiry, by key id.")
    ]
