"""The Database protocol shared by the SQLite and PostgreSQL backends.

A ``Database`` owns connections; DAOs from ``generated.dao`` run on it
through an ``Executor``: ``db.daos`` outside a transaction, or the DAOs
yielded by ``db.transaction()`` inside one. See docs/storage.md.
"""

from __future__ import annotations

import enum
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from ccbridge.errors import DatabaseClosedError
from generated.dao import Daos, Executor

if TYPE_CHECKING:
    from ccbridge.settings import Settings

__all__ = (
    "BaseDatabase",
    "Database",
    "Params",
    "connect",
    "split_statements",
)

Params = Sequence[Any] | Mapping[str, Any]


class Database(Protocol):
    """A database the DAOs run on; one per process and engine."""

    dialect: str

    @property
    def daos(self) -> Daos:
        """DAOs that run each statement on its own (autocommit)."""
        ...

    @property
    def executor(self) -> Executor:
        """The executor behind ``daos``."""
        ...

    async def open(self) -> None:
        """Open connections; a second call does nothing."""
        ...

    async def close(self) -> None:
        """Close connections; a second call does nothing."""
        ...

    def transaction(self, readonly: bool = False) -> AbstractAsyncContextManager[Daos]:
        """Yield DAOs bound to one transaction.

        It commits on normal exit and rolls back on an exception.
        ``readonly=True`` reads one consistent snapshot and may not write.
        """
        ...

    def raw_transaction(self, readonly: bool = False) -> AbstractAsyncContextManager[Executor]:
        """Like ``transaction`` but yield the executor itself."""
        ...

    def migration_transaction(self) -> AbstractAsyncContextManager[Executor]:
        """Yield an executor for one migration's write transaction.

        SQLite disables foreign key enforcement around it, so a table
        rebuild does not cascade.
        """
        ...

    def dedicated(self) -> AbstractAsyncContextManager[Executor]:
        """Yield an autocommit executor on a connection of its own.

        The connection is outside any pool and closed on exit, so session
        state (an advisory lock) cannot leak to other users.
        """
        ...

    async def ping(self) -> None:
        """Round-trip to the database; raise StorageError if it is gone."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class BaseDatabase(ABC):
    """Lifecycle and DAO plumbing shared by both backends."""

    dialect: str

    def __init__(self) -> None:
        self._state = _State.NEW
        self._daos: Daos | None = None

    @property
    def daos(self) -> Daos:
        """DAOs that run each statement on its own (autocommit)."""
        self.check_open()
        assert self._daos is not None
        return self._daos

    @property
    @abstractmethod
    def executor(self) -> Executor:
        """The executor behind ``daos``."""

    async def open(self) -> None:
        """Open connections; a second call does nothing.

        Raises:
            DatabaseClosedError: The database was closed before.
            StorageError: The database cannot be reached.
        """
        if self._state is _State.OPEN:
            return
        if self._state is _State.CLOSED:
            raise DatabaseClosedError(f"{self.dialect} database was closed; it cannot reopen")
        await self._open()
        self._state = _State.OPEN
        self._daos = Daos(self.executor)

    async def close(self) -> None:
        """Close connections; a second call does nothing."""
        if self._state is _State.CLOSED:
            return
        was_open = self._state is _State.OPEN
        self._state = _State.CLOSED
        if was_open:
            await self._close()

    def check_open(self) -> None:
        """Raise DatabaseClosedError unless the database is open."""
        if self._state is not _State.OPEN:
            raise DatabaseClosedError(f"{self.dialect} database is {self._state.value}")

    @asynccontextmanager
    async def transaction(self, readonly: bool = False) -> AsyncIterator[Daos]:
        """Yield DAOs bound to one transaction.

        It commits on normal exit and rolls back on an exception.
        ``readonly=True`` reads one consistent snapshot and may not write.
        """
        async with self.raw_transaction(readonly) as executor:
            yield Daos(executor)

    @abstractmethod
    def raw_transaction(self, readonly: bool = False) -> AbstractAsyncContextManager[Executor]:
        """Like ``transaction`` but yield the executor itself."""

    @abstractmethod
    def migration_transaction(self) -> AbstractAsyncContextManager[Executor]:
        """Yield an executor for one migration's write transaction."""

    @abstractmethod
    def dedicated(self) -> AbstractAsyncContextManager[Executor]:
        """Yield an autocommit executor on a connection of its own."""

    @abstractmethod
    async def ping(self) -> None:
        """Round-trip to the database; raise StorageError if it is gone."""

    @abstractmethod
    async def _open(self) -> None: ...

    @abstractmethod
    async def _close(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def connect(settings: Settings) -> Database:
    """Return an unopened Database for the configured engine.

    Open it with ``await db.open()`` or ``async with connect(s) as db``.
    """
    if settings.database_type == "postgres":
        from ccbridge.db.postgres import PostgresDatabase

        return PostgresDatabase(
            settings.postgres_conninfo,
            min_size=settings.pool_min,
            max_size=settings.pool_max,
            max_lifetime=settings.pool_max_lifetime,
        )
    from ccbridge.db.sqlite import SqliteDatabase

    return SqliteDatabase(settings.sqlite_path, origin=settings.sqlite_origin)


def split_statements(text: str) -> list[str]:
    """Split a migration file into statements.

    A statement ends with ``;`` at the end of a line where the text so far
    is complete per ``sqlite3.complete_statement`` (so a ``;`` inside a
    string or comment does not split). Comment-only text is dropped.

    Raises:
        ValueError: The file ends with an unterminated statement.
    """
    statements: list[str] = []
    buffer: list[str] = []
    for line in text.splitlines(keepends=True):
        buffer.append(line)
        if line.rstrip().endswith(";") and sqlite3.complete_statement("".join(buffer)):
            statements.append("".join(buffer).strip())
            buffer.clear()
    rest = "".join(buffer)
    if _has_code(rest):
        raise ValueError("the last statement does not end with ';'")
    return statements


def _has_code(text: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("--") for line in text.splitlines())
