"""Stream a whole table as typed tuples, from one snapshot.

SQLite is read on a connection of its own (read-only, in a worker
thread, so the read overlaps the writes of the other side); PostgreSQL
through a server-side cursor in a REPEATABLE READ READ ONLY transaction.
Either way one statement reads the table: no LIMIT/OFFSET re-skipping.
Processes that share a large table read it a range of parts at a time
(rowids on SQLite, heap blocks on PostgreSQL: :func:`row_bounds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar
from urllib.parse import quote

import psycopg
from psycopg import IsolationLevel

from ccbridge.db.base import Database
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.db.sqlite import SqliteDatabase
from ccbridge.errors import StorageError
from ccbridge.legacy.table_layout import Layout

__all__ = ("RowRange", "row_bounds", "table_rows")

Rows = list[tuple[Any, ...]]
# First and last part, both included: rowids on SQLite, heap blocks on PostgreSQL.
RowRange = tuple[int, int]
# TID range scans, which read a range of blocks without the rest.
_PG_RANGE_SCANS: Final = 140000
_P = ParamSpec("_P")
_T = TypeVar("_T")


def table_rows(
    db: Database, layout: Layout, size: int, parts: RowRange | None = None
) -> AsyncGenerator[Rows, None]:
    """Yield the rows of ``layout.table`` in ``db`` (or in ``parts``), ``size`` at a time."""
    if isinstance(db, SqliteDatabase):
        db.check_open()
        return _sqlite_rows(db.path, layout, size, parts)
    assert isinstance(db, PostgresDatabase)
    return _postgres_rows(db, layout, size, parts)


async def row_bounds(db: Database, layout: Layout) -> RowRange | None:
    """Return the first and last part of the table.

    None when it is empty, or cannot be read a range at a time
    (PostgreSQL before 14 would scan the whole table for each range).
    """
    name, bounds = f"{layout.table}.read", layout.statements[db.dialect].row_ranges[0].sql
    if isinstance(db, SqliteDatabase):
        db.check_open()
        low, high = await asyncio.to_thread(_sqlite_one, db.path, name, bounds)
    else:
        assert isinstance(db, PostgresDatabase)
        async with db.connection(name) as conn:
            if conn.info.server_version < _PG_RANGE_SCANS:
                return None
            low, high = await (await conn.execute(bounds)).fetchone() or (None, None)
    return None if low is None or high < low else (low, high)


async def _sqlite_rows(
    path: Path, layout: Layout, size: int, parts: RowRange | None
) -> AsyncGenerator[Rows, None]:
    name = f"{layout.table}.read"
    conn = await asyncio.to_thread(_open_sqlite, path, name)
    try:
        statement, args = _statement(layout, "sqlite", parts)
        cursor = await asyncio.to_thread(_run, name, conn.execute, statement, args)
        while rows := await asyncio.to_thread(_run, name, _fetch, cursor, layout, size):
            yield rows
    finally:
        await asyncio.to_thread(conn.close)


def _statement(layout: Layout, dialect: str, parts: RowRange | None) -> tuple[str, Any]:
    statements = layout.statements[dialect]
    return (statements.select, ()) if parts is None else (statements.row_ranges[1].sql, parts)


def _sqlite_one(path: Path, name: str, statement: str) -> tuple[Any, ...]:
    conn = _open_sqlite(path, name)
    try:
        # an aggregate (MIN, MAX): always one row; sqlite3 types fetchone as Any
        row: tuple[Any, ...] = _run(name, lambda: conn.execute(statement).fetchone())
        return row
    finally:
        conn.close()


def _open_sqlite(path: Path, name: str) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return _run(name, sqlite3.connect, uri, uri=True, check_same_thread=False)


def _fetch(cursor: sqlite3.Cursor, layout: Layout, size: int) -> Rows:
    return layout.from_sqlite(cursor.fetchmany(size))


def _run(name: str, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    try:
        return call(*args, **kwargs)
    except sqlite3.Error as ex:
        raise StorageError(name, f"{type(ex).__name__}: {ex}") from None


async def _postgres_rows(
    db: PostgresDatabase, layout: Layout, size: int, parts: RowRange | None
) -> AsyncGenerator[Rows, None]:
    async with db.connection(f"{layout.table}.read") as conn:
        await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
        await conn.set_read_only(True)
        try:
            async with conn.transaction(), conn.cursor(name="dbmigrate_read") as cursor:
                await cursor.execute(*_statement(layout, "postgres", parts))
                while rows := await cursor.fetchmany(size):
                    yield rows
        finally:
            # A pooled connection goes back as it was lent (a broken one
            # is discarded by the pool; the block's own error matters).
            with contextlib.suppress(psycopg.Error):
                await conn.set_read_only(None)
                await conn.set_isolation_level(None)
