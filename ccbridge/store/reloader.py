"""Keep this instance's view of shared state fresh.

Every CONFIG_POLL_INTERVAL seconds: reload the config snapshot when the
revision moved, and refresh suspensions and quota usage written by other
instances. Every minute: settle stale pending log rows, drop expired
suspensions, reset quotas whose period ended, sweep in-memory state.
Every hour: expire debug logs. At start: count rows no rollup holds yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from ccbridge import metrics
from ccbridge.db.base import Database
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.store import rollupdb
from ccbridge.store.budgets import EPOCH, SPEND_CHANNEL, BudgetBook
from ccbridge.store.configwrite import CONFIG_CHANNEL
from ccbridge.store.history import HistoryRetention, prune_history
from ccbridge.store.live import LiveConfig
from ccbridge.store.loader import load_snapshot, read_revision
from ccbridge.store.logevents import LOG_EVENTS_CHANNEL
from ccbridge.store.logmaint import expire_debug_logs
from ccbridge.store.quota import QuotaBook
from ccbridge.store.suspensions import Suspensions
from ccbridge.store.writer import Writer
from generated.dao import Daos

__all__ = ("Reloader", "STALE_PENDING")

log = logging.getLogger("ccbridge.reloader")

STALE_PENDING = timedelta(seconds=300)
_MAINTENANCE_EVERY = 60.0
_DEBUG_EXPIRY_EVERY = 3600.0


class Reloader:
    """Background refresh of config, suspensions, usage and maintenance."""

    def __init__(
        self,
        db: Database,
        live: LiveConfig,
        writer: Writer,
        quota: QuotaBook,
        suspensions: Suspensions,
        budgets: BudgetBook,
        *,
        sweeps: Iterable[Callable[[], object]] = (),
        poll_interval: float = 5.0,
        history: HistoryRetention | None = None,
    ) -> None:
        self.db = db
        self.live = live
        self.writer = writer
        self.quota = quota
        self.suspensions = suspensions
        self.budgets = budgets
        self._sweeps = tuple(sweeps)  # periodic clean-up of in-memory state
        self._poll_interval = poll_interval
        self._history = history  # config history retention, applied by maintain()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self.reloads = 0
        metrics.config_loaded(live.snapshot.revision, reload=False)
        # NOTIFY channel -> handler of its payload (config is handled here).
        self.handlers: dict[str, Callable[[str], object]] = {
            LOG_EVENTS_CHANNEL: writer.events.receive_remote,
            SPEND_CHANNEL: budgets.receive_remote,
        }
        self._debug_expired_at: float | None = None

    async def start(self) -> None:
        """Refresh once now, then keep refreshing in the background."""
        await self.refresh()
        if await rollupdb.rebuild_if_missing(self.db):
            log.info("request log rollups rebuilt from the stored rows")
        await self.maintain()
        self._tasks.append(asyncio.create_task(self._run(), name="ccbridge-reloader"))
        if isinstance(self.db, PostgresDatabase):  # NOTIFY is PostgreSQL only
            self._tasks.append(asyncio.create_task(self._listen(self.db), name="ccbridge-listener"))

    async def stop(self) -> None:
        """Stop refreshing."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def refresh(self) -> None:
        """Reload what other instances may have changed.

        One refresh at a time: a config write's own reload, a NOTIFY and the
        poll can overlap, and a slower load of an older revision must never
        replace a newer snapshot.
        """
        async with self._lock:
            await self._refresh()

    async def reload(self) -> int:
        """Load the config from the database now, even at an unchanged revision.

        Returns:
            The revision now in force.
        """
        async with self._lock:
            self.live.swap(await load_snapshot(self.db))
            self.reloads += 1
            metrics.config_loaded(self.live.snapshot.revision, reload=True)
            log.info("config revision %d reloaded on request", self.live.snapshot.revision)
        return self.live.snapshot.revision

    async def _refresh(self) -> None:
        daos, writer = self.db.daos, self.writer
        if await read_revision(self.db) != self.live.snapshot.revision:
            self.live.swap(await load_snapshot(self.db))
            self.reloads += 1
            metrics.config_loaded(self.live.snapshot.revision, reload=True)
            log.info("config revision %d loaded", self.live.snapshot.revision)
        # With flushes held off, the database plus the writer's queue is
        # everything: a suspension or increment made here is never dropped.
        async with writer.paused():
            suspensions = await daos.channel_suspensions.list()
            self.suspensions.load([*suspensions, *writer.unwritten_suspensions()])
            self.quota.load(await daos.channel_usage.list(), writer.unwritten_usage())
            if any(k.has_budget for k in self.live.snapshot.keys_by_hash.values()):
                now = datetime.now(UTC)
                spend = await daos.key_spend.since(since=self.budgets.since(now), epoch=EPOCH)
                self.budgets.load(spend, writer.unwritten_spend())

    async def maintain(self) -> None:
        """Run the once-a-minute housekeeping."""
        daos, quota = self.db.daos, self.quota
        now = datetime.now(UTC)
        settled = await daos.request_logs.settle_stale_pending(cutoff=now - STALE_PENDING, now=now)
        if settled:
            log.info("%d log row(s) pending for over %s marked timeout", settled, STALE_PENDING)
        await daos.channel_suspensions.delete_expired(now=now)
        for channel in self.live.snapshot.channels_by_uid.values():
            start = quota.due_reset(channel, now)
            if start is not None:
                await daos.channel_usage.reset(channel_uid=channel.uid, now=now, before=start)
                quota.reset_local(channel.uid, now)
        for sweep in self._sweeps:
            sweep()
        if self._history is not None:
            await prune_history(daos, self._history, now)
        await self._expire_debug_logs(now)

    async def _expire_debug_logs(self, now: datetime) -> None:
        """Apply the debug-log retention settings, at most once an hour."""
        clock = time.monotonic()
        if (
            self._debug_expired_at is not None
            and clock - self._debug_expired_at < _DEBUG_EXPIRY_EVERY
        ):
            return
        self._debug_expired_at = clock
        done = await expire_debug_logs(self.db.daos, self.live.snapshot.debug_log, now)
        if done.stripped or done.deleted:
            log.info("debug logs: %d bodies dropped, %d rows deleted", done.stripped, done.deleted)

    async def _listen(self, db: PostgresDatabase) -> None:
        """Reload on NOTIFY from other instances (PostgreSQL), reconnecting."""
        backoff = 1.0
        while True:
            try:
                async for channel, payload in db.notifications(_subscribe):
                    backoff = 1.0
                    if channel == CONFIG_CHANNEL:
                        await self.refresh()
                    elif channel in self.handlers:
                        self.handlers[channel](payload)
            except Exception as ex:  # reconnect; polling covers the gap
                log.warning("config listener lost its connection, retrying: %s", ex)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def _run(self) -> None:
        interval = self._poll_interval
        since_maintenance = 0.0
        while True:
            await asyncio.sleep(interval)
            since_maintenance += interval
            try:
                await self.refresh()
                if since_maintenance >= _MAINTENANCE_EVERY:
                    since_maintenance = 0.0
                    await self.maintain()
            except Exception as ex:  # the database may be briefly away; keep serving
                log.warning("refresh failed, keeping the current config: %s", ex)


async def _subscribe(daos: Daos) -> None:
    await daos.events.listen_config()
    await daos.events.listen_logs()
    await daos.events.listen_spend()
