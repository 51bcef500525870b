"""The migration runner and the drift check, on both engines."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest

from ccbridge.db.base import Database
from ccbridge.db.check import check_schema
from ccbridge.db.migrate import generated_root, load_migrations, migrate, status
from ccbridge.errors import MigrationError
from generated.dao import Stmt
from generated.rows import SchemaMigrationsRow
from tests.conftest import make_database


def copy_generated(tmp_path: Path, dialect: str) -> Path:
    """Copy a dialect's migrations and bootstrap to a scratch root."""
    root = tmp_path / "generated"
    source = generated_root()
    shutil.copytree(source / "migrations" / dialect, root / "migrations" / dialect)
    shutil.copytree(source / "sql" / dialect, root / "sql" / dialect)
    return root


def add_migration(root: Path, dialect: str, filename: str, sql: str) -> None:
    """Add a migration file and rewrite migrations.sum as codegen would."""
    directory = root / "migrations" / dialect
    (directory / filename).write_text(sql)
    write_sum(directory)


def write_sum(directory: Path) -> None:
    lines = "".join(
        f"{p.name} h1:{hashlib.sha256(p.read_bytes()).hexdigest()}\n"
        for p in sorted(directory.glob("*.sql"))
    )
    digest = hashlib.sha256(lines.encode()).hexdigest()
    (directory / "migrations.sum").write_text(f"h1:{digest}\n{lines}")


async def tables(db: Database) -> set[str]:
    return {str(c.table_name) for c in await db.daos.catalog.columns()}


async def test_fresh_database_gets_every_migration_and_checks_clean(empty_db: Database) -> None:
    known = load_migrations(empty_db.dialect)
    before = await status(empty_db)
    assert before.applied == () and before.pending == known

    applied = await migrate(empty_db)

    assert applied == known
    after = await status(empty_db)
    assert [r.version for r in after.applied] == [m.version for m in known]
    assert [r.checksum for r in after.applied] == [m.checksum for m in known]
    assert after.pending == ()
    assert await check_schema(empty_db) == []


async def test_second_run_does_nothing(db: Database) -> None:
    rows = await db.daos.schema_migrations.list()
    assert await migrate(db) == ()
    assert await db.daos.schema_migrations.list() == rows


async def test_changed_checksum_is_refused(db: Database) -> None:
    row = (await db.daos.schema_migrations.list())[0]
    await db.daos.schema_migrations.update(dataclasses.replace(row, checksum="0" * 64))
    for run in (migrate, status):
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await run(db)


async def test_database_newer_than_code_is_refused(db: Database) -> None:
    await db.daos.schema_migrations.insert(
        SchemaMigrationsRow(version=9999, name="from_the_future", checksum="f" * 64)
    )
    with pytest.raises(MigrationError, match="9999_from_the_future.*newer"):
        await migrate(db)


async def test_failed_migration_leaves_nothing_and_stops(db: Database, tmp_path: Path) -> None:
    root = copy_generated(tmp_path, db.dialect)
    add_migration(
        root,
        db.dialect,
        "0900_half_done.sql",
        "CREATE TABLE half_done (x INTEGER);\n"
        "INSERT INTO half_done (x) VALUES (1);\n"
        "INSERT INTO no_such_table (x) VALUES (1);\n",
    )
    add_migration(root, db.dialect, "0901_after.sql", "CREATE TABLE after_bad (x INTEGER);\n")

    with pytest.raises(MigrationError, match=r"0900_half_done\.sql failed.*#3"):
        await migrate(db, root)

    assert not {"half_done", "after_bad"} & await tables(db)
    current = await status(db, root)
    assert [m.filename for m in current.pending] == ["0900_half_done.sql", "0901_after.sql"]
    assert len(current.applied) == len(load_migrations(db.dialect))


async def test_new_migration_applies_after_existing_ones(db: Database, tmp_path: Path) -> None:
    root = copy_generated(tmp_path, db.dialect)
    add_migration(root, db.dialect, "0900_extra.sql", "CREATE TABLE extra (x INTEGER);\n")
    assert [m.filename for m in await migrate(db, root)] == ["0900_extra.sql"]
    assert "extra" in await tables(db)
    assert await check_schema(db) == ["unexpected table extra"]


async def test_edited_migration_file_is_refused(db: Database, tmp_path: Path) -> None:
    root = copy_generated(tmp_path, db.dialect)
    first = sorted((root / "migrations" / db.dialect).glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="differs from migrations.sum"):
        await migrate(db, root)
    write_sum(first.parent)  # even with a regenerated sum, the database knows
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(db, root)


async def test_hand_edited_sum_file_is_refused(tmp_path: Path) -> None:
    root = copy_generated(tmp_path, "sqlite")
    summary = root / "migrations" / "sqlite" / "migrations.sum"
    summary.write_text(summary.read_text() + "9999_x.sql h1:00\n")
    with pytest.raises(MigrationError, match="edited by hand"):
        load_migrations("sqlite", root)


async def test_inserted_older_migration_is_refused(db: Database, tmp_path: Path) -> None:
    root = copy_generated(tmp_path, db.dialect)
    add_migration(root, db.dialect, "0900_b.sql", "CREATE TABLE b900 (x INTEGER);\n")
    await migrate(db, root)
    add_migration(root, db.dialect, "0800_a.sql", "CREATE TABLE a800 (x INTEGER);\n")
    with pytest.raises(MigrationError, match="0800_a.sql is pending but 0900"):
        await migrate(db, root)


async def test_four_concurrent_runners_apply_each_migration_once(
    engine: str, empty_target: str | Path, tmp_path: Path
) -> None:
    root = copy_generated(tmp_path, engine)
    # Not idempotent: a second application would fail.
    for n in range(900, 903):
        add_migration(root, engine, f"{n}_t{n}.sql", f"CREATE TABLE t{n} (x INTEGER);\n")
    known = load_migrations(engine, root)
    runners = [make_database(engine, empty_target) for _ in range(4)]
    try:
        for runner in runners:
            await runner.open()
        results = await asyncio.gather(*(migrate(r, root) for r in runners))
        applied = sorted(m.version for result in results for m in result)
        assert applied == [m.version for m in known]
        rows = await runners[0].daos.schema_migrations.list()
        assert [r.version for r in rows] == [m.version for m in known]
    finally:
        for runner in runners:
            await runner.close()


async def test_check_names_a_dropped_column(db: Database) -> None:
    await db.executor.execute(Stmt("test.drop", "ALTER TABLE channels DROP COLUMN website", True))
    assert await check_schema(db) == ["channels: missing column website"]


async def test_check_reports_index_and_column_drift(db: Database) -> None:
    for name, sql in (
        ("drop", "DROP INDEX idx_request_logs_client_id"),
        ("add", "CREATE INDEX idx_surprise ON request_logs (provider, model)"),
        ("col", "ALTER TABLE settings ADD COLUMN extra TEXT"),
    ):
        await db.executor.execute(Stmt(f"test.{name}", sql, True))
    assert await check_schema(db) == [
        "request_logs: missing index idx_request_logs_client_id",
        "request_logs: unexpected index idx_surprise",
        "settings: unexpected column extra",
    ]


async def test_check_reports_partial_index_drift(db: Database) -> None:
    # A full index where a partial one is expected, and the reverse.
    for name, sql in (
        ("drop_pending", "DROP INDEX idx_request_logs_pending"),
        ("full", "CREATE INDEX idx_request_logs_pending ON request_logs (initial_time)"),
        ("drop_client", "DROP INDEX idx_request_logs_client_id"),
        (
            "partial",
            "CREATE INDEX idx_request_logs_client_id"
            " ON request_logs (client_id, initial_time, id, api_key_id)"
            " WHERE client_id IS NOT NULL",
        ),
    ):
        await db.executor.execute(Stmt(f"test.{name}", sql, True))
    assert await check_schema(db) == [
        "request_logs: index idx_request_logs_client_id is partial"
        " (client_id, initial_time, id, api_key_id),"
        " expected (client_id, initial_time, id, api_key_id)",
        "request_logs: index idx_request_logs_pending is (initial_time), "
        "expected partial (initial_time)",
    ]


async def test_postgres_check_reports_type_and_null_drift(pg_dsn: str) -> None:
    async with make_database("postgres", pg_dsn) as db:
        await migrate(db)
        for name, sql in (
            ("type", "ALTER TABLE settings ALTER COLUMN category TYPE varchar(20)"),
            ("null", "ALTER TABLE settings ALTER COLUMN updated_at SET NOT NULL"),
        ):
            await db.executor.execute(Stmt(f"test.{name}", sql, True))
        assert await check_schema(db) == [
            "settings.category: type is character varying, expected text",
            "settings.updated_at: NOT NULL, expected nullable",
        ]


async def test_sqlite_foreign_key_check_rows_fail_the_migration(
    tmp_path: Path,
) -> None:
    root = copy_generated(tmp_path, "sqlite")
    add_migration(
        root,
        "sqlite",
        "0900_orphan.sql",
        "INSERT INTO request_debug_logs (request_id, request_method, request_path)\n"
        "VALUES ('no-such-log', 'POST', '/v1/messages');\n"
        "PRAGMA foreign_key_check;\n",
    )
    async with make_database("sqlite", tmp_path / "x.db") as db:
        with pytest.raises(MigrationError, match=r"0900_orphan\.sql.*check returned 1 row"):
            await migrate(db, root)
        assert await db.daos.request_debug_logs.count() == 0
        assert [m.filename for m in (await status(db, root)).pending] == ["0900_orphan.sql"]
