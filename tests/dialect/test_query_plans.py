"""Generated queries are served by the index meant for them, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ccbridge.db.base import Database
from generated.dao import RequestLogsDao, Stmt

CUTOFF = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
# As the DAO encodes it for SQLite: fixed-width UTC text.
CUTOFF_TEXT = "2026-01-02T03:04:05.000000Z"


async def query_plan(db: Database, stmt: Stmt, params: dict[str, Any]) -> str:
    """Return the plan of a statement, one line per node, without running it."""
    if db.dialect == "sqlite":
        explain = Stmt(stmt.name, f"EXPLAIN QUERY PLAN {stmt.sql}", False)
        return "\n".join(str(row[-1]) for row in await db.executor.fetch_all(explain, params))
    # A tiny table is cheaper to scan; what is asked is whether the index serves the query.
    async with db.raw_transaction() as ex:
        await ex.execute(Stmt("test.seqscan_off", "SET LOCAL enable_seqscan = off", True))
        explain = Stmt(stmt.name, f"EXPLAIN {stmt.sql}", False)
        return "\n".join(str(row[0]) for row in await ex.fetch_all(explain, params))


async def test_settle_stale_pending_uses_the_partial_index(db: Database) -> None:
    stmt = RequestLogsDao._QUERIES[db.dialect].settle_stale_pending
    cutoff = CUTOFF_TEXT if db.dialect == "sqlite" else CUTOFF
    plan = await query_plan(db, stmt, {"cutoff": cutoff, "now": cutoff})
    assert "idx_request_logs_pending" in plan, plan
