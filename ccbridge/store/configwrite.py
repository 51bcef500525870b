"""Every configuration read and write, each in one transaction.

A write reads the config revision with a row lock (`FOR UPDATE` on
PostgreSQL; SQLite's write transaction already excludes other writers),
refuses a write based on another revision, applies the change, bumps the
revision, records the revision's history row (what changed, by whom; see
store/history.py) and — on PostgreSQL — sends a NOTIFY that other
instances receive when it commits. This instance then reloads its
snapshot before answering, so a client reads its own write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ccbridge.db.base import Database
from ccbridge.errors import StaleRevision
from ccbridge.store.history import SYSTEM, Actor, config_state, record_revision
from generated.dao import Daos

__all__ = ("CONFIG_CHANNEL", "ConfigStore", "ConfigWrite", "ConfigWriter")

CONFIG_CHANNEL = "ccbridge_config"

T = TypeVar("T")


@dataclass(slots=True)
class ConfigWrite:
    """The transaction's DAOs, who writes, the base revision and the new one."""

    tx: Daos
    actor: Actor = SYSTEM
    base: int = 0
    revision: int = 0


class ConfigWriter(Protocol):
    """What config readers and writers need (the database store, JSON mode)."""

    async def read(self, read: Callable[[Daos], Awaitable[T]]) -> tuple[T, int]:
        """Run ``read`` in one read-only transaction; return it and the revision."""
        ...

    def write(
        self, expected: int | None = None, *, actor: Actor = SYSTEM
    ) -> AbstractAsyncContextManager[ConfigWrite]:
        """Open one revision-checked config write made by ``actor``."""
        ...


class ConfigStore:
    """Config reads and revision-checked writes against the database.

    Args:
        db: The database.
        reload: Brings this instance's snapshot up to date (run after
            every committed write).
    """

    def __init__(self, db: Database, reload: Callable[[], Awaitable[None]]) -> None:
        self.db = db
        self._reload = reload

    async def read(self, read: Callable[[Daos], Awaitable[T]]) -> tuple[T, int]:
        """Run ``read`` in one read-only transaction; return it and the revision."""
        async with self.db.transaction(readonly=True) as tx:
            row = await tx.settings.get("config_revision")
            result = await read(tx)
        return result, int(row.value) if row is not None else 0

    @asynccontextmanager
    async def write(
        self, expected: int | None = None, *, actor: Actor = SYSTEM
    ) -> AsyncIterator[ConfigWrite]:
        """Apply a config change atomically; raise StaleRevision if stale.

        Args:
            expected: The revision the change was based on (If-Match), or
                None to write whatever the current revision is.
            actor: Who makes the change, for the history row.
        """
        async with self.db.transaction() as tx:
            row = await tx.settings.lock_revision()
            # value is NOT NULL in the table; named query results are typed nullable
            current = int(row.value) if row is not None and row.value is not None else 0
            if expected is not None and expected != current:
                raise StaleRevision(expected, current)
            before = await config_state(tx)
            write = ConfigWrite(tx, actor, current)
            yield write
            bumped = await tx.settings.bump_revision()
            bumped_value = bumped.value if bumped is not None else None
            write.revision = int(bumped_value) if bumped_value is not None else current + 1
            await record_revision(tx, current, write.revision, actor, before)
            if self.db.dialect == "postgres":
                await tx.settings.notify(channel=CONFIG_CHANNEL, payload=str(write.revision))
        await self._reload()
