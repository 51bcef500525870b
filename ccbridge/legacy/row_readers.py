"""Stream a whole table as typed tuples, from one snapshot.

SQLite is read on a connection of its own (read-only, in a worker
thread, so the read overlaps the writes of the other side); PostgreSQL
through a server-side cursor in a REPEATABLE READ READ ONLY transaction.
Either way one statement reads the table: no LIMIT/OFFSET re-skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import IsolationLevel

from ccbridge.db.base import Database
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.db.sqlite import SqliteDatabase
from ccbridge.errors import StorageError
from ccbridge.legacy.table_layout import Layout

__all__ = ("table_rows",)

Rows = list[tuple[Any, ...]]


def table_rows(db: Database, layout: Layout, size: int) -> AsyncIterator[Rows]:
    """Yield every row of ``layout.table`` in ``db``, ``size`` at a time."""
    if isinstance(db, SqliteDatabase):
        return _sqlite_rows(db, layout, size)
    assert isinstance(db, PostgresDatabase)
    return _postgres_rows(db, layout, size)


async def _sqlite_rows(db: SqliteDatabase, layout: Layout, size: int) -> AsyncIterator[Rows]:
    name = f"{layout.table}.read"
    conn = await asyncio.to_thread(_open_sqlite, db, name)
    try:
        cursor = await asyncio.to_thread(
            _run, name, conn.execute, layout.statements["sqlite"].select
        )
        while rows := await asyncio.to_thread(_run, name, _fetch, cursor, layout, size):
            yield rows
    finally:
        await asyncio.to_thread(conn.close)


def _open_sqlite(db: SqliteDatabase, name: str) -> sqlite3.Connection:
    db.check_open()
    uri = f"file:{quote(str(db.path.resolve()))}?mode=ro"
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
