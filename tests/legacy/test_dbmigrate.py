"""dbmigrate: SQLite ↔ PostgreSQL copies, dry-run SQL, resumption."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ccbridge.db.base import Database
from ccbridge.db.check import check_schema
from ccbridge.db.migrate import migrate
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.db.sqlite import SqliteDatabase
from ccbridge.errors import StorageError
from ccbridge.legacy import dbmigrate, row_readers
from ccbridge.legacy.checksum import TableChecksum
from ccbridge.legacy.cli import main
from ccbridge.legacy.copy_sql import secondary_indexes
from ccbridge.legacy.dbmigrate import (
    TableResult,
    copy_database,
    dump_sql,
    select_tables,
    table_order,
    verify,
)
from ccbridge.legacy.importer import import_directory
from ccbridge.legacy.parallel_copy import checksum_in_parallel, copy_in_parallel, split
from ccbridge.legacy.pg_binary import BinaryRows
from ccbridge.legacy.row_readers import row_bounds
from ccbridge.legacy.table_layout import layout
from ccbridge.store import rollupdb
from generated.dao import Stmt
from generated.rows import (
    ApiKeysRow,
    ChannelQuotaRow,
    ChannelsRow,
    ModelPricingRow,
    RequestDebugLogsRow,
    RequestLogsRow,
    SettingsRow,
)
from tests.legacy.test_importer import legacy_dir
from tests.pgserver import PgServer

T0 = datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
ODD_TEXT = 'it\'s \\ a ? %s %% "quoted" — ünïcødé ✓ \n\t line'
RESUME_ROWS = 60_000


def pg(dsn: str) -> PostgresDatabase:
    return PostgresDatabase(dsn, min_size=1, max_size=2)


async def add_edge_rows(db: Database) -> None:
    """Rows with every awkward value the copy must keep exactly."""
    async with db.transaction() as tx:
        await tx.settings.upsert(SettingsRow("odd", ODD_TEXT, "general", None))
        await tx.channels.insert(
            ChannelsRow(
                "eeeeeeee",
                "chat",
                ODD_TEXT,
                "openai",
                priority=-3,
                quota_limit=1e-300,
                promotion_until=T0,
                api_keys=[],
                model_mapping={"ü": "✓", "nested": {"list": [1, 2.5, None, True, "x'y"]}},
                content_filter={"big": 2**53 + 1, "float": 0.1},
                insecure_skip_verify=None,
                status=None,
                created_at=None,
            )
        )
        await tx.model_pricing.insert(ModelPricingRow("m'odel?", 0.1, 1 / 3, None, 0.0, None, None))
        await tx.api_keys.insert(ApiKeysRow("edge", "e" * 64, "sk-eeeee...", id=99))
        await tx.request_logs.insert(
            RequestLogsRow(
                "req_edge",
                T0,
                "p",
                "m",
                stream=True,
                api_key_id=2**40,
                error=ODD_TEXT,
                duration_ms=None,
                service_tier_overridden=None,
                created_at=T0 - timedelta(days=20000),
            )
        )
        await tx.request_debug_logs.insert(
            RequestDebugLogsRow(
                "req_edge", "POST", "/v1/x", request_body=bytes(range(256)), response_body=b"'\\"
            )
        )
        await tx.channel_quota.insert(
            ChannelQuotaRow("eeeeeeee", "q", codex_quota_snapshot=[{"a": None}], is_exceeded=None)
        )


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[Path]:
    """An SQLite ccbridge database with imported legacy data and edge rows."""
    path = tmp_path / "source.db"
    async with SqliteDatabase(path) as db:
        await migrate(db)
        await import_directory(db, legacy_dir(tmp_path))
        await add_edge_rows(db)
        await rollupdb.rebuild(db)
    yield path


async def rows_of(db: Database, tables: Sequence[str] = ()) -> dict[str, list[Any]]:
    """Every row of every copied table, sorted in Python (collation-free)."""
    result = {}
    for table in tables or table_order():
        dao = getattr(db.daos, table)
        rows = await dao.list()
        result[table] = sorted(rows, key=lambda r: tuple(str(getattr(r, k)) for k in dao.KEY))
    return result


async def test_round_trip_keeps_every_value(source: Path, pg_dsn: str, tmp_path: Path) -> None:
    back = tmp_path / "back.db"
    async with SqliteDatabase(source) as src, pg(pg_dsn) as mid, SqliteDatabase(back) as dst:
        there = await copy_database(src, mid, list(table_order()), batch_size=7)
        assert there.ok, [t.line() for t in there.tables]
        home = await copy_database(mid, dst, list(table_order()), batch_size=7)
        assert home.ok, [t.line() for t in home.tables]
        original = await rows_of(src)
        assert await rows_of(mid) == original
        assert await rows_of(dst) == original
        assert await check_schema(mid) == [] and await check_schema(dst) == []
        assert len(original["request_logs"]) == 41 and len(original["settings"]) == 17
        assert original["request_log_rollups"] and original["request_debug_logs"]
        # The destination's own seeded revision was overwritten by the source's.
        assert (await mid.daos.settings.get("config_revision")).value == "2"  # type: ignore[union-attr]
        again = await copy_database(src, mid, list(table_order()), batch_size=7)
        assert again.ok and [t.target_count for t in again.tables] == [
            t.target_count for t in there.tables
        ]


def test_every_table_is_copied_parents_first() -> None:
    order = table_order()
    assert "schema_migrations" not in order and len(order) == len(set(order))
    assert order.index("request_logs") < order.index("request_debug_logs")
    assert set(order) >= {"settings", "channels", "request_logs", "request_log_rollups"}


async def test_new_rows_after_copy_get_fresh_ids(source: Path, pg_dsn: str) -> None:
    async with SqliteDatabase(source) as src, pg(pg_dsn) as dst:
        result = await copy_database(src, dst, list(table_order()))
        assert not result.warnings
        row = await dst.daos.channels.insert(ChannelsRow("ffffffff", "messages", "new", "claude"))
        assert row.id is not None and row.id > 9


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
async def test_dry_run_sql_runs_on_the_target(
    source: Path, pg_dsn: str, tmp_path: Path, dialect: str
) -> None:
    script = tmp_path / "dump.sql"
    target: Database = SqliteDatabase(tmp_path / "t.db") if dialect == "sqlite" else pg(pg_dsn)
    async with SqliteDatabase(source) as src, target as dst:
        with script.open("w", encoding="utf-8") as out:
            rows = await dump_sql(src, dialect, out, list(table_order()))
        assert rows == sum(len(v) for v in (await rows_of(src)).values())
        await migrate(dst)
        text = script.read_text(encoding="utf-8")
        assert ("TRUE" in text) is (dialect == "postgres")
        await asyncio.to_thread(_run_script, dialect, tmp_path / "t.db", pg_dsn, text)
        results = [TableResult(t) for t in table_order()]
        await verify(src, dst, results)
        assert all(r.ok for r in results), [r.line() for r in results]
        assert await rows_of(dst) == await rows_of(src)


def _run_script(dialect: str, path: Path, dsn: str, text: str) -> None:
    if dialect == "sqlite":
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.executescript(text)
        finally:
            conn.close()
        return
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(text.encode())  # no parameters: psycopg runs the whole script


async def test_mismatch_is_reported(source: Path, pg_dsn: str) -> None:
    async with SqliteDatabase(source) as src, pg(pg_dsn) as dst:
        assert (await copy_database(src, dst, ["settings", "model_pricing"])).ok
        await dst.daos.model_pricing.upsert(ModelPricingRow("m'odel?", 0.2, 1 / 3))
        results = [TableResult("settings"), TableResult("model_pricing")]
        await verify(src, dst, results)
        assert [r.ok for r in results] == [True, False]
        assert results[1].source_count == results[1].target_count
        assert "MISMATCH" in results[1].line()


def test_cli_reference_flags(source: Path, pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "dbmigrate",
            "-src-type",
            "sqlite",
            "-src-url",
            str(source),
            "-dst-type",
            "postgresql",
            "-dst-url",
            pg_dsn,
            "-tables",
            "request_logs,settings",
            "-batch-size",
            "10",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["settings", "request_logs"]
    assert "password" not in out


def test_cli_usage_errors(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dbmigrate", "--from", str(source), "--tables", "nope", "--dry-run"]) == 2
    assert "unknown table(s) nope" in capsys.readouterr().err
    assert main(["dbmigrate", "--from", str(tmp_path / "missing.db"), "--to", "x.db"]) == 2
    assert main(["dbmigrate", "--from", str(source)]) == 2
    assert "--to is required" in capsys.readouterr().err
    assert main(["dbmigrate", "--from", str(source), "--to", str(source)]) == 2


def test_cli_refuses_a_legacy_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    legacy = legacy_dir(tmp_path) / "request_logs.db"
    assert main(["dbmigrate", "--from", str(legacy), "--to", str(tmp_path / "x.db")]) == 2
    assert "ccbridge import" in capsys.readouterr().err


def test_cli_dry_run_to_stdout(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dbmigrate", "--from", str(source), "-dry-run", "-tables", "api_keys"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("-- ccbridge dbmigrate --dry-run")
    assert "INSERT INTO api_keys" in captured.out and "TRUE" in captured.out
    assert "rows written as postgres SQL" in captured.err


# -- an interrupted copy resumes ---------------------------------------------------------


@pytest.fixture(scope="session")
def big_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database with RESUME_ROWS request logs (built once)."""
    path = tmp_path_factory.mktemp("big") / "big.db"

    async def build() -> None:
        async with SqliteDatabase(path) as db:
            await migrate(db)
            async with db.transaction() as tx:
                for start in range(0, RESUME_ROWS, 10_000):
                    await tx.request_logs.insert_many(
                        [_log(i) for i in range(start, start + 10_000)]
                    )

    asyncio.run(build())
    return path


def _log(i: int) -> RequestLogsRow:
    t = T0 + timedelta(milliseconds=i)
    return RequestLogsRow(
        f"req_{i:09d}",
        t,
        "claude",
        f"m{i % 7}",
        complete_time=t,
        input_tokens=i,
        stream=i % 2 == 0,
    )


@pytest.mark.parametrize("jobs", [1, 2])
async def test_killed_copy_resumes_exactly(big_source: Path, pg_dsn: str, jobs: int) -> None:
    command = [sys.executable, "-m", "ccbridge.legacy", "dbmigrate", "--from", str(big_source)]
    command += ["--to", pg_dsn, "--tables", "request_logs", "--jobs", str(jobs)]
    command += ["--batch-size", "500"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        copied = await _wait_for_rows(pg_dsn, proc)
        workers = _children(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert 0 < copied < RESUME_ROWS, "the copy was not interrupted mid-table"
    # One process copies alone; two spawn their workers (and a resource tracker).
    assert len(workers) >= jobs if jobs > 1 else not workers
    # They exit with their parent; a batch in flight may still commit.
    async with pg(pg_dsn) as dst:
        partial = await dst.daos.request_logs.count()
        await asyncio.sleep(1.5)
        assert await dst.daos.request_logs.count() - partial <= jobs * 500
        partial = await dst.daos.request_logs.count()
        # The table was empty: it is loaded without its non-unique indexes.
        missing = {f for f in await check_schema(dst) if "missing index" in f}
        assert missing and all(f.startswith("request_logs: ") for f in missing)
    assert not [pid for pid in workers if _running(pid)]
    assert 0 < partial < RESUME_ROWS
    if jobs == 1:
        assert partial % 500 == 0  # whole batches only
    # Resume with larger batches: the batch size is not part of the state.
    rerun = subprocess.run(
        [*command[:-1], "5000"], env=env, capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr
    line = next(line for line in rerun.stdout.splitlines() if line.startswith("request_logs"))
    assert f"source {RESUME_ROWS:>10,}  target {RESUME_ROWS:>10,}" in line and line.endswith("ok")
    async with pg(pg_dsn) as dst:
        assert await check_schema(dst) == []  # the resumed copy rebuilt them


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_partial_index_is_rebuilt_with_its_predicate(dialect: str) -> None:
    create = secondary_indexes(dialect, "request_logs")["idx_request_logs_pending"].create
    assert create.sql == (
        "CREATE INDEX idx_request_logs_pending ON request_logs(initial_time)"
        " WHERE status = 'pending';"
    )


async def test_complete_table_gets_missing_indexes_back(source: Path, pg_dsn: str) -> None:
    """A run killed after the last batch, before the rebuild, is mended."""
    async with SqliteDatabase(source) as src, pg(pg_dsn) as dst:
        assert (await copy_database(src, dst, ["request_logs"])).ok
        for name in ("idx_request_logs_client_id", "idx_request_logs_pending"):
            await dst.executor.execute(Stmt("test", f"DROP INDEX {name}", True))
        assert await check_schema(dst) == [
            "request_logs: missing index idx_request_logs_client_id",
            "request_logs: missing index idx_request_logs_pending",
        ]
        again = await copy_database(src, dst, ["request_logs"])
        assert again.ok and again.tables[0].skipped
        assert await check_schema(dst) == []  # the partial one with its WHERE


def _children(pid: int) -> list[int]:
    """Return the processes whose parent is ``pid`` (Linux)."""
    return [int(p.name) for p in Path("/proc").glob("[0-9]*") if _stat(int(p.name))[1:2] == [pid]]


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    return _stat(pid)[:1] not in ([], ["Z"])


def _stat(pid: int) -> list[Any]:
    """Return [state, parent pid] of a process, [] when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []
    return [fields[0], int(fields[1])]


async def _wait_for_rows(dsn: str, proc: subprocess.Popen[bytes]) -> int:
    async with pg(dsn) as db:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                count = await db.daos.request_logs.count()
            except Exception:  # noqa: BLE001 - the table may not exist yet
                count = 0
            if count >= 2_000:
                return count
            await asyncio.sleep(0.02)
    return 0


def test_copy_file_left_alone(source: Path, tmp_path: Path) -> None:
    before = source.read_bytes()
    shutil.copy(source, tmp_path / "copy.db")
    assert main(["dbmigrate", "--from", str(source), "--to", str(tmp_path / "o.db")]) == 0
    assert source.read_bytes() == before


def test_dry_run_file_is_private(source: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.sql"
    assert main(["dbmigrate", "--from", str(source), "--dry-run", "-o", str(plan)]) == 0
    assert plan.stat().st_mode & 0o777 == 0o600
    assert "sk-ant-secret-1" in plan.read_text(encoding="utf-8")  # everything is in it


def test_checksum_ignores_order_and_batches_but_not_values() -> None:
    lay = layout("request_logs")
    rows = [lay.values(_log(i)) for i in range(5)]
    encoder = BinaryRows(lay)

    def digest(*batches: list[tuple[Any, ...]]) -> str:
        checksum = TableChecksum()
        for batch in batches:
            checksum.add(*encoder.encode(batch))
        return checksum.hexdigest

    assert digest(rows) == digest(rows[3:], rows[:3][::-1])
    later = rows[:4] + [
        tuple(v + timedelta(microseconds=1) if k == 1 else v for k, v in enumerate(rows[4]))
    ]
    assert digest(rows) != digest(later)


# -- several processes ----------------------------------------------------------------


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Share every non-empty table among worker processes.

    Returns what they did: ("copy" or "check", dialect read, table).
    """
    monkeypatch.setattr(dbmigrate, "PARALLEL_MIN_ROWS", 1)
    done: list[tuple[str, str, str]] = []

    def spy(kind: str, real: Any) -> Any:
        async def run(db: Database, *args: Any, **kwargs: Any) -> TableChecksum:
            table = args[1] if kind == "copy" else args[0]
            done.append((kind, db.dialect, table))
            return await real(db, *args, **kwargs)

        return run

    monkeypatch.setattr(dbmigrate, "copy_in_parallel", spy("copy", copy_in_parallel))
    monkeypatch.setattr(dbmigrate, "checksum_in_parallel", spy("check", checksum_in_parallel))
    return done


async def test_parallel_round_trip_keeps_every_value(
    source: Path, pg_dsn: str, tmp_path: Path, parallel: list[tuple[str, str, str]]
) -> None:
    # Every column type: timestamps, booleans, json, blobs, floats, big ints.
    tables = select_tables("settings,channels,api_keys,request_logs,request_debug_logs")
    back = tmp_path / "back.db"
    async with SqliteDatabase(source) as src, pg(pg_dsn) as mid, SqliteDatabase(back) as dst:
        there = await copy_database(src, mid, tables, batch_size=3, jobs=2)
        assert there.ok, [t.line() for t in there.tables]
        home = await copy_database(mid, dst, tables, batch_size=3, jobs=2)
        assert home.ok, [t.line() for t in home.tables]
        original = await rows_of(src, tables)
        assert await rows_of(mid, tables) == original and await rows_of(dst, tables) == original
        assert await check_schema(mid) == [] and await check_schema(dst) == []
    # Into PostgreSQL in ranges of rowids (settings are upserted by one
    # process); each side checked in ranges: rowids or heap blocks.
    assert ("copy", "sqlite", "request_logs") in parallel
    assert ("copy", "sqlite", "settings") not in parallel
    assert ("check", "postgres", "request_debug_logs") in parallel
    assert ("check", "sqlite", "request_logs") in parallel
    assert not [p for p in parallel if p[:2] == ("copy", "postgres")]  # SQLite: one writer


async def test_parallel_copy_between_postgresql_databases(
    source: Path, pg_server: PgServer, parallel: list[tuple[str, str, str]]
) -> None:
    tables = select_tables("channels,request_logs,request_debug_logs")
    first, second = pg_server.create_database(), pg_server.create_database()
    try:
        async with SqliteDatabase(source) as src, pg(first) as one, pg(second) as two:
            assert (await copy_database(src, one, tables, jobs=1)).ok
            result = await copy_database(one, two, tables, batch_size=4, jobs=2)
            assert result.ok, [t.line() for t in result.tables]
            assert await rows_of(two, tables) == await rows_of(src, tables)
    finally:
        pg_server.drop_database(first)
        pg_server.drop_database(second)
    # Read in ranges of heap blocks, written by each worker's connection.
    assert ("copy", "postgres", "request_logs") in parallel


async def test_old_postgresql_is_read_by_one_process(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with pg(pg_dsn) as db:
        await migrate(db)
        await db.daos.request_logs.insert(_log(1))
        lay = layout("request_logs")
        assert await row_bounds(db, lay) == (0, 0)
        monkeypatch.setattr(row_readers, "_PG_RANGE_SCANS", 10**9)  # TID range scans: 14+
        assert await row_bounds(db, lay) is None
        monkeypatch.undo()
        # A table that never held a row has no block to share.
        assert await row_bounds(db, layout("user_aliases")) is None


async def test_parallel_copy_skips_rows_already_there(
    big_source: Path, pg_dsn: str, parallel: list[tuple[str, str, str]]
) -> None:
    async with SqliteDatabase(big_source) as src, pg(pg_dsn) as dst:
        await migrate(dst)
        every = await src.daos.request_logs.list()
        await dst.daos.request_logs.insert_many(every[::7])  # as a killed run left them
        result = await copy_database(src, dst, ["request_logs"], jobs=2)
        assert result.ok and result.tables[0].copied == RESUME_ROWS
        assert await dst.daos.request_logs.count() == RESUME_ROWS
        assert await check_schema(dst) == []
    assert ("copy", "sqlite", "request_logs") in parallel


async def test_a_failing_worker_stops_the_copy(
    big_source: Path, tmp_path: Path, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nul.db"
    shutil.copy(big_source, path)
    async with SqliteDatabase(path) as db:
        row = await db.daos.request_logs.get("req_000000100")
        assert row is not None
        # SQLite keeps a NUL in text, PostgreSQL cannot: the first range fails.
        await db.daos.request_logs.update(dataclasses.replace(row, model="nul\x00byte"))
    command = ["dbmigrate", "--from", str(path), "--to", pg_dsn, "--tables", "request_logs"]
    command += ["--jobs", "2", "--batch-size", "500"]
    assert await asyncio.to_thread(main, command) == 2
    err = capsys.readouterr().err
    assert err.startswith("ccbridge dbmigrate: request_logs.copy: CharacterNotInRepertoire")
    assert "Traceback" not in err and err.count("\n") == 1
    async with pg(pg_dsn) as dst:
        # The other worker gave up after its batch in flight, not after its ranges.
        assert await dst.daos.request_logs.count() <= 3_000


def test_split_covers_every_rowid_once() -> None:
    assert split((1, 10), 3) == [(1, 4), (5, 8), (9, 10)]
    assert split((7, 7), 8) == [(7, 7)]
    assert split((-2, 1), 8) == [(-2, -2), (-1, -1), (0, 0), (1, 1)]
    parts = split((5, 1_000_003), 8)
    covered = [r for low, high in parts for r in (low, high)]
    assert len(parts) == 8 and covered[0] == 5 and covered[-1] == 1_000_003
    assert all(parts[i][1] + 1 == parts[i + 1][0] for i in range(7))


def test_storage_error_crosses_processes_whole() -> None:
    error = StorageError("request_logs.copy", "disk full", kind="connection", code="53100")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is StorageError and str(back) == str(error)
    assert (back.name, back.reason, back.kind, back.code) == (
        "request_logs.copy",
        "disk full",
        "connection",
        "53100",
    )
