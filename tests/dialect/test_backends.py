"""Backends on both engines, with hand-written statements.

These tests use their own scratch table, not the generated schema, so they
exercise only the executor contract of docs/storage.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from ccbridge.db.base import Database
from ccbridge.db.migrate import migrate
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.db.sqlite import SqliteDatabase
from ccbridge.errors import DatabaseClosedError, StorageError
from generated.dao import Stmt
from generated.rows import ModelPricingRow

SECRET = "sk-ant-very-secret-value"

_SQL = {
    "create": {
        "sqlite": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER)",
        "postgres": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER)",
    },
    "insert": {
        "sqlite": "INSERT INTO t (id, v) VALUES (?, ?)",
        "postgres": "INSERT INTO t (id, v) VALUES (%s, %s)",
    },
    "insert_returning": {
        "sqlite": "INSERT INTO t (id, v) VALUES (:id, :v) RETURNING id, v",
        "postgres": "INSERT INTO t (id, v) VALUES (%(id)s, %(v)s) RETURNING id, v",
    },
    "insert_n": {
        "sqlite": "INSERT INTO t (id, v, n) VALUES (?, 'x', ?)",
        "postgres": "INSERT INTO t (id, v, n) VALUES (%s, 'x', %s)",
    },
    "copy": {
        "sqlite": "INSERT INTO t (id, v) VALUES (?, ?)",
        "postgres": "COPY t (id, v) FROM STDIN",
    },
    "count": {"sqlite": "SELECT COUNT(*) FROM t", "postgres": "SELECT COUNT(*) FROM t"},
    "get_n": {
        "sqlite": "SELECT n FROM t WHERE id = ?",
        "postgres": "SELECT n FROM t WHERE id = %s",
    },
    "set_n": {
        "sqlite": "UPDATE t SET n = ? WHERE id = ?",
        "postgres": "UPDATE t SET n = %s WHERE id = %s",
    },
    "inc_n": {
        "sqlite": "UPDATE t SET n = n + 1 WHERE id = ?",
        "postgres": "UPDATE t SET n = n + 1 WHERE id = %s",
    },
}
_WRITES = {"create", "insert", "insert_returning", "insert_n", "copy", "set_n", "inc_n"}


def stmt(db: Database, key: str) -> Stmt:
    """Return the scratch statement ``key`` in the database's dialect."""
    return Stmt(f"t.{key}", _SQL[key][db.dialect], key in _WRITES)


async def count(db: Database) -> int:
    row = await db.executor.fetch_one(stmt(db, "count"))
    assert row is not None
    return int(row[0])


@pytest.fixture
async def tdb(empty_db: Database) -> Database:
    """An empty database holding only the scratch table ``t``."""
    await empty_db.executor.execute(stmt(empty_db, "create"))
    return empty_db


async def test_transaction_commits_on_normal_exit(tdb: Database) -> None:
    async with tdb.raw_transaction() as tx:
        await tx.execute(stmt(tdb, "insert"), (1, "a"))
        await tx.execute(stmt(tdb, "insert"), (2, "b"))
        assert (await tx.fetch_one(stmt(tdb, "count"))) == (2,)
    assert await count(tdb) == 2


async def test_transaction_rolls_back_on_exception(tdb: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with tdb.raw_transaction() as tx:
            await tx.execute(stmt(tdb, "insert"), (1, "a"))
            raise RuntimeError("boom")
    assert await count(tdb) == 0


async def test_transaction_yields_daos_bound_to_it(tdb: Database) -> None:
    async with tdb.transaction() as daos:
        await daos.executor.execute(stmt(tdb, "insert"), (1, "a"))
        assert daos.executor is not tdb.executor
    assert await count(tdb) == 1
    assert tdb.daos.executor is tdb.executor


async def test_failed_statement_rolls_back_whole_transaction(tdb: Database) -> None:
    with pytest.raises(StorageError) as info:
        async with tdb.raw_transaction() as tx:
            await tx.execute(stmt(tdb, "insert"), (1, "a"))
            await tx.execute(stmt(tdb, "insert"), (1, SECRET))
    assert info.value.kind == "unique_violation"
    assert await count(tdb) == 0
    # The writer (SQLite) / pooled connection (PostgreSQL) is usable again.
    await tdb.executor.execute(stmt(tdb, "insert"), (1, "a"))
    assert await count(tdb) == 1


async def test_errors_name_the_statement_not_the_values(tdb: Database) -> None:
    await tdb.executor.execute(stmt(tdb, "insert"), (1, SECRET))
    with pytest.raises(StorageError) as info:
        await tdb.executor.execute(stmt(tdb, "insert"), (1, SECRET))
    assert info.value.name == "t.insert"
    assert str(info.value).startswith("t.insert: ")
    assert SECRET not in str(info.value)
    assert info.value.kind == "unique_violation"


async def test_bad_value_error_does_not_echo_the_value(tdb: Database) -> None:
    # The id column is an INTEGER key: even SQLite refuses text there.
    with pytest.raises(StorageError) as info:
        await tdb.executor.execute(stmt(tdb, "insert"), (SECRET, "a"))
    assert SECRET not in str(info.value)
    assert info.value.code == ("22P02" if tdb.dialect == "postgres" else "SQLITE_MISMATCH")


async def test_transaction_executor_refuses_use_after_exit(tdb: Database) -> None:
    async with tdb.raw_transaction() as tx:
        pass
    with pytest.raises(DatabaseClosedError):
        await tx.execute(stmt(tdb, "insert"), (1, "a"))


async def test_readonly_transaction_reads_one_snapshot(tdb: Database) -> None:
    await tdb.executor.execute(stmt(tdb, "insert"), (1, "a"))
    async with tdb.raw_transaction(readonly=True) as tx:
        assert await tx.fetch_one(stmt(tdb, "count")) == (1,)
        await tdb.executor.execute(stmt(tdb, "insert"), (2, "b"))
        assert await count(tdb) == 2
        assert await tx.fetch_one(stmt(tdb, "count")) == (1,)


async def test_readonly_transaction_refuses_writes(tdb: Database) -> None:
    with pytest.raises(StorageError):
        async with tdb.raw_transaction(readonly=True) as tx:
            await tx.execute(stmt(tdb, "insert"), (1, "a"))
    assert await count(tdb) == 0
    # A pooled connection goes back with its defaults restored.
    async with tdb.raw_transaction() as tx:
        await tx.execute(stmt(tdb, "insert"), (1, "a"))
    assert await count(tdb) == 1


async def test_fetch_routes_a_writing_statement_to_the_writer(tdb: Database) -> None:
    row = await tdb.executor.fetch_one(stmt(tdb, "insert_returning"), {"id": 7, "v": "x"})
    assert row == (7, "x")
    rows = await tdb.executor.fetch_all(stmt(tdb, "insert_returning"), {"id": 8, "v": "y"})
    assert rows == [(8, "y")]
    assert await count(tdb) == 2


async def test_execute_returns_rowcount(tdb: Database) -> None:
    assert await tdb.executor.execute(stmt(tdb, "insert_n"), (1, 0)) == 1
    assert await tdb.executor.execute(stmt(tdb, "set_n"), (5, 1)) == 1
    assert await tdb.executor.execute(stmt(tdb, "set_n"), (5, 99)) == 0


async def test_fetch_one_without_rows_is_none(tdb: Database) -> None:
    assert await tdb.executor.fetch_one(stmt(tdb, "get_n"), (404,)) is None
    assert await tdb.executor.fetch_all(stmt(tdb, "get_n"), (404,)) == []


async def test_execute_many_is_one_atomic_batch(tdb: Database) -> None:
    await tdb.executor.execute_many(stmt(tdb, "insert"), [(i, f"v{i}") for i in range(100)])
    assert await count(tdb) == 100
    with pytest.raises(StorageError) as info:
        await tdb.executor.execute_many(stmt(tdb, "insert"), [(1000, "new"), (1, "dup")])
    assert info.value.kind == "unique_violation"
    assert await count(tdb) == 100


async def test_copy_in_outside_and_inside_transactions(tdb: Database) -> None:
    await tdb.executor.copy_in(stmt(tdb, "copy"), ((i, f"v{i}") for i in range(50)))
    async with tdb.raw_transaction() as tx:
        await tx.copy_in(stmt(tdb, "copy"), [(i, "tx") for i in range(50, 60)])
        await tx.execute_many(stmt(tdb, "insert"), [(i, "many") for i in range(60, 70)])
    assert await count(tdb) == 70


async def test_concurrent_transactions_all_count(tdb: Database) -> None:
    await tdb.executor.execute(stmt(tdb, "insert_n"), (1, 0))

    async def bump() -> None:
        async with tdb.raw_transaction() as tx:
            await tx.execute(stmt(tdb, "inc_n"), (1,))

    await asyncio.gather(*(bump() for _ in range(20)))
    assert await tdb.executor.fetch_one(stmt(tdb, "get_n"), (1,)) == (20,)


async def test_ping_and_dedicated(tdb: Database) -> None:
    await tdb.ping()
    async with tdb.dedicated() as ex:
        assert ex.dialect == tdb.dialect
        await ex.execute(stmt(tdb, "insert"), (1, "a"))
    assert await count(tdb) == 1


async def test_close_is_idempotent_and_use_after_close_is_loud(tdb: Database) -> None:
    executor = tdb.executor
    await tdb.close()
    await tdb.close()
    with pytest.raises(DatabaseClosedError):
        _ = tdb.daos
    with pytest.raises(DatabaseClosedError):
        await executor.fetch_all(stmt(tdb, "count"))
    with pytest.raises(DatabaseClosedError):
        await executor.execute(stmt(tdb, "insert"), (1, "a"))
    with pytest.raises(DatabaseClosedError):
        async with tdb.transaction():
            pass
    with pytest.raises(DatabaseClosedError):
        await tdb.ping()
    with pytest.raises(DatabaseClosedError):
        await tdb.open()


async def test_unopened_database_refuses_use(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "x.db")
    with pytest.raises(DatabaseClosedError, match="new"):
        await db.executor.fetch_all(Stmt("x", "PRAGMA user_version", False))
    await db.close()


# SQLite only ----------------------------------------------------------------


def _pragma(name: str, writes: bool) -> Stmt:
    return Stmt(f"pragma.{name}", f"PRAGMA {name}", writes)


async def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "x.db"
    async with SqliteDatabase(path) as db:
        assert path.exists()
        for writes in (True, False):  # the writer, then a reader
            ex = db.executor
            assert await ex.fetch_one(_pragma("journal_mode", writes)) == ("wal",)
            assert await ex.fetch_one(_pragma("foreign_keys", writes)) == (1,)
            assert await ex.fetch_one(_pragma("busy_timeout", writes)) == (5000,)
            assert await ex.fetch_one(_pragma("synchronous", writes)) == (1,)
        assert await db.executor.fetch_one(_pragma("query_only", False)) == (1,)
        assert await db.executor.fetch_one(_pragma("query_only", True)) == (0,)


async def test_sqlite_reader_refuses_a_write_marked_as_read(tmp_path: Path) -> None:
    async with SqliteDatabase(tmp_path / "x.db") as db:
        await db.executor.execute(stmt(db, "create"))
        wrong = stmt(db, "insert")._replace(writes=False)
        with pytest.raises(StorageError, match="readonly"):
            await db.executor.execute(wrong, (1, "a"))


async def test_sqlite_two_instances_never_see_database_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with SqliteDatabase(path) as one, SqliteDatabase(path) as two:
        await one.executor.execute(stmt(one, "create"))
        await one.executor.execute(stmt(one, "insert_n"), (1, 0))

        async def bump(db: Database) -> None:
            # Read, yield to other tasks, then write: only serialised
            # transactions keep every increment.
            async with db.raw_transaction() as tx:
                row = await tx.fetch_one(stmt(db, "get_n"), (1,))
                assert row is not None
                await asyncio.sleep(0)
                await tx.execute(stmt(db, "set_n"), (row[0] + 1, 1))

        await asyncio.gather(*(bump(db) for db in (one, two) for _ in range(10)))
        assert await one.executor.fetch_one(stmt(one, "get_n"), (1,)) == (20,)


async def test_sqlite_write_inside_own_transaction_fails_fast(tmp_path: Path) -> None:
    async with SqliteDatabase(tmp_path / "x.db") as db:
        await db.executor.execute(stmt(db, "create"))
        with pytest.raises(StorageError, match="transaction's DAOs"):
            async with asyncio.timeout(5), db.raw_transaction():
                await db.executor.execute(stmt(db, "insert"), (1, "a"))
        assert await count(db) == 0


async def test_sqlite_cancelled_transaction_releases_the_writer(tmp_path: Path) -> None:
    async with SqliteDatabase(tmp_path / "x.db") as db:
        await db.executor.execute(stmt(db, "create"))
        entered = asyncio.Event()

        async def stuck() -> None:
            async with db.raw_transaction() as tx:
                await tx.execute(stmt(db, "insert"), (1, "a"))
                entered.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(stuck())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(5), db.raw_transaction() as tx:
            await tx.execute(stmt(db, "insert"), (2, "b"))
        assert await count(db) == 1


async def test_sqlite_migration_transaction_turns_foreign_keys_off(tmp_path: Path) -> None:
    async with SqliteDatabase(tmp_path / "x.db") as db:
        async with db.migration_transaction() as tx:
            assert await tx.fetch_one(_pragma("foreign_keys", True)) == (0,)
        assert await db.executor.fetch_one(_pragma("foreign_keys", True)) == (1,)


async def test_sqlite_memory_database_runs_reads_on_the_writer() -> None:
    async with SqliteDatabase(":memory:") as db:
        await db.executor.execute(stmt(db, "create"))
        await db.executor.execute(stmt(db, "insert"), (1, "a"))
        assert await count(db) == 1
        async with db.raw_transaction(readonly=True) as tx:
            assert await tx.fetch_one(stmt(db, "count")) == (1,)


async def test_sqlite_binds_none_as_null_and_booleans_as_integers(tmp_path: Path) -> None:
    # None goes through the adapter db/sqlite.py registers for speed, and the
    # generated codec turns booleans into 0/1: both must store what they did.
    async with SqliteDatabase(tmp_path / "x.db") as db:
        await migrate(db)
        row = ModelPricingRow(model_id="m", input_price=1.0, output_price=2.0)
        await db.daos.model_pricing.insert(row)
        await db.daos.model_pricing.insert(replace(row, model_id="n", export_to_models=False))
        await db.executor.execute(stmt(db, "create"))
        await db.executor.execute(stmt(db, "insert_n"), (1, None))
        typed = Stmt(
            "t.typed",
            "SELECT typeof(export_to_models), typeof(description), export_to_models "
            "FROM model_pricing ORDER BY model_id",
            False,
        )
        assert await db.executor.fetch_all(typed) == [
            ("integer", "null", 1),
            ("integer", "null", 0),
        ]
        assert await db.executor.fetch_one(stmt(db, "get_n"), (1,)) == (None,)
        assert [r.export_to_models for r in await db.daos.model_pricing.list()] == [True, False]


# PostgreSQL only ------------------------------------------------------------


async def test_postgres_sessions_run_in_utc(pg_dsn: str) -> None:
    async with PostgresDatabase(pg_dsn, min_size=1, max_size=2) as db:
        show = Stmt("show.timezone", "SHOW TimeZone", False)
        assert await db.executor.fetch_one(show) == ("UTC",)
        async with db.dedicated() as ex:
            assert await ex.fetch_one(show) == ("UTC",)
        conn = await db.unpooled_connection()
        try:
            assert conn.autocommit
            assert (await (await conn.execute("SHOW TimeZone")).fetchone()) == ("UTC",)
        finally:
            await conn.close()


async def test_postgres_bad_dsn_fails_fast_with_one_masked_line(pg_dsn: str) -> None:
    from psycopg.conninfo import make_conninfo

    bad = make_conninfo(pg_dsn, port=1, password="hunter2-secret")
    db = PostgresDatabase(bad, min_size=1, max_size=2, open_timeout=5)
    async with asyncio.timeout(10):
        with pytest.raises(StorageError) as info:
            await db.open()
    message = str(info.value)
    assert "\n" not in message
    assert "hunter2-secret" not in message
    assert "password=***" in message
    assert info.value.kind == "connection"
    with pytest.raises(DatabaseClosedError):
        _ = db.daos
