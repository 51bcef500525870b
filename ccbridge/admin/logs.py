"""/api/logs: request-log list, single rows, debug data, deletes, stats, stream.

The list pages with a cursor over (initial_time DESC, id DESC), so every
page costs the same at any depth (``offset`` still works, as a plain
OFFSET, for older clients). ``total`` counts at most `TOTAL_CAP` rows so a
page stays cheap on a large table; ``totalExact`` says whether it was
reached. Stats routes are in `stats`, the live stream in `stream`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, TypedDict

import falcon.asgi

from ccbridge.admin.channelstats import ChannelStatsResource
from ccbridge.admin.common import AdminError, reply
from ccbridge.admin.log_models import LogEntry, LogPage, LogsCleared, with_chain
from ccbridge.admin.logquery import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    LogFilter,
    decode_cursor,
    encode_cursor,
    int_param,
    log_filter,
    text_param,
)
from ccbridge.admin.logs_openapi import OPENAPI_PATHS
from ccbridge.admin.logview import debug_json, log_json
from ccbridge.admin.stats import (
    ActiveSessionsResource,
    DailyStatsResource,
    HistoryResource,
    StatsResource,
)
from ccbridge.admin.stream import LogStreamResource
from ccbridge.runtime import Runtime
from ccbridge.store import rollupdb
from ccbridge.store.logmaint import CLEANUP_DAYS, cleanup_logs, clear_logs
from ccbridge.store.shapes import to_json
from generated.dao import Daos
from generated.rows import RequestLogsRow
from generated.tables.request_logs import RequestLogsDao

__all__ = (
    "CHAIN_CAP",
    "OPENAPI_PATHS",
    "TOTAL_CAP",
    "LogItemResource",
    "LogListResource",
    "LogMaintenanceResource",
    "register",
)

TOTAL_CAP: Final = 10_000
CHAIN_CAP: Final = 50  # attempts of one client request shown with a row


def _limit(req: falcon.asgi.Request) -> int:
    limit = int_param(req, "limit")
    if limit is None or limit <= 0:
        return DEFAULT_LIMIT
    return min(limit, MAX_LIMIT)


async def _with_debug_flags(daos: Daos, rows: list[RequestLogsRow]) -> list[LogEntry]:
    if not rows:
        return []
    found = await daos.request_debug_logs.existing(ids=[row.id for row in rows])
    with_debug = {hit.request_id for hit in found}
    return [log_json(row, row.id in with_debug) for row in rows]


class LogListResource:
    """GET /api/logs (a page of rows) and DELETE /api/logs (every row)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return one page of rows, newest first."""
        filters, limit = log_filter(req), _limit(req)
        before, skip = (filters.until, ""), int_param(req, "offset", low=0) or 0
        cursor = text_param(req, "cursor")
        if cursor is not None:
            before, skip = min(before, decode_cursor(cursor)), 0
        async with self.rt.db.transaction(readonly=True) as tx:
            rows = await _page(tx, filters, before, limit + 1, skip)
            total = await _count(tx, filters)
            page = await _with_debug_flags(tx, rows[:limit])
        more = len(rows) > limit
        last = rows[limit - 1] if more else None
        answer = LogPage(
            requests=page,
            total=min(total, TOTAL_CAP),
            totalExact=total <= TOTAL_CAP,
            hasMore=more,
            nextCursor=encode_cursor(last.initial_time, last.id) if last else None,
        )
        reply(resp, to_json(answer))

    async def on_delete(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Delete every log row, its debug data and the rollups."""
        deleted = await clear_logs(self.rt.db)
        reply(resp, to_json(LogsCleared(message="All logs cleared", deletedCount=deleted)))


class _Keyset(TypedDict):
    """The keyset bound and sizes of a page read."""

    before_time: datetime
    before_id: str
    since: datetime
    max_rows: int
    skip: int


class _CountWindow(TypedDict):
    """The window and cap of a count."""

    since: datetime
    until: datetime
    cap: int


# The page and count queries by the filter whose index they read along (LogFilter.lead).
_PAGES: Final = {
    "": RequestLogsDao.page,
    "session_id": RequestLogsDao.session_page,
    "http_status": RequestLogsDao.status_page,
    "client_id": RequestLogsDao.client_page,
    "api_key_id": RequestLogsDao.key_page,
}
_COUNTS: Final = {
    "": RequestLogsDao.count_capped,
    "session_id": RequestLogsDao.session_count,
    "http_status": RequestLogsDao.status_count,
    "client_id": RequestLogsDao.client_count,
    "api_key_id": RequestLogsDao.key_count,
}


async def _page(
    daos: Daos, filters: LogFilter, before: tuple[datetime, str], rows: int, skip: int
) -> list[RequestLogsRow]:
    """Return up to rows rows before a keyset bound, newest first."""
    params: _Keyset = {
        "before_time": before[0],
        "before_id": before[1],
        "since": filters.since,
        "max_rows": rows,
        "skip": skip,
    }
    read = _PAGES[filters.lead()]
    return await read(daos.request_logs, **params, **filters.equality())


async def _count(daos: Daos, filters: LogFilter) -> int:
    window: _CountWindow = {"since": filters.since, "until": filters.until, "cap": TOTAL_CAP + 1}
    count = _COUNTS[filters.lead()]
    return await count(daos.request_logs, **window, **filters.equality()) or 0


class LogItemResource:
    """GET /api/logs/{log_id} and GET /api/logs/{log_id}/debug."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, log_id: str
    ) -> None:
        """Return one row, with the attempts of its client request (``chain``)."""
        async with self.rt.db.transaction(readonly=True) as tx:
            row = await tx.request_logs.get(log_id)
            if row is None:
                raise AdminError(404, "not found", "LOG_NOT_FOUND")
            (body,) = await _with_debug_flags(tx, [row])
            attempts = []
            if row.request_id:
                attempts = await tx.request_logs.chain(
                    request_id=row.request_id, max_rows=CHAIN_CAP
                )
            chain = await _with_debug_flags(tx, attempts) if len(attempts) > 1 else [body]
        reply(resp, to_json(with_chain(body, chain)))

    async def on_get_debug(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, log_id: str
    ) -> None:
        """Return a row's debug data, bodies unpacked and secrets masked."""
        row = await self.rt.db.daos.request_debug_logs.get(log_id)
        if row is None:
            raise AdminError(404, "Debug log not found", "DEBUG_LOG_NOT_FOUND")
        reply(resp, to_json(debug_json(row)))


class LogMaintenanceResource:
    """POST /api/logs/cleanup and POST /api/logs/rollups/rebuild."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_post_cleanup(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Delete rows older than ``days`` (30, 60, 90, 180 or 365), keeping debugged ones."""
        raw = text_param(req, "days")
        if raw is None:
            raise AdminError(400, "days parameter is required", "INVALID_PARAMETER")
        days = int_param(req, "days")
        if days not in CLEANUP_DAYS:
            allowed = ", ".join(map(str, CLEANUP_DAYS))
            raise AdminError(400, f"days must be one of: {allowed}", "INVALID_PARAMETER")
        deleted = await cleanup_logs(self.rt.db, days)
        reply(
            resp, {"message": "Cleanup completed", "deletedCount": deleted, "retentionDays": days}
        )

    async def on_post_rebuild(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Recompute every rollup from the raw rows (after an import, or to check)."""
        counted = await rollupdb.rebuild(self.rt.db)
        reply(resp, {"message": "Rollups rebuilt", "countedRows": counted})


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the /api/logs routes."""
    listing, item, maintenance = (
        LogListResource(rt),
        LogItemResource(rt),
        LogMaintenanceResource(rt),
    )
    app.add_route("/api/logs", listing)
    app.add_route("/api/logs/cleanup", maintenance, suffix="cleanup")
    app.add_route("/api/logs/rollups/rebuild", maintenance, suffix="rebuild")
    app.add_route("/api/logs/stats", StatsResource(rt))
    app.add_route("/api/logs/stats/daily", DailyStatsResource(rt))
    app.add_route("/api/logs/stats/history", HistoryResource(rt))
    app.add_route("/api/logs/stats/channels", ChannelStatsResource(rt))
    app.add_route("/api/logs/sessions/active", ActiveSessionsResource(rt))
    app.add_route("/api/logs/stream", LogStreamResource(rt.writer.events))
    app.add_route("/api/logs/{log_id}", item)
    app.add_route("/api/logs/{log_id}/debug", item, suffix="debug")
