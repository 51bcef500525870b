"""Instances beat; the pending rows of a dead one are settled, a live one's never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ccbridge.db.base import Database
from ccbridge.store.liveness import Liveness
from generated.rows import InstancesRow, RequestLogsRow


def _pending(row_id: str, instance_id: str | None) -> RequestLogsRow:
    row = RequestLogsRow(row_id, datetime.now(UTC), "claude", "m", status="pending")
    row.instance_id = instance_id
    return row


async def test_only_the_pending_rows_of_dead_instances_are_interrupted(db: Database) -> None:
    live, other = Liveness(db, "live"), Liveness(db, "other-live")
    await live.check()
    await other.check()
    long_ago = datetime.now(UTC) - timedelta(seconds=30)
    await db.daos.instances.upsert(InstancesRow("dead", "h", 1, long_ago, long_ago))
    rows = [
        _pending("a", "live"),
        _pending("b", "other-live"),
        _pending("c", "dead"),
        _pending("d", None),  # written before instances existed: the stale timeout's
    ]
    for row in rows:
        await db.daos.request_logs.insert(row)
    finished = _pending("e", "dead")
    finished.status = "completed"
    await db.daos.request_logs.insert(finished)

    assert await live.check() == 1

    status = {r.id: r.status for r in await db.daos.request_logs.list()}
    assert status == {
        "a": "pending",
        "b": "pending",
        "c": "interrupted",
        "d": "pending",
        "e": "completed",
    }
    assert {i.instance_id for i in await db.daos.instances.list()} == {"live", "other-live"}


async def test_a_clean_stop_lets_others_settle_what_it_left(db: Database) -> None:
    stopping, staying = Liveness(db, "stopping"), Liveness(db, "staying")
    await stopping.start()
    await staying.check()
    await db.daos.request_logs.insert(_pending("a", "stopping"))

    await stopping.stop()
    assert await staying.check() == 1
    (row,) = await db.daos.request_logs.list()
    assert row.status == "interrupted"
