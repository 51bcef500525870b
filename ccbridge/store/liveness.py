"""Heartbeats of serving processes; settle what a dead one left pending.

Every writer stamps its rows with its instance id. Each instance beats
(`instances.heartbeat_at`) every `beat` seconds and settles, as
``interrupted``, the pending rows of instances whose heartbeat is older
than `dead_after`: the process died (kill -9, OOM, power), so the outcome
of those attempts is unknown. A live instance's rows are never touched,
which is what lets several instances (or workers) share one database. A
clean stop marks its own heartbeat as stopped, so whatever it left
pending is settled by the next check of any instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import UTC, datetime, timedelta

from ccbridge.db.base import Database
from generated.rows import InstancesRow

__all__ = ("Liveness",)

log = logging.getLogger("ccbridge.liveness")

_STOPPED = datetime(1970, 1, 1, tzinfo=UTC)


class Liveness:
    """The heartbeat of this process and the settling of dead ones."""

    def __init__(
        self, db: Database, instance_id: str, *, beat: float = 1.0, dead_after: float = 5.0
    ) -> None:
        self._db = db
        self._beat = beat
        self._dead_after = timedelta(seconds=dead_after)
        now = datetime.now(UTC)
        self._row = InstancesRow(instance_id, socket.gethostname(), os.getpid(), now, now)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register this instance, settle the dead, keep beating."""
        await self.check()
        self._task = asyncio.create_task(self._run(), name="ccbridge-liveness")

    async def stop(self) -> None:
        """Stop beating and mark this instance stopped (after the writer drained)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._row.heartbeat_at = _STOPPED
        try:
            await self._db.daos.instances.upsert(self._row)
        except Exception as ex:  # the heartbeat stops anyway: others settle us later
            log.warning("liveness: could not mark this instance stopped: %s", ex)

    async def check(self) -> int:
        """Beat once and settle dead instances; return the rows settled."""
        now = datetime.now(UTC)
        self._row.heartbeat_at = now
        cutoff = now - self._dead_after
        async with self._db.transaction() as tx:
            await tx.instances.upsert(self._row)
            settled = await tx.request_logs.settle_interrupted(cutoff=cutoff, now=now)
            await tx.instances.delete_dead(cutoff=cutoff)
        if settled:
            log.warning("%d log row(s) of a dead ccbridge process settled as interrupted", settled)
        return settled

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._beat)
            try:
                await self.check()
            except Exception as ex:  # the database may come back
                log.warning("liveness: heartbeat failed: %s", ex)
