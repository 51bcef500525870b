"""Deleting request logs and expiring debug logs, rollups kept true.

Every delete of log rows runs with the rollup lock held alone and rebuilds
the rollup buckets it touched in the same transaction, so stats never count
a deleted row (spec §3.11: cleanup keeps rows that have debug data).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from ccbridge.db.base import Database
from ccbridge.store import rollupdb
from ccbridge.store.snapshot import DebugLogConfig
from generated.dao import Daos

__all__ = ("CLEANUP_DAYS", "DebugExpiry", "clear_logs", "cleanup_logs", "expire_debug_logs")

CLEANUP_DAYS: Final = (30, 60, 90, 180, 365)


async def clear_logs(db: Database) -> int:
    """Delete every log row, its debug data and every rollup; return rows deleted."""
    async with db.transaction() as tx:
        await rollupdb.lock_rollups(tx, db.dialect, exclusive=True)
        await tx.request_debug_logs.clear()
        deleted = await tx.request_logs.clear()
        await tx.request_log_rollups.clear()
        await tx.request_log_session_rollups.clear()
        await tx.request_log_latency.clear()
    return deleted


async def cleanup_logs(db: Database, days: int, now: datetime | None = None) -> int:
    """Delete log rows older than days, except those with debug data.

    Returns:
        How many rows were deleted.
    """
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    async with db.transaction() as tx:
        await rollupdb.lock_rollups(tx, db.dialect, exclusive=True)
        deleted = await tx.request_logs.delete_before_keep_debug(cutoff=cutoff)
        await rollupdb.rebuild_in(tx, db.dialect, until=cutoff)
    return deleted


class DebugExpiry(NamedTuple):
    """What one debug-log retention pass did (row counts)."""

    stripped: int
    deleted: int


async def expire_debug_logs(daos: Daos, config: DebugLogConfig, now: datetime) -> DebugExpiry:
    """Null bodies after fullRetentionHours; delete rows after headerRetentionHours.

    Rows are kept (headers only) forever when headerRetentionForever is set.
    """
    stripped = await daos.request_debug_logs.strip_bodies(
        cutoff=now - timedelta(hours=config.full_retention_hours)
    )
    deleted = 0
    if not config.header_retention_forever:
        hours = max(config.header_retention_hours, config.full_retention_hours)
        deleted = await daos.request_debug_logs.delete_before(cutoff=now - timedelta(hours=hours))
    return DebugExpiry(stripped, deleted)
