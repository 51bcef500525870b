"""DAO insert_many vs the raw driver's best bulk path, side by side.

100,000 request_logs rows, each engine in one run:
  SQLite: DAO insert_many vs sqlite3 executemany in one transaction.
  PostgreSQL: DAO insert_many (COPY) vs a bare psycopg COPY.
The raw paths get rows already encoded as tuples; the DAO gets typed rows
and pays for its own encoding. Target: DAO within 1.5x of raw.

PostgreSQL comes from CCBRIDGE_TEST_PG_DSN or a throwaway server.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from ccbridge.db.migrate import migrate  # noqa: E402
from ccbridge.db.postgres import PostgresDatabase  # noqa: E402
from ccbridge.db.sqlite import SqliteDatabase  # noqa: E402
from generated.dao import RequestLogsDao  # noqa: E402
from generated.rows import RequestLogsRow  # noqa: E402
from tests.pgserver import PgServer  # noqa: E402

ROWS = 100_000
ROUNDS = 3


def make_rows(n: int) -> list[RequestLogsRow]:
    """Return n realistic completed log rows."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        RequestLogsRow(
            id=f"req_{i:012d}",
            initial_time=base + timedelta(seconds=i),
            provider="claude",
            model="claude-sonnet-4-5" if i % 3 else "claude-haiku-4-5",
            status="completed",
            complete_time=base + timedelta(seconds=i, milliseconds=850),
            duration_ms=850,
            provider_name="primary",
            response_model="claude-sonnet-4-5-20250929",
            input_tokens=2095 + i % 100,
            output_tokens=187,
            cache_creation_input_tokens=1024,
            cache_read_input_tokens=20480,
            total_tokens=2282 + i % 100,
            price=0.0123,
            input_cost=0.006,
            output_cost=0.0028,
            cache_creation_cost=0.0038,
            cache_read_cost=0.006,
            http_status=200,
            stream=i % 2 == 0,
            transport="sse",
            channel_id=0,
            channel_name="primary",
            endpoint="/v1/messages",
            domain="api.anthropic.com",
            client_id=f"client-{i % 17}",
            session_id=f"session-{i % 101}",
            api_key_id=i % 5,
            channel_uid="a1b2c3d4",
        )
        for i in range(n)
    ]


async def bench_sqlite(rows: list[RequestLogsRow], folder: Path) -> tuple[float, float]:
    """Return best seconds of (DAO, raw executemany) on SQLite."""
    variant = RequestLogsDao._VARIANTS["sqlite"]
    encoded = [variant.encode(r) for r in rows]
    bulk_sql = variant.bulk.sql
    dao_times, raw_times = [], []
    for round_ in range(ROUNDS):
        path = folder / f"dao{round_}.db"
        async with SqliteDatabase(path) as db:
            await migrate(db)
            start = time.perf_counter()
            async with db.transaction() as tx:
                await tx.request_logs.insert_many(rows)
            dao_times.append(time.perf_counter() - start)
        raw_path = folder / f"raw{round_}.db"
        async with SqliteDatabase(raw_path) as db:
            await migrate(db)
        conn = sqlite3.connect(raw_path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        start = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(bulk_sql, encoded)
        conn.execute("COMMIT")
        raw_times.append(time.perf_counter() - start)
        conn.close()
    return min(dao_times), min(raw_times)


async def bench_postgres(rows: list[RequestLogsRow], server: PgServer) -> tuple[float, float]:
    """Return best seconds of (DAO insert_many, bare COPY) on PostgreSQL."""
    variant = RequestLogsDao._VARIANTS["postgres"]
    encoded = [variant.encode(r) for r in rows]
    copy_sql = variant.bulk.sql
    dao_times, raw_times = [], []
    for _ in range(ROUNDS):
        dsn = server.create_database()
        async with PostgresDatabase(dsn, min_size=1, max_size=2) as db:
            await migrate(db)
            start = time.perf_counter()
            async with db.transaction() as tx:
                await tx.request_logs.insert_many(rows)
            dao_times.append(time.perf_counter() - start)
            async with db.transaction() as tx:
                await tx.request_logs.clear()
        async with await psycopg.AsyncConnection.connect(dsn, options="-c TimeZone=UTC") as conn:
            start = time.perf_counter()
            async with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for row in encoded:
                    await copy.write_row(row)
            raw_times.append(time.perf_counter() - start)
        server.drop_database(dsn)
    return min(dao_times), min(raw_times)


def report(engine: str, dao: float, raw: float) -> None:
    """Print one engine's figures."""
    print(
        f"{engine:<10} DAO insert_many {ROWS / dao:>9,.0f} rows/s ({dao:.3f} s)   "
        f"raw {ROWS / raw:>9,.0f} rows/s ({raw:.3f} s)   "
        f"DAO/raw time {dao / raw:.2f}x (target <= 1.5x)"
    )


async def main() -> None:
    """Run both engines and print ratios."""
    rows = make_rows(ROWS)
    print(f"insert_many of {ROWS:,} request_logs rows, best of {ROUNDS} rounds")
    with tempfile.TemporaryDirectory() as folder:
        report("sqlite", *await bench_sqlite(rows, Path(folder)))
    dsn = os.environ.get("CCBRIDGE_TEST_PG_DSN")
    server = PgServer.external(dsn) if dsn else PgServer.start()
    try:
        report("postgres", *await bench_postgres(rows, server))
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
