"""OpenAPI 3.1 paths of the /api/logs routes (merged by `openapi`)."""

from __future__ import annotations

from typing import Any, Final

from ccbridge.admin import spec
from ccbridge.admin.log_models import (
    ChannelStats,
    ChannelStatsQuery,
    DebugEntry,
    LogEntry,
    LogListQuery,
    LogPage,
    LogsCleared,
    LogScopeQuery,
    LogStats,
    LogWithChain,
)
from ccbridge.admin.model import query_params, ref
from ccbridge.admin.series_models import History

__all__ = ("OPENAPI_PATHS",)

_TAG: Final = "logs"
_DT: Final = spec.DATETIME
_NUM: Final = spec.NUMBER
_INT: Final = spec.INT
_STR: Final = spec.STR

_TOKENS: Final = {
    "inputTokens": _INT,
    "outputTokens": _INT,
    "cacheCreationInputTokens": _INT,
    "cacheReadInputTokens": _INT,
}

LOG: Final = ref(LogEntry)
_PAGE: Final = ref(LogPage)
_DEBUG: Final = ref(DebugEntry)

_STATS: Final = ref(LogStats)
_LOG_WITH_CHAIN: Final = ref(LogWithChain)

_POINT: Final = {
    "requests": _INT,
    "success": _INT,
    "failure": _INT,
    **_TOKENS,
    "cost": _NUM,
    "avgDurationMs": _NUM,
}
_DAILY: Final = spec.obj(
    {"dataPoints": spec.array(spec.obj({"date": {**_STR, "format": "date"}, **_POINT}))}
)
_HISTORY: Final = ref(History)
_SESSIONS: Final = spec.array(
    spec.obj(
        {
            "sessionId": _STR,
            "type": _STR,
            "firstRequestTime": _DT,
            "lastRequestTime": _DT,
            "count": _INT,
            **_TOKENS,
            "cost": _NUM,
        }
    )
)
_DAYS: Final = {**_INT, "minimum": 1, "maximum": 2**31 - 1}
_MESSAGE: Final = spec.obj({"message": _STR}, ["message"], additional=True)

_SCOPE: Final = {p["name"]: p for p in query_params(LogScopeQuery)}
_LOG_ID: Final = spec.path_param("log_id", _STR, "Log row id (req_…)")
_LIST_PARAMS: Final = query_params(LogListQuery)


def _op(summary: str, ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return spec.operation(summary, _TAG, ok_schema=ok, **extra)


def _stream_op() -> dict[str, Any]:
    op = _op(
        "Live log events (SSE)",
        spec.ANY_OBJECT,
        params=[spec.query_param("heartbeat", _NUM, "idle seconds between pings (15)")],
        errors=(400, 401, 403, 429),
    )
    event = spec.obj({"type": {"enum": ["created", "updated"]}, "log_id": _STR, "ts": _INT})
    op["responses"]["200"] = {
        "description": "text/event-stream of `event: created|updated` with JSON data",
        "content": {"text/event-stream": {"schema": event}},
    }
    return op


def _paths() -> dict[str, Any]:
    scope = list(_SCOPE.values())
    return {
        "/api/logs": {
            "get": _op("List log rows, newest first", _PAGE, params=_LIST_PARAMS),
            "delete": _op("Delete every log row and its stats", ref(LogsCleared)),
        },
        "/api/logs/{log_id}": {
            "get": _op("Get one log row and its failover chain", _LOG_WITH_CHAIN, params=[_LOG_ID])
        },
        "/api/logs/{log_id}/debug": {
            "get": _op("Get a row's debug data (headers masked)", _DEBUG, params=[_LOG_ID])
        },
        "/api/logs/cleanup": {
            "post": _op(
                "Delete rows older than days (rows with debug data stay)",
                _MESSAGE,
                params=[
                    spec.query_param(
                        "days", {"enum": [30, 60, 90, 180, 365]}, "Age in days", required=True
                    )
                ],
            )
        },
        "/api/logs/rollups/rebuild": {
            "post": _op("Recompute the stats rollups from the rows", _MESSAGE)
        },
        "/api/logs/stats": {"get": _op("Totals and breakdowns", _STATS, params=scope)},
        "/api/logs/stats/daily": {
            "get": _op(
                "Per UTC day",
                _DAILY,
                params=[*scope, spec.query_param("days", _DAYS, "without from: last N days (30)")],
            )
        },
        "/api/logs/stats/history": {
            "get": _op(
                "Per time bucket (1m … 4h by window length)",
                _HISTORY,
                params=[
                    spec.query_param("duration", {"enum": ["1h", "6h", "24h", "today", "period"]}),
                    *(_SCOPE[name] for name in ("from", "to", "endpoint", "source")),
                ],
            )
        },
        "/api/logs/stats/channels": {
            "get": _op(
                "Latency p50/p95 and failovers per channel over the newest attempts",
                ref(ChannelStats),
                params=query_params(ChannelStatsQuery),
            )
        },
        "/api/logs/sessions/active": {
            "get": _op(
                "Sessions active within threshold",
                _SESSIONS,
                params=[spec.query_param("threshold", _STR, "Go duration, default 30m")],
            )
        },
        "/api/logs/stream": {"get": _stream_op()},
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _paths()
