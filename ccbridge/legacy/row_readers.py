"""Stream a whole table as typed tuples, from one snapshot.

SQLite is read on a connection of its own (read-only, in a worker
thread, so the read overlaps the writes of the other side); PostgreSQL
through a server-side cursor in a REPEATABLE READ READ ONLY transaction.
Either way one statement reads the table: no LIMIT/OFFSET re-skipping.
An SQLite table can also be read a rowid range at a time
(:func:`sqlite_rows`), by processes that share a large copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import IsolationLevel

from ccbridge.db.base import Database
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.db.sqlite import SqliteDatabase
from ccbridge.errors import StorageError
from ccbridge.legacy.table_layout import Layout

__all__ = ("RowidRange", "rowid_bounds", "sqlite_rows", "table_rows")

Rows = list[tuple[Any, ...]]
RowidRange = tuple[int, int]  # first and last rowid, both included


def table_rows(db: Database, layout: Layout, size: int) -> AsyncIterator[Rows]:
    """Yield every row of ``layout.table`` in ``db``, ``size`` at a time."""
    if isinstance(db, SqliteDatabase):
        db.check_open()
        return sqlite_rows(db.path, layout, size)
    assert isinstance(db, PostgresDatabase)
    return _postgres_rows(db, layout, size)


async def sqlite_rows(
    path: Path, layout: Layout, size: int, rowids: RowidRange | None = None
) -> AsyncIterator[Rows]:
    """Yield the rows of ``layout.table`` in an SQLite file (or one rowid range)."""
    name = f"{layout.table}.read"
    conn = await asyncio.to_thread(_open_sqlite, path, name)
    try:
        if rowids is None:
            statement, args = layout.statements["sqlite"].select, ()
        else:
            statement, args = layout.statements["sqlite"].rowid_range[1].sql, rowids
        cursor = await asyncio.to_thread(_run, name, conn.execute, statement, args)
        while rows := await asyncio.to_thread(_run, name, _fetch, cursor, layout, size):
            yield rows
    finally:
        await asyncio.to_thread(conn.close)


def rowid_bounds(path: Path, layout: Layout) -> RowidRange | None:
    """Return the lowest and highest rowid of the table (None: empty)."""
    name = f"{layout.table}.read"
    conn = _open_sqlite(path, name)
    try:
        bounds = layout.statements["sqlite"].rowid_range[0].sql
        low, high = _run(name, lambda: conn.execute(bounds).fetchone())
    finally:
        conn.close()
    return None if low is None else (low, high)


def _open_sqlite(path: Path, name: str) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return _run(name, sqlite3.connect, uri, uri=True, check_same_thread=False)


def _fetch(cursor: sqlite3.Cursor, layout: Layout, size: int) -> Rows:
    return layout.from_sqlite(cursor.fetchmany(size))


def _run(name: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except sqlite3.Error as ex:
        raise StorageError(name, f"{type(ex).__name__}: {ex}") from None


async def _postgres_rows(db: PostgresDatabase, layout: Layout, size: int) -> AsyncIterator[Rows]:
    async with db.connection(f"{layout.table}.read") as conn:
        await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
        await conn.set_read_only(True)
        try:
            async with conn.transaction(), conn.cursor(name="dbmigrate_read") as cursor:
                await cursor.execute(layout.statements["postgres"].select)
                while rows := await cursor.fetchmany(size):
                    yield rows
        finally:
            # A pooled connection goes back as it was lent (a broken one
            # is discarded by the pool; the block's own error matters).
            with contextlib.suppress(psycopg.Error):
                await conn.set_read_only(None)
                await conn.set_isolation_level(None)
