"""Write typed batches into a table.

dbmigrate (:func:`table_writer`) commits each batch on its own.
PostgreSQL takes binary COPY: straight into a table that was empty when
the copy reached it (keys are unique in the source and every batch
commits on its own, so nothing can conflict), through a temporary stage
that skips existing keys otherwise (a resumed copy). SQLite takes an
insert that skips existing keys; ``settings`` is upserted on both (the
destination's migrations seed ``config_revision``).

The import writes in its one transaction with :func:`insert_ignoring`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from ccbridge.db.base import Database
from ccbridge.db.control import PG_SYNC_COMMIT_OFF
from ccbridge.db.postgres import AsyncConn, PostgresDatabase
from ccbridge.legacy.copy_sql import binary
from ccbridge.legacy.pg_binary import HEADER, TRAILER
from ccbridge.legacy.table_layout import Layout
from generated.dao import Daos

__all__ = ("Write", "insert_ignoring", "table_writer")

Rows = list[tuple[Any, ...]]
# (typed rows, their binary COPY encoding) -> written and committed
Write = Callable[[Rows, bytearray], Awaitable[None]]


@asynccontextmanager
async def table_writer(
    db: Database, layout: Layout, *, fresh: bool, upsert: bool
) -> AsyncIterator[Write]:
    """Yield the function that writes one batch into ``layout.table``."""
    if upsert:
        yield partial(_upsert, db, layout)
    elif not isinstance(db, PostgresDatabase):
        yield partial(_insert_ignoring_each, db, layout)
    else:
        async with db.connection(f"{layout.table}.copy") as conn:
            yield partial(_copy if fresh else _copy_ignoring, conn, layout)


async def _upsert(db: Database, layout: Layout, rows: Rows, _: bytearray) -> None:
    async with db.transaction() as tx:
        await getattr(tx, layout.table).upsert_many([layout.row(v) for v in rows])


async def _insert_ignoring_each(db: Database, layout: Layout, rows: Rows, _: bytearray) -> None:
    async with db.transaction() as tx:
        await insert_ignoring(tx, layout, rows)


async def insert_ignoring(tx: Daos, layout: Layout, rows: Rows) -> None:
    """Insert typed rows in the transaction of ``tx``, skipping existing keys."""
    ex = tx.executor
    statements = layout.statements[ex.dialect]
    if ex.dialect == "sqlite":
        await ex.execute_many(statements.ignore_many, layout.to_sqlite(rows))
        return
    create, copy, merge, drop = statements.stage
    await ex.execute(create)
    await ex.copy_in(copy, layout.to_postgres(rows))
    await ex.execute(merge)
    await ex.execute(drop)


async def _copy(conn: AsyncConn, layout: Layout, _: Rows, data: bytearray) -> None:
    async with conn.transaction():
        await conn.execute(PG_SYNC_COMMIT_OFF)
        await _copy_in(conn, binary(layout.statements["postgres"].bulk), data)


async def _copy_ignoring(conn: AsyncConn, layout: Layout, _: Rows, data: bytearray) -> None:
    create, copy, merge, drop = layout.statements["postgres"].stage
    async with conn.transaction():
        await conn.execute(PG_SYNC_COMMIT_OFF)
        await conn.execute(create.sql)
        await _copy_in(conn, binary(copy), data)
        await conn.execute(merge.sql)
        await conn.execute(drop.sql)


async def _copy_in(conn: AsyncConn, statement: str, data: bytearray) -> None:
    # The batch is already encoded (and checksummed): frame and send it.
    async with conn.cursor() as cursor, cursor.copy(statement) as copy:
        await copy.write(HEADER)
        await copy.write(data)
        await copy.write(TRAILER)
