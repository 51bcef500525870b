"""SQLite backend on aiosqlite: one writer, a few readers.

SQLite allows one writer at a time. All writes of this process go through
one connection behind an ``asyncio.Lock`` and every transaction starts with
``BEGIN IMMEDIATE`` (busy_timeout covers other processes), so "database is
locked" never reaches a caller. Reads outside transactions run on reader
connections in WAL mode, which never block the writer nor wait for it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final

import aiosqlite

from ccbridge.db import control
from ccbridge.db.base import BaseDatabase, Params
from ccbridge.errors import DatabaseClosedError, SettingsError, StorageError
from generated.dao import Executor, Stmt

__all__ = ("MIN_SQLITE_VERSION", "SqliteDatabase", "prepare_path")

MEMORY: Final = ":memory:"
# RETURNING (DAO inserts) and ALTER TABLE DROP COLUMN (migrations) came in 3.35.0.
MIN_SQLITE_VERSION: Final = (3, 35, 0)

# The SqliteDatabase whose writer lock the current task (or its children)
# holds; a second write through db.daos would wait for itself forever.
_WRITER_OWNER: ContextVar[SqliteDatabase | None] = ContextVar("_WRITER_OWNER", default=None)

_KINDS: Final = {
    "SQLITE_CONSTRAINT_UNIQUE": "unique_violation",
    "SQLITE_CONSTRAINT_PRIMARYKEY": "unique_violation",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "foreign_key_violation",
    "SQLITE_CONSTRAINT_NOTNULL": "not_null_violation",
    "SQLITE_CONSTRAINT_CHECK": "check_violation",
}

# PERF(db): CPython 3.11 binds None through the adapter protocol, whose
# misses raise and swallow two AttributeErrors: 0.6 us per NULL against
# 0.05 us per int, and a log row has about ten NULLs. A registered adapter
# is found by one dict lookup; `{}.get` returns None without a Python frame.
_NO_ADAPTER: dict[None, None] = {}
sqlite3.register_adapter(type(None), _NO_ADAPTER.get)


class SqliteDatabase(BaseDatabase):
    """An SQLite file (or ``:memory:``) with one writer and N readers.

    Args:
        path: Database file; its parent directory is created on open.
            ``:memory:`` gets no readers (each would see its own database).
        readers: Connections for reads outside transactions; 0 sends reads
            through the writer.
        origin: The variable or flag the path came from (``DATABASE_URL``),
            named in path errors.
    """

    dialect = "sqlite"

    def __init__(self, path: Path | str, *, readers: int = 4, origin: str = "") -> None:
        super().__init__()
        if readers < 0:
            raise ValueError("readers must be 0 or more")
        self.path = Path(path)
        self.origin = origin
        self._reader_count = 0 if str(path) == MEMORY else readers
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._executor = _RoutingExecutor(self)

    @property
    def executor(self) -> Executor:
        """The executor behind ``daos``: writes on the writer, reads on readers."""
        return self._executor

    async def _open(self) -> None:
        _check_version()
        if str(self.path) != MEMORY:
            await asyncio.to_thread(prepare_path, self.path, self.origin)
        opened: list[aiosqlite.Connection] = []
        try:
            self._writer = await self._connect(control.SQLITE_CONNECTION_PRAGMAS)
            opened.append(self._writer)
            for _ in range(self._reader_count):
                reader = await self._connect(
                    control.SQLITE_CONNECTION_PRAGMAS + control.SQLITE_READER_PRAGMAS
                )
                opened.append(reader)
                self._readers.put_nowait(reader)
        except BaseException:
            for conn in opened:
                await conn.close()
            self._writer = None
            while not self._readers.empty():
                self._readers.get_nowait()
            raise

    async def _connect(self, pragmas: Sequence[str]) -> aiosqlite.Connection:
        try:
            conn = await aiosqlite.connect(
                self.path,
                isolation_level=None,
                timeout=control.SQLITE_BUSY_TIMEOUT_MS / 1000,
            )
        except sqlite3.Error as ex:
            error = _wrap("connect", ex)
            raise StorageError(
                "connect",
                f"{_describe(self.path, self.origin)}: {error.reason}",
                kind=error.kind,
                code=error.code,
            ) from None
        try:
            for pragma in pragmas:
                await _run(conn, "connect", pragma)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _close(self) -> None:
        # Wait for the running transaction and in-flight reads to finish.
        async with self._write_lock:
            for _ in range(self._reader_count):
                await (await self._readers.get()).close()
            if self._writer is not None:
                await self._writer.close()
                self._writer = None

    @asynccontextmanager
    async def raw_transaction(self, readonly: bool = False) -> AsyncIterator[Executor]:
        """Yield an executor bound to one transaction.

        Writing transactions hold the writer lock and start with
        ``BEGIN IMMEDIATE``; read-only ones run on a reader with a
        deferred ``BEGIN``, one snapshot from the first read to the end.
        """
        self.check_open()
        if readonly and self._reader_count:
            async with self._reader() as conn:
                async with _transaction(conn, control.SQLITE_BEGIN_READ) as executor:
                    yield executor
            return
        async with self._writing("transaction") as conn:
            begin = control.SQLITE_BEGIN_READ if readonly else control.SQLITE_BEGIN_WRITE
            async with _transaction(conn, begin) as executor:
                yield executor

    @asynccontextmanager
    async def migration_transaction(self) -> AsyncIterator[Executor]:
        """Yield a write transaction with foreign keys off around it.

        NOTE(storage): a table rebuild (create new, copy, drop old, rename)
        must not cascade deletes; the migration checks integrity itself
        with ``PRAGMA foreign_key_check``.
        """
        self.check_open()
        async with self._writing("migration") as conn:
            await _run(conn, "migration", control.SQLITE_FOREIGN_KEYS_OFF)
            try:
                async with _transaction(conn, control.SQLITE_BEGIN_WRITE) as executor:
                    yield executor
            finally:
                await _run(conn, "migration", control.SQLITE_FOREIGN_KEYS_ON)

    @asynccontextmanager
    async def dedicated(self) -> AsyncIterator[Executor]:
        """Yield an autocommit executor on a new connection of its own."""
        self.check_open()
        if str(self.path) == MEMORY:
            raise StorageError("dedicated", "an in-memory database has no second connection")
        conn = await self._connect(control.SQLITE_CONNECTION_PRAGMAS)
        try:
            yield _ConnExecutor(conn)
        finally:
            await conn.close()

    async def ping(self) -> None:
        """Read the schema version on a reader (or the writer)."""
        self.check_open()
        if self._reader_count:
            async with self._reader() as conn:
                await _run(conn, "ping", control.SQLITE_PING)
        else:
            async with self._writing("ping") as conn:
                await _run(conn, "ping", control.SQLITE_PING)

    @asynccontextmanager
    async def _writing(self, name: str) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the writer lock and yield the writer connection."""
        if _WRITER_OWNER.get() is self:
            raise StorageError(
                name,
                "this task already holds the writer (inside a transaction); "
                "use the transaction's DAOs",
            )
        async with self._write_lock:
            self.check_open()
            assert self._writer is not None
            token = _WRITER_OWNER.set(self)
            try:
                yield self._writer
            finally:
                _WRITER_OWNER.reset(token)

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        """Borrow a reader connection for the duration of the block."""
        conn = await self._readers.get()
        try:
            self.check_open()
            yield conn
        finally:
            self._readers.put_nowait(conn)


class _RoutingExecutor:
    """Autocommit executor: writes on the writer, reads on readers."""

    dialect: str = "sqlite"

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    @asynccontextmanager
    async def _conn(self, stmt: Stmt) -> AsyncIterator[aiosqlite.Connection]:
        db = self._db
        db.check_open()
        if stmt.writes or not db._reader_count:
            async with db._writing(stmt.name) as conn:
                yield conn
        else:
            async with db._reader() as conn:
                yield conn

    async def fetch_all(self, stmt: Stmt, params: Params = ()) -> list[tuple[Any, ...]]:
        async with self._conn(stmt) as conn:
            return await _fetch_all(conn, stmt, params)

    async def fetch_one(self, stmt: Stmt, params: Params = ()) -> tuple[Any, ...] | None:
        rows = await self.fetch_all(stmt, params)
        return rows[0] if rows else None

    async def execute(self, stmt: Stmt, params: Params = ()) -> int:
        async with self._conn(stmt) as conn:
            return await _execute(conn, stmt, params)

    async def execute_many(self, stmt: Stmt, rows: Sequence[Sequence[Any]]) -> None:
        # PERF(storage): one transaction for the batch instead of one
        # implicit transaction (and WAL commit) per row; also all-or-nothing.
        async with self._db._writing(stmt.name) as conn:
            async with _transaction(conn, control.SQLITE_BEGIN_WRITE):
                await _execute_many(conn, stmt, rows)

    async def copy_in(self, stmt: Stmt, rows: Iterable[Sequence[Any]]) -> None:
        # SQLite has no COPY; the DAO hands us its INSERT statement.
        await self.execute_many(stmt, rows if isinstance(rows, Sequence) else list(rows))


class _ConnExecutor:
    """Executor bound to one connection (a transaction or dedicated)."""

    dialect: str = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn: aiosqlite.Connection | None = conn

    def finish(self) -> None:
        """Refuse further statements (the transaction has ended)."""
        self._conn = None

    def _live(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise DatabaseClosedError("sqlite transaction has ended")
        return self._conn

    async def fetch_all(self, stmt: Stmt, params: Params = ()) -> list[tuple[Any, ...]]:
        return await _fetch_all(self._live(), stmt, params)

    async def fetch_one(self, stmt: Stmt, params: Params = ()) -> tuple[Any, ...] | None:
        rows = await _fetch_all(self._live(), stmt, params)
        return rows[0] if rows else None

    async def execute(self, stmt: Stmt, params: Params = ()) -> int:
        return await _execute(self._live(), stmt, params)

    async def execute_many(self, stmt: Stmt, rows: Sequence[Sequence[Any]]) -> None:
        await _execute_many(self._live(), stmt, rows)

    async def copy_in(self, stmt: Stmt, rows: Iterable[Sequence[Any]]) -> None:
        await _execute_many(self._live(), stmt, rows)


@asynccontextmanager
async def _transaction(conn: aiosqlite.Connection, begin: str) -> AsyncIterator[_ConnExecutor]:
    """Run the block in a transaction on ``conn``; commit or roll back."""
    executor = _ConnExecutor(conn)
    try:
        await _run(conn, "begin", begin)
        yield executor
        executor.finish()
        await _run(conn, "commit", control.SQLITE_COMMIT)
    except BaseException:
        executor.finish()
        await _rollback(conn)
        raise


async def _rollback(conn: aiosqlite.Connection) -> None:
    # NOTE(storage): always queue the ROLLBACK, even when no transaction
    # seems active: a cancelled BEGIN still runs on the connection's thread
    # (FIFO) and would otherwise leave the writer inside a transaction.
    try:
        await _run(conn, "rollback", control.SQLITE_ROLLBACK)
    except StorageError:
        if conn.in_transaction:
            raise


async def _fetch_all(
    conn: aiosqlite.Connection, stmt: Stmt, params: Params
) -> list[tuple[Any, ...]]:
    try:
        # One thread hop: execute and fetch, which also steps RETURNING
        # statements to completion.
        rows = await conn.execute_fetchall(stmt.sql, params)
    except sqlite3.Error as ex:
        raise _wrap(stmt.name, ex) from None
    return rows  # type: ignore[return-value]  # tuples: no row_factory is set


async def _execute(conn: aiosqlite.Connection, stmt: Stmt, params: Params) -> int:
    try:
        async with conn.execute(stmt.sql, params) as cursor:
            return cursor.rowcount
    except sqlite3.Error as ex:
        raise _wrap(stmt.name, ex) from None


async def _execute_many(
    conn: aiosqlite.Connection, stmt: Stmt, rows: Iterable[Sequence[Any]]
) -> None:
    try:
        async with conn.executemany(stmt.sql, rows):
            pass
    except sqlite3.Error as ex:
        raise _wrap(stmt.name, ex) from None


async def _run(conn: aiosqlite.Connection, name: str, sql: str) -> None:
    """Run one control statement from ``control`` (no parameters)."""
    try:
        async with conn.execute(sql):
            pass
    except sqlite3.Error as ex:
        raise _wrap(name, ex) from None


def prepare_path(path: Path, origin: str = "") -> None:
    """Create the directory of an SQLite file, refusing unusable paths.

    Args:
        path: The database file.
        origin: The variable or flag the path came from, for the message.

    Raises:
        SettingsError: The directory cannot be created or the path is a
            directory; names ``origin`` and the path, in one line.
    """
    where = _describe(path, origin)
    if path.is_dir():
        raise SettingsError(f"{where}: is a directory, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as ex:
        # A file where a directory should be: name it, not the errno text.
        blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            problem = f"{blocker} is not a directory"
        else:
            problem = f"{ex.filename or path.parent}: {ex.strerror or ex}"
        raise SettingsError(f"{where}: cannot create its directory ({problem})") from None


def _describe(path: Path, origin: str) -> str:
    return f"SQLite database {path} (from {origin})" if origin else f"SQLite database {path}"


def _check_version() -> None:
    """Raise StorageError when the linked SQLite is older than the code needs."""
    if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
        need = ".".join(map(str, MIN_SQLITE_VERSION))
        raise StorageError(
            "connect",
            f"SQLite {need} or newer is needed (RETURNING, ALTER TABLE DROP COLUMN); "
            f"this Python's sqlite3 module uses SQLite {sqlite3.sqlite_version}: "
            "use a Python built against a newer SQLite, or PostgreSQL",
        )


def _wrap(name: str, ex: sqlite3.Error) -> StorageError:
    """Turn a driver error into a StorageError naming the statement.

    SQLite's messages name tables, columns and constraints but never bound
    values, so they are kept.
    """
    code = getattr(ex, "sqlite_errorname", None)
    kind = _KINDS.get(code or "")
    if code and code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        kind = "busy"
    return StorageError(name, f"{type(ex).__name__}: {ex}", kind=kind, code=code)
