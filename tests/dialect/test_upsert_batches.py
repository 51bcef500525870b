"""`upsert_many` on both engines: whole batches, the rest, keys seen twice.

On SQLite a batch of rows goes through one statement run (`upsert_batches` of
each table's `TableSql`); these tests hold it to the row-by-row result.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ccbridge.db.base import Database
from generated.dao import RequestLogsDao, SettingsDao
from generated.rows import RequestLogsRow, SettingsRow

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PER = SettingsDao._VARIANTS["sqlite"].upsert_batches["key"].rows  # rows one SQLite statement takes


async def _settings(db: Database) -> dict[str, tuple[str, str]]:
    async with db.transaction() as tx:
        rows = await tx.settings.list()
    return {r.key: (r.value, r.category) for r in rows}


async def test_batches_and_the_rest_are_all_written(db: Database) -> None:
    before = await _settings(db)
    n = 2 * PER + 7  # two whole batches and a rest
    rows = [SettingsRow(f"k{i:04d}", f"v{i}", "bench", T0) for i in range(n)]
    async with db.transaction() as tx:
        await tx.settings.upsert_many(rows)

    stored = await _settings(db)
    assert len(stored) == len(before) + n
    assert all(stored[f"k{i:04d}"] == (f"v{i}", "bench") for i in range(n))


async def test_existing_keys_are_updated_and_a_repeated_key_ends_as_its_last_row(
    db: Database,
) -> None:
    async with db.transaction() as tx:
        await tx.settings.upsert_many([SettingsRow(f"k{i}", "old", "a", T0) for i in range(PER)])
    again = [SettingsRow(f"k{i}", f"new{i}", "b", T0) for i in range(0, PER, 2)]
    again += [SettingsRow(f"k{PER + i}", "added", "b", T0) for i in range(PER)]
    again.insert(3, SettingsRow("k1", "first", "b", T0))  # k1 twice in one batch
    again.append(SettingsRow("k1", "last", "b", T0))
    async with db.transaction() as tx:
        await tx.settings.upsert_many(again)

    stored = await _settings(db)
    assert stored["k0"] == ("new0", "b") and stored["k2"] == ("new2", "b")
    assert stored["k3"] == ("old", "a")  # not in the second call
    assert stored["k1"] == ("last", "b")
    assert all(stored[f"k{PER + i}"] == ("added", "b") for i in range(PER))


async def test_request_log_rows_round_trip_through_batches(db: Database) -> None:
    per = RequestLogsDao._VARIANTS["sqlite"].upsert_batches["id"].rows
    rows = [
        RequestLogsRow(
            id=f"req_{i:05d}",
            initial_time=T0 + timedelta(seconds=i),
            provider="claude",
            model="claude-sonnet-4-5",
            status="completed" if i % 3 else "pending",
            input_tokens=i,
            output_tokens=2 * i,
            price=i / 1000,
            stream=bool(i % 2),
            client_id=None if i % 5 else "user_a",
            created_at=T0,
        )
        for i in range(3 * per + 1)
    ]
    async with db.transaction() as tx:
        await tx.request_logs.upsert_many(rows)
        stored = {r.id: r for r in await tx.request_logs.list()}

    assert stored == {r.id: r for r in rows}
