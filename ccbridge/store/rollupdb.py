"""Writing the request-log rollups: deltas, locks, rebuilds.

See `ccbridge.store.rollup` for the invariant. On PostgreSQL, writers of
deltas hold a transaction advisory lock shared and rebuilds and deletes of
log rows hold it alone, so no flush reads prior states across a rebuild;
SQLite write transactions are serial anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from ccbridge.db.base import Database
from ccbridge.store.rollup import DAY, EPOCH, FAR_FUTURE, Deltas, Tally, ceil_time
from generated.dao import Daos
from generated.rows import (
    RequestLogLatencyRow,
    RequestLogRollupsRow,
    RequestLogSessionRollupsRow,
)

__all__ = (
    "LOCK_KEY",
    "apply_deltas",
    "lock_rollups",
    "rebuild",
    "rebuild_if_missing",
    "rebuild_in",
)

LOCK_KEY: Final = 0x6363_6272_6C6F_6773  # "ccbrlogs"
_SCAN_BATCH: Final = 5000


async def apply_deltas(daos: Daos, changes: Deltas) -> None:
    """Add rollup deltas: one additive upsert per rollup row."""
    for (span, bucket, key), sums in changes.groups.items():
        slot = {"span": span, "bucket": bucket, **key._asdict()}
        await daos.request_log_rollups.add(**slot, **sums.rollup_columns())
    for (span, bucket, session_key), sums in changes.sessions.items():
        slot = {"span": span, "bucket": bucket, **session_key._asdict()}
        await daos.request_log_session_rollups.add(**slot, **sums.columns())
    for (span, bucket, latency_key, bin_), count in changes.latency.items():
        slot = {"span": span, "bucket": bucket, **latency_key._asdict()}
        await daos.request_log_latency.add(**slot, bin=bin_, requests=count)


async def lock_rollups(daos: Daos, dialect: str, *, exclusive: bool) -> None:
    """Take the rollup lock for this transaction (PostgreSQL only)."""
    if dialect != "postgres":
        return
    if exclusive:
        await daos.request_log_rollups.lock_exclusive(key=LOCK_KEY)
    else:
        await daos.request_log_rollups.lock_shared(key=LOCK_KEY)


async def rebuild(db: Database, until: datetime | None = None) -> int:
    """Recompute the rollups from the raw rows, in one transaction.

    Args:
        db: The database.
        until: Rebuild only buckets before this time (moved up to a UTC day
            boundary, so no bucket is cut); None rebuilds everything.

    Returns:
        How many finished rows were counted.
    """
    async with db.transaction() as tx:
        return await rebuild_in(tx, db.dialect, until)


async def rebuild_in(daos: Daos, dialect: str, until: datetime | None = None) -> int:
    """Like `rebuild`, inside the caller's transaction."""
    end = FAR_FUTURE if until is None else ceil_time(until, DAY)
    await lock_rollups(daos, dialect, exclusive=True)
    if until is None:
        await daos.request_log_rollups.clear()
        await daos.request_log_session_rollups.clear()
        await daos.request_log_latency.clear()
    else:
        await daos.request_log_rollups.delete_before(until=end)
        await daos.request_log_session_rollups.delete_before(until=end)
        await daos.request_log_latency.delete_before(until=end)
    counted, sums = await _scan(daos, end)
    await daos.request_log_rollups.insert_many(
        [
            RequestLogRollupsRow(**_slot(slot), **s.rollup_columns())
            for slot, s in sums.groups.items()
        ]
    )
    await daos.request_log_session_rollups.insert_many(
        [
            RequestLogSessionRollupsRow(**_slot(slot), **s.columns())
            for slot, s in sums.sessions.items()
        ]
    )
    await daos.request_log_latency.insert_many(
        [
            RequestLogLatencyRow(**_slot(slot[:3]), bin=slot[3], requests=count)
            for slot, count in sums.latency.items()
        ]
    )
    return counted


def _slot(slot: tuple[int, datetime, Any]) -> dict[str, Any]:
    span, bucket, key = slot
    return {"span": span, "bucket": bucket, **key._asdict()}


async def _scan(daos: Daos, end: datetime) -> tuple[int, Deltas]:
    tally = Tally()
    after_time, after_id, counted = EPOCH, "", 0
    while True:
        rows = await daos.request_logs.rollup_rows(
            after_time=after_time,
            after_id=after_id,
            until=end,
            endpoint=None,
            client_id=None,
            max_rows=_SCAN_BATCH,
        )
        for row in rows:
            tally.add(row)
        counted += len(rows)
        if len(rows) < _SCAN_BATCH:
            return counted, tally.deltas()
        last = rows[-1]
        assert last.initial_time is not None and last.id is not None
        after_time, after_id = last.initial_time, last.id


async def rebuild_if_missing(db: Database) -> bool:
    """Rebuild when finished rows exist but no rollup does (after an import).

    Returns:
        True if a rebuild ran.
    """
    daos = db.daos
    if await daos.request_log_rollups.any_row() or not await daos.request_logs.any_final():
        return False
    await rebuild(db)
    return True
