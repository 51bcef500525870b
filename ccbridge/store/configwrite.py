"""Every configuration write, in one revision-checked transaction.

The transaction reads the config revision with a row lock (`FOR UPDATE` on
PostgreSQL; SQLite's write transaction already excludes other writers),
refuses a write based on another revision, applies the change, bumps the
revision and — on PostgreSQL — sends a NOTIFY that other instances receive
when it commits. This instance then reloads its snapshot before answering,
so a client reads its own write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ccbridge.errors import StaleRevision
from ccbridge.runtime import Runtime
from generated.dao import Daos

__all__ = ("CONFIG_CHANNEL", "ConfigWrite", "config_write")

CONFIG_CHANNEL = "ccbridge_config"


@dataclass(slots=True)
class ConfigWrite:
    """The transaction's DAOs, and the revision once committed."""

    tx: Daos
    revision: int = 0


@asynccontextmanager
async def config_write(rt: Runtime, expected: int | None = None) -> AsyncIterator[ConfigWrite]:
    """Apply a config change atomically; raise StaleRevision if stale.

    Args:
        rt: The runtime (its database, and the reload to run afterwards).
        expected: The revision the change was based on (If-Match), or
            None to write whatever the current revision is.
    """
    async with rt.db.transaction() as tx:
        row = await tx.settings.lock_revision()
        current = int(row.value) if row is not None else 0
        if expected is not None and expected != current:
            raise StaleRevision(expected, current)
        write = ConfigWrite(tx)
        yield write
        bumped = await tx.settings.bump_revision()
        write.revision = int(bumped.value) if bumped is not None else current + 1
        if rt.db.dialect == "postgres":
            await tx.settings.notify(channel=CONFIG_CHANNEL, payload=str(write.revision))
    await rt.reload()
    await rt.after_config_write()
