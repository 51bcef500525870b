"""dbmigrate SQLite → PostgreSQL beside bare COPYs of the same rows.

1,000,000 request_logs rows (``BENCH_ROWS`` to change) in an SQLite
ccbridge database, built once and kept in bench/out/. In one run, each
into a freshly migrated database:
  bare COPY: the rows already in memory, encoded by the generated DAO,
      written with one psycopg (text) COPY in one transaction into the
      table with its secondary indexes (what insert_many does);
  bare binary COPY: the same rows, one binary COPY (types set) into the
      table without its secondary indexes, then the indexes built, each
      timed: the floor of what dbmigrate does on this machine;
  dbmigrate: ``copy_database`` from the SQLite file, with the CLI's
      default --jobs (one worker process per CPU): read, convert,
      checksum, binary COPY, commit per batch, indexes rebuilt (all in
      the copy's time); then the verification (both sides re-counted,
      the target re-read and checksummed, as many processes) timed on
      its own.
Target: dbmigrate's copy at 100,000 rows/s or more; the ratios to the
bare COPYs show what the copy itself costs on this machine.

PostgreSQL comes from CCBRIDGE_TEST_PG_DSN or a throwaway server.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from ccbridge.db.migrate import load_migrations, migrate  # noqa: E402
from ccbridge.db.postgres import PostgresDatabase  # noqa: E402
from ccbridge.db.sqlite import SqliteDatabase  # noqa: E402
from ccbridge.legacy.copy_sql import secondary_indexes  # noqa: E402
from ccbridge.legacy.dbmigrate import DEFAULT_JOBS, copy_database, verify  # noqa: E402
from ccbridge.legacy.table_layout import layout  # noqa: E402
from generated.dao import _REQUEST_LOGS_POSTGRES  # noqa: E402
from generated.rows import RequestLogsRow  # noqa: E402
from tests.pgserver import PgServer  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
TARGET = 100_000  # rows/s
BATCH = 5000
OUT = ROOT / "bench" / "out"


def make_row(i: int) -> RequestLogsRow:
    """Return a realistic finished log row."""
    t = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=37 * i)
    return RequestLogsRow(
        id=f"req_{1_767_225_600_000_000_000 + i * 37_000_000}",
        initial_time=t,
        provider="claude",
        model="claude-sonnet-4-5" if i % 3 else "claude-haiku-4-5",
        status="completed" if i % 10 else "error",
        complete_time=t + timedelta(seconds=3),
        duration_ms=3000 + i % 997,
        provider_name="primary",
        response_model="claude-sonnet-4-5-20250929",
        input_tokens=i % 5000,
        output_tokens=i % 777,
        cache_read_input_tokens=i % 4096,
        total_tokens=i % 5000 + i % 777,
        price=(i % 1000) / 7919,
        http_status=200 if i % 10 else 529,
        stream=bool(i % 2),
        transport="sse",
        channel_id=i % 4,
        channel_name="primary",
        endpoint="/v1/messages",
        domain="api.anthropic.com",
        client_id=f"client-{i % 17}",
        session_id=f"session-{i % 1013}",
        error=None if i % 10 else "overloaded",
        api_key_id=i % 3,
        created_at=t,
        channel_uid="a1b2c3d4",
        first_token_time=t + timedelta(milliseconds=800),
        first_token_duration_ms=800,
    )


async def source_database() -> Path:
    """Return the SQLite source, building it if missing or stale."""
    stamp = load_migrations("sqlite")[-1].checksum[:12]
    path = OUT / f"dbmigrate-{ROWS}-{stamp}.db"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in partial.parent.glob(partial.name + "*"):
        leftover.unlink()
    start = time.perf_counter()
    async with SqliteDatabase(partial) as db:
        await migrate(db)
        for first in range(0, ROWS, 50_000):
            async with db.transaction() as tx:
                rows = [make_row(i) for i in range(first, min(ROWS, first + 50_000))]
                await tx.request_logs.insert_many(rows)
    partial.rename(path)
    print(f"built the source ({ROWS:,} rows) in {time.perf_counter() - start:.0f} s")
    return path


async def load_rows(path: Path) -> list[tuple[object, ...]]:
    """Read the source rows and encode them for COPY (not timed)."""
    encoded: list[tuple[object, ...]] = []
    async with SqliteDatabase(path) as db, db.transaction(readonly=True) as tx:
        for offset in range(0, ROWS, 50_000):
            page = await tx.request_logs.list(order_by="id", limit=50_000, offset=offset)
            encoded.extend(map(_REQUEST_LOGS_POSTGRES.encode, page))
    return encoded


async def bare_copy(encoded: list[tuple[object, ...]], server: PgServer) -> float:
    """Seconds for one psycopg COPY of the encoded rows, one transaction."""
    dsn = server.create_database()
    try:
        async with PostgresDatabase(dsn, min_size=1, max_size=2) as db:
            await migrate(db)
        async with await psycopg.AsyncConnection.connect(dsn, options="-c TimeZone=UTC") as conn:
            start = time.perf_counter()
            async with conn.transaction(), conn.cursor() as cur:
                async with cur.copy(_REQUEST_LOGS_POSTGRES.bulk.sql) as copy:
                    for row in encoded:
                        await copy.write_row(row)
            return time.perf_counter() - start
    finally:
        server.drop_database(dsn)


async def bare_binary_copy(
    encoded: list[tuple[object, ...]], server: PgServer
) -> tuple[float, float]:
    """Seconds of one binary COPY into the table without its secondary
    indexes, and of building them afterwards."""
    dsn = server.create_database()
    indexes = secondary_indexes("postgres", "request_logs")
    try:
        async with PostgresDatabase(dsn, min_size=1, max_size=2) as db:
            await migrate(db)
        async with await psycopg.AsyncConnection.connect(
            dsn, options="-c TimeZone=UTC", autocommit=True
        ) as conn:
            for ddl in indexes.values():
                await conn.execute(ddl.drop.sql)
            start = time.perf_counter()
            async with conn.transaction(), conn.cursor() as cur:
                statement = _REQUEST_LOGS_POSTGRES.bulk.sql + " (FORMAT BINARY)"
                async with cur.copy(statement) as copy:
                    copy.set_types(list(layout("request_logs").pg_types))
                    for row in encoded:
                        await copy.write_row(row)
            loaded = time.perf_counter()
            for ddl in indexes.values():
                await conn.execute(ddl.create.sql)
            return loaded - start, time.perf_counter() - loaded
    finally:
        server.drop_database(dsn)


async def dbmigrate(path: Path, server: PgServer) -> tuple[float, float, bool]:
    """Return (copy seconds, verification seconds, ok) of copy_database."""
    dsn = server.create_database()
    try:
        async with (
            SqliteDatabase(path) as src,
            PostgresDatabase(dsn, min_size=1, max_size=2) as dst,
        ):
            await migrate(dst)
            start = time.perf_counter()
            result = await copy_database(
                src, dst, ["request_logs"], batch_size=BATCH, jobs=DEFAULT_JOBS
            )
            total = time.perf_counter() - start
            copied = result.tables[0].seconds
            # Time the verification alone (copy_database ran it once already).
            for table in result.tables:
                table.target_checksum = ""
            start = time.perf_counter()
            await verify(src, dst, result.tables, jobs=DEFAULT_JOBS)
            checked = time.perf_counter() - start
            print(f"copy_database total (copy + sequences + verification) {total:.1f} s")
            return copied, checked, result.ok
    finally:
        server.drop_database(dsn)


def checkpoint(server: PgServer) -> None:
    """Flush the server's dirty pages, so no step pays for the previous one's.

    Each load writes about a gigabyte of WAL; without this the next step
    runs under the checkpoint that load set off.
    """
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def calibration() -> float:
    """Seconds for 10 million Python additions: this machine's speed."""
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


async def main() -> None:
    """Build the source, run the copies, print rates and the ratios."""
    print(f"dbmigrate vs bare COPY, {ROWS:,} request_logs rows, SQLite -> PostgreSQL")
    print(f"machine: 10M Python additions in {calibration():.2f} s, {os.cpu_count()} CPUs")
    path = await source_database()
    dsn = os.environ.get("CCBRIDGE_TEST_PG_DSN")
    server = PgServer.external(dsn) if dsn else PgServer.start()
    try:
        encoded = await load_rows(path)
        checkpoint(server)
        bare = await bare_copy(encoded, server)
        checkpoint(server)
        binary, indexing = await bare_binary_copy(encoded, server)
        del encoded
        checkpoint(server)
        copied, checked, ok = await dbmigrate(path, server)
    finally:
        server.stop()
    copy_rate = ROWS / copied
    print(f"{'dbmigrate copy':<27} {copy_rate:>10,.0f} rows/s ({copied:.1f} s)", end="   ")
    print(f"target >= {TARGET:,} rows/s: {'ok' if copy_rate >= TARGET else 'under target'}")
    for label, seconds in (
        ("bare COPY, text, indexed", bare),
        ("bare binary COPY, no index", binary),
        ("  + building the indexes", binary + indexing),
    ):
        rate = ROWS / seconds
        print(
            f"{label:<27} {rate:>10,.0f} rows/s ({seconds:.1f} s)   "
            f"dbmigrate: {copy_rate / rate:.2f}x"
        )
    rate = ROWS / checked
    print(f"{'verification':<27} {rate:>10,.0f} rows/s ({checked:.1f} s), match: {ok}")


if __name__ == "__main__":
    asyncio.run(main())
