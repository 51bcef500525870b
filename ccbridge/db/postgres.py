"""PostgreSQL backend on psycopg 3 and psycopg_pool.

Pooled connections are in autocommit mode: a statement outside a
transaction commits on its own, and ``transaction()`` opens an explicit
one with psycopg's ``conn.transaction()``. Connections needing session
state (the migration advisory lock, later LISTEN) are made outside the
pool with ``dedicated()`` so that state dies with the connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

import psycopg
from psycopg import IsolationLevel
from psycopg import conninfo as pg_conninfo
from psycopg_pool import AsyncConnectionPool

from ccbridge.db import control
from ccbridge.db.base import BaseDatabase, Params
from ccbridge.errors import DatabaseClosedError, StorageError
from ccbridge.settings import mask_conninfo, mask_passwords
from generated.dao import Daos, Executor, Stmt

__all__ = ("PostgresDatabase",)

_APPLICATION_NAME: Final = "ccbridge"
_CONNECT_TIMEOUT_S: Final = 10
_KINDS: Final = {
    "23505": "unique_violation",
    "23503": "foreign_key_violation",
    "23502": "not_null_violation",
    "23514": "check_violation",
    "40001": "serialization_failure",
    "40P01": "deadlock",
}

AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]


class PostgresDatabase(BaseDatabase):
    """A PostgreSQL database behind an ``AsyncConnectionPool``.

    Args:
        conninfo: libpq URL or ``key=value`` string.
        min_size: Connections the pool keeps open.
        max_size: Most connections the pool opens.
        max_lifetime: Seconds before a pooled connection is replaced.
        open_timeout: Seconds ``open()`` waits for ``min_size`` connections.
    """

    dialect = "postgres"

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 5,
        max_size: int = 25,
        max_lifetime: float = 300.0,
        open_timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self.conninfo = conninfo
        self._min_size = min_size
        self._max_size = max_size
        self._max_lifetime = max_lifetime
        self._open_timeout = open_timeout
        params = _parse(conninfo)
        self._kwargs = _connection_kwargs(params)
        self._pool: AsyncConnectionPool[AsyncConn] | None = None
        self._executor = _PoolExecutor(self)

    @property
    def executor(self) -> Executor:
        """The executor behind ``daos``: one pooled connection per statement."""
        return self._executor

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConn]:
        """The connection pool (for ``get_stats()``)."""
        self.check_open()
        assert self._pool is not None
        return self._pool

    async def _open(self) -> None:
        # NOTE(storage): one direct connection first: the pool retries a
        # bad DSN until wait() times out, hiding the reason; this surfaces
        # it at once, in one line.
        conn = await self._connect("connect")
        await conn.close()
        pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
            self.conninfo,
            open=False,
            min_size=self._min_size,
            max_size=self._max_size,
            max_lifetime=self._max_lifetime,
            check=AsyncConnectionPool.check_connection,
            kwargs=self._kwargs,
            name=_APPLICATION_NAME,
        )
        try:
            await pool.open()
            await pool.wait(timeout=self._open_timeout)
        except BaseException as ex:
            await pool.close()
            if isinstance(ex, psycopg.Error):
                raise self._connect_error(ex) from None
            raise
        self._pool = pool

    async def _close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def unpooled_connection(self) -> AsyncConn:
        """Open an autocommit connection outside the pool.

        For session state that must not leak into the pool, such as
        LISTEN; the caller closes it.
        """
        self.check_open()
        return await self._connect("unpooled")

    async def _connect(self, name: str) -> AsyncConn:
        try:
            return await psycopg.AsyncConnection.connect(self.conninfo, **self._kwargs)
        except psycopg.Error as ex:
            raise self._connect_error(ex, name) from None

    def _connect_error(self, ex: psycopg.Error, name: str = "connect") -> StorageError:
        # NOTE(storage): masked structurally, never by replacing the password
        # text: a password "p" would turn "port" into "***ort".
        reason = mask_passwords(" ".join(str(ex).split()))
        return StorageError(
            name,
            f"cannot connect to PostgreSQL ({mask_conninfo(self.conninfo)}): {reason}",
            kind="connection",
            code=ex.sqlstate,
        )

    @asynccontextmanager
    async def connection(self, name: str) -> AsyncIterator[AsyncConn]:
        """Borrow a pooled autocommit connection for the block."""
        pool = self.pool
        try:
            async with pool.connection() as conn:
                yield conn
        except psycopg.Error as ex:
            raise _wrap(name, ex, detailed=True) from None

    @asynccontextmanager
    async def raw_transaction(self, readonly: bool = False) -> AsyncIterator[Executor]:
        """Yield an executor bound to one transaction on one connection.

        ``readonly=True`` runs REPEATABLE READ READ ONLY: one snapshot for
        the whole block, and writes fail.
        """
        async with self.connection("transaction") as conn:
            if readonly:
                await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
                await conn.set_read_only(True)
            try:
                async with _transaction(conn, "transaction") as executor:
                    yield executor
            finally:
                if readonly:
                    await _restore_defaults(conn)

    def migration_transaction(self) -> AbstractAsyncContextManager[Executor]:
        """Yield an executor for one migration's transaction."""
        return self.raw_transaction()

    @asynccontextmanager
    async def dedicated(self) -> AsyncIterator[Executor]:
        """Yield an autocommit executor on a new, unpooled connection.

        Closing the connection ends its session, so an advisory lock (or a
        LISTEN) taken on it cannot outlive the block.
        """
        self.check_open()
        conn = await self._connect("dedicated")
        try:
            yield _ConnExecutor(conn)
        finally:
            await conn.close()

    async def notifications(
        self, listen: Callable[[Daos], Awaitable[object]]
    ) -> AsyncIterator[tuple[str, str]]:
        """Yield (channel, payload) of NOTIFY messages, until closed.

        Args:
            listen: Issues the LISTEN statements, given DAOs bound to the
                listening connection (its own, outside the pool).
        """
        conn = await self.unpooled_connection()
        try:
            await listen(Daos(_ConnExecutor(conn)))
            async for note in conn.notifies():
                yield note.channel, note.payload
        except psycopg.Error as ex:
            raise self._connect_error(ex, "listen") from None
        finally:
            await conn.close()

    async def ping(self) -> None:
        """Check one pooled connection with an empty query."""
        async with self.connection("ping") as conn:
            await AsyncConnectionPool.check_connection(conn)


async def _restore_defaults(conn: AsyncConn) -> None:
    """Undo read-only settings: pooled connections are shared."""
    # A broken connection cannot be reset; the pool discards it on return,
    # and the block's own error is the one worth raising.
    with contextlib.suppress(psycopg.Error):
        await conn.set_read_only(None)
        await conn.set_isolation_level(None)


class _PoolExecutor:
    """Autocommit executor: each call borrows a pooled connection."""

    dialect: str = "postgres"

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def fetch_all(self, stmt: Stmt, params: Params = ()) -> list[tuple[Any, ...]]:
        async with self._db.connection(stmt.name) as conn:
            return await _fetch_all(conn, stmt, params)

    async def fetch_one(self, stmt: Stmt, params: Params = ()) -> tuple[Any, ...] | None:
        async with self._db.connection(stmt.name) as conn:
            return await _fetch_one(conn, stmt, params)

    async def execute(self, stmt: Stmt, params: Params = ()) -> int:
        async with self._db.connection(stmt.name) as conn:
            return await _execute(conn, stmt, params)

    async def execute_many(self, stmt: Stmt, rows: Sequence[Sequence[Any]]) -> None:
        # PERF(storage): one transaction for the batch rather than one
        # commit per row (autocommit); also makes the batch all-or-nothing.
        async with self._db.connection(stmt.name) as conn:
            async with _transaction(conn, stmt.name) as executor:
                await executor.execute_many(stmt, rows)

    async def copy_in(self, stmt: Stmt, rows: Iterable[Sequence[Any]]) -> None:
        # COPY is one statement: atomic on its own, even in autocommit.
        async with self._db.connection(stmt.name) as conn:
            await _copy_in(conn, stmt, rows)


class _ConnExecutor:
    """Executor bound to one connection (a transaction or dedicated)."""

    dialect: str = "postgres"

    def __init__(self, conn: AsyncConn) -> None:
        self._conn: AsyncConn | None = conn

    def finish(self) -> None:
        """Refuse further statements (the transaction has ended)."""
        self._conn = None

    def _live(self) -> AsyncConn:
        if self._conn is None:
            raise DatabaseClosedError("postgres transaction has ended")
        return self._conn

    async def fetch_all(self, stmt: Stmt, params: Params = ()) -> list[tuple[Any, ...]]:
        return await _fetch_all(self._live(), stmt, params)

    async def fetch_one(self, stmt: Stmt, params: Params = ()) -> tuple[Any, ...] | None:
        return await _fetch_one(self._live(), stmt, params)

    async def execute(self, stmt: Stmt, params: Params = ()) -> int:
        return await _execute(self._live(), stmt, params)

    async def execute_many(self, stmt: Stmt, rows: Sequence[Sequence[Any]]) -> None:
        try:
            async with self._live().cursor() as cursor:
                await cursor.executemany(stmt.sql, rows)
        except psycopg.Error as ex:
            raise _wrap(stmt.name, ex, detailed=False) from None

    async def copy_in(self, stmt: Stmt, rows: Iterable[Sequence[Any]]) -> None:
        await _copy_in(self._live(), stmt, rows)


@asynccontextmanager
async def _transaction(conn: AsyncConn, name: str) -> AsyncIterator[_ConnExecutor]:
    """Run the block in a transaction on ``conn``; commit or roll back.

    Errors of BEGIN/COMMIT/ROLLBACK are reported under ``name``.
    """
    executor = _ConnExecutor(conn)
    try:
        async with conn.transaction():
            yield executor
            executor.finish()
    except psycopg.Error as ex:
        raise _wrap(name, ex, detailed=True) from None
    finally:
        executor.finish()


def _bound(params: Params) -> Params | None:
    # psycopg parses placeholders only when given parameters, so a literal
    # % in parameterless SQL (a migration) must be sent with None.
    return params if params else None


async def _fetch_all(conn: AsyncConn, stmt: Stmt, params: Params) -> list[tuple[Any, ...]]:
    try:
        cursor = await conn.execute(stmt.sql, _bound(params))
        return await cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as ex:
        raise _wrap(stmt.name, ex, detailed=not params) from None


async def _fetch_one(conn: AsyncConn, stmt: Stmt, params: Params) -> tuple[Any, ...] | None:
    try:
        cursor = await conn.execute(stmt.sql, _bound(params))
        return await cursor.fetchone() if cursor.description is not None else None
    except psycopg.Error as ex:
        raise _wrap(stmt.name, ex, detailed=not params) from None


async def _execute(conn: AsyncConn, stmt: Stmt, params: Params) -> int:
    try:
        cursor = await conn.execute(stmt.sql, _bound(params))
        return cursor.rowcount
    except psycopg.Error as ex:
        raise _wrap(stmt.name, ex, detailed=not params) from None


async def _copy_in(conn: AsyncConn, stmt: Stmt, rows: Iterable[Sequence[Any]]) -> None:
    try:
        async with conn.cursor() as cursor:
            async with cursor.copy(stmt.sql) as copy:
                for row in rows:
                    await copy.write_row(row)
    except psycopg.Error as ex:
        raise _wrap(stmt.name, ex, detailed=False) from None


def _wrap(name: str, ex: psycopg.Error, *, detailed: bool) -> StorageError:
    """Turn a driver error into a StorageError naming the statement.

    The server's primary message is kept unless values were bound and it
    is a data exception (class 22, e.g. 'invalid input syntax for type
    integer: "…"'), the one class whose primary message quotes a value.
    DETAIL lines (which quote key values) are never kept.
    """
    code = ex.sqlstate
    reason = type(ex).__name__ + (f" [{code}]" if code else "")
    # Client-side errors (no SQLSTATE) never quote parameter values.
    primary = ex.diag.message_primary if code else " ".join(str(ex).split())
    if primary and (detailed or not (code or "").startswith("22")):
        reason += f": {primary}"
    if ex.diag.constraint_name:
        reason += f" (constraint {ex.diag.constraint_name})"
    kind = _KINDS.get(code or "")
    if (code or "").startswith("08") or (code is None and isinstance(ex, psycopg.OperationalError)):
        kind = "connection"
    return StorageError(name, reason, kind=kind, code=code)


def _parse(conninfo: str) -> dict[str, Any]:
    try:
        return pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        # The driver's message may echo the password.
        raise StorageError("connect", "invalid PostgreSQL URL or conninfo") from None


def _connection_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """Return the connect() arguments added to the user's conninfo."""
    options = f"{params.get('options') or ''} {control.PG_OPTIONS}".strip()
    kwargs: dict[str, Any] = {"autocommit": True, "options": options}
    if not params.get("application_name"):
        kwargs["application_name"] = _APPLICATION_NAME
    if not params.get("connect_timeout"):
        kwargs["connect_timeout"] = _CONNECT_TIMEOUT_S
    return kwargs
