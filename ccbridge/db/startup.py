"""Open the database at startup, trying again while it is not reachable yet.

A container that starts beside its PostgreSQL (compose, Kubernetes) often
starts first; DATABASE_STARTUP_RETRIES further tries,
DATABASE_STARTUP_RETRY_DELAY_SECONDS apart, each failure logged in one line
that says which try it was and when the next comes.
"""

from __future__ import annotations

import asyncio
import logging

from ccbridge.db.base import Database
from ccbridge.errors import StorageError

__all__ = ("open_with_retries",)

log = logging.getLogger("ccbridge")


async def open_with_retries(db: Database, retries: int, delay: float) -> None:
    """Open ``db``; on failure try ``retries`` more times, ``delay`` seconds apart.

    Raises:
        StorageError: The last try failed (OSError for a local file).
    """
    tries = retries + 1
    for attempt in range(1, tries + 1):
        try:
            await db.open()
        except (StorageError, OSError) as ex:
            reason = (str(ex).strip().splitlines() or [type(ex).__name__])[0]
            if attempt == tries:
                if tries > 1:  # without retries the start failure says it all
                    log.error(
                        "database: try %d of %d failed, giving up: %s", attempt, tries, reason
                    )
                raise
            log.warning(
                "database: try %d of %d failed, next in %gs: %s", attempt, tries, delay, reason
            )
            await asyncio.sleep(delay)
        else:
            if attempt > 1:
                log.info("database: reached on try %d of %d", attempt, tries)
            return
