"""Import of a 35,935-row legacy request_logs.db; target under 2 s.

The legacy file has the reference's latest layout, its timestamps in
every spelling cc-bridge stored, beside a config.json. Each round imports
into a freshly migrated database (migration not timed) with
``import_directory``: hashing, parsing, mapping, inserting in one
transaction, the markers and (SQLite) the VACUUM. Both engines.

Beside it, in the same run, the floor: the same rows, already converted
and encoded, written by the bare driver into a fresh database of the same
schema (sqlite3 executemany in one transaction; psycopg COPY).

PostgreSQL comes from CCBRIDGE_TEST_PG_DSN or a throwaway server.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from ccbridge.db.base import Database  # noqa: E402
from ccbridge.db.migrate import migrate  # noqa: E402
from ccbridge.db.postgres import PostgresDatabase  # noqa: E402
from ccbridge.db.sqlite import SqliteDatabase  # noqa: E402
from ccbridge.legacy.importer import import_directory  # noqa: E402
from generated.dao import _REQUEST_LOGS_POSTGRES, _REQUEST_LOGS_SQLITE  # noqa: E402
from tests.legacy.legacy_files import LAYOUTS, full_config, log_row, write_json  # noqa: E402
from tests.pgserver import PgServer  # noqa: E402

ROWS = 35_935
ROUNDS = 3
TARGET = 2.0  # seconds


def build_legacy(folder: Path) -> Path:
    """Write config.json and a ROWS-row request_logs.db; return the folder."""
    source = folder / "legacy"
    source.mkdir()
    write_json(source / "config.json", full_config())
    conn = sqlite3.connect(source / "request_logs.db")
    for statement in LAYOUTS["v3"]:
        conn.execute(statement)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(request_logs)")]
    marks = ", ".join("?" for _ in columns)
    conn.executemany(
        f"INSERT INTO request_logs ({', '.join(columns)}) VALUES ({marks})",
        ([row[c] for c in columns] for row in map(log_row, range(ROWS))),
    )
    conn.commit()
    conn.close()
    return source


async def one_round(db: Database, source: Path) -> float:
    """Seconds for one import into an open, migrated, empty database."""
    await migrate(db)
    start = time.perf_counter()
    report = await import_directory(db, source)
    elapsed = time.perf_counter() - start
    logs = report.files[-1].table("request_logs")
    assert logs.added == ROWS, report.lines()
    return elapsed


async def imported_rows(db: Database) -> list[Any]:
    """Return the imported log rows (to time the bare driver with them)."""
    return await db.daos.request_logs.list()


def sqlite_floor(rows: list[Any], path: Path) -> float:
    """Seconds for sqlite3 executemany of the encoded rows, one transaction."""
    encoded = [_REQUEST_LOGS_SQLITE.encode(r) for r in rows]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"):
            conn.execute(pragma)
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_REQUEST_LOGS_SQLITE.ignore_many.sql, encoded)
        conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


async def postgres_floor(rows: list[Any], dsn: str) -> float:
    """Seconds for one psycopg COPY of the encoded rows, one transaction."""
    encoded = [_REQUEST_LOGS_POSTGRES.encode(r) for r in rows]
    async with await psycopg.AsyncConnection.connect(dsn, options="-c TimeZone=UTC") as conn:
        start = time.perf_counter()
        async with conn.transaction(), conn.cursor() as cur:
            async with cur.copy(_REQUEST_LOGS_POSTGRES.bulk.sql) as copy:
                for row in encoded:
                    await copy.write_row(row)
        return time.perf_counter() - start


def show(engine: str, times: list[float], floors: list[float]) -> None:
    best, median, floor = min(times), statistics.median(times), statistics.median(floors)
    verdict = "ok" if median < TARGET else "over target"
    print(
        f"{engine:<10} import best {best:5.2f} s  median {median:5.2f} s  "
        f"({ROWS / median:,.0f} rows/s)  target < {TARGET:.0f} s: {verdict}"
    )
    print(
        f"{'':<10} bare driver, same rows: median {floor:5.2f} s; import/bare {median / floor:.2f}x"
    )


async def main() -> None:
    """Import ROUNDS times per engine; print best, median and the floor."""
    print(f"import of a {ROWS:,}-row legacy request_logs.db (+ config.json), {ROUNDS} rounds")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        source = build_legacy(root)
        times, floors = [], []
        for i in range(ROUNDS):
            async with SqliteDatabase(root / f"target-{i}.db") as db:
                times.append(await one_round(db, source))
                rows = await imported_rows(db)
            async with SqliteDatabase(root / f"floor-{i}.db") as db:
                await migrate(db)
            floors.append(sqlite_floor(rows, root / f"floor-{i}.db"))
        show("sqlite", times, floors)
        dsn = os.environ.get("CCBRIDGE_TEST_PG_DSN")
        server = PgServer.external(dsn) if dsn else PgServer.start()
        try:
            times, floors = [], []
            for _ in range(ROUNDS):
                target, floor = server.create_database(), server.create_database()
                try:
                    async with PostgresDatabase(target, min_size=1, max_size=2) as db:
                        times.append(await one_round(db, source))
                        rows = await imported_rows(db)
                    async with PostgresDatabase(floor, min_size=1, max_size=2) as db:
                        await migrate(db)
                    floors.append(await postgres_floor(rows, floor))
                finally:
                    server.drop_database(target)
                    server.drop_database(floor)
            show("postgres", times, floors)
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
