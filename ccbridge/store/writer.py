"""One background writer for everything the request path records.

The request path never awaits the database: it hands over a mutable log
record (again each time its state changes), a usage increment, a key touch
or a suspension, and returns. The writer coalesces what arrived since the
last flush — the latest state of each log row, summed usage per channel,
summed spend per client key and period, the latest use per key — and writes
it in one transaction. The spend totals it reads back go to the budget view
(`on_spend`) and, on PostgreSQL, to the other instances by NOTIFY.

Log rows are written with their rollup deltas (`ccbridge.store.rollup`)
in that transaction; after the commit their ids go to the live log stream
(`events`), and on PostgreSQL to the other instances by NOTIFY. A source
remembers the row last written for it (`written`); for the proxy's own
records (`fresh`: the id was minted for the record, nothing else writes it)
that is the stored state, so the deltas need no read of the database. The
log maintenance only moves pending rows to timeout, which counts nothing
either way.

A full queue applies back-pressure (`submit` then waits) instead of dropping
anything; a failed flush is retried with its items kept; `stop` drains.

Crash window: flushes start every `interval` (0.1 s) counted from the start
of the previous one, so a row finished before a kill -9 is lost only if it
came within one interval plus one flush's duration (250 ms as long as a
flush takes under 150 ms). Rows carry the writer's `instance_id`, so the
pending rows of a process that died are found (`ccbridge.store.liveness`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ccbridge import metrics
from ccbridge.db.base import Database
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.store import rollupdb
from ccbridge.store.budgets import SpendAdd, SpendKey, spend_payloads
from ccbridge.store.logevents import LogEvents
from ccbridge.store.rollup import deltas
from generated.dao import Daos
from generated.rows import (
    ChannelQuotaRow,
    ChannelSuspensionsRow,
    RequestDebugLogsRow,
    RequestLogsRow,
)

__all__ = ("LogSource", "UsageAdd", "Writer")

log = logging.getLogger("ccbridge.writer")


class LogSource(Protocol):
    """Anything that can render its current state as a request_logs row.

    `written` is the row the writer last stored for it (None: not yet),
    set by the writer after the commit. `fresh` says the id was minted for
    this source, so nothing is stored under it before its first write.
    """

    id: str
    written: RequestLogsRow | None
    fresh: bool

    def to_row(self) -> RequestLogsRow: ...


@dataclass(frozen=True, slots=True)
class UsageAdd:
    """Add to a channel's quota usage."""

    channel_uid: str
    channel_id: int
    channel_type: str
    amount: float
    at: datetime


class _Batch:
    """What arrived since the last flush, already coalesced."""

    __slots__ = ("debug", "keys", "logs", "quotas", "size", "spend", "suspensions", "usage")

    def __init__(self) -> None:
        self.logs: dict[str, LogSource] = {}
        self.usage: dict[str, UsageAdd] = {}
        self.keys: dict[int, datetime] = {}
        self.spend: dict[SpendKey, SpendAdd] = {}
        self.suspensions: dict[str, ChannelSuspensionsRow] = {}
        self.quotas: dict[str, ChannelQuotaRow] = {}
        self.debug: list[RequestDebugLogsRow] = []
        self.size = 0


class Writer:
    """Batch and write log rows, usage, key touches and suspensions.

    PERF(store): a flush writes every request in flight as a pending row that
    is written again when it finishes; at 0.1 s between flushes, few short
    requests are written twice, and a log line still shows up at once to a
    human eye.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_pending: int = 20_000,
        interval: float = 0.1,
    ) -> None:
        self._db = db
        self.instance_id = uuid.uuid4().hex  # this process, in the rows it writes
        self._max = max_pending
        self._interval = interval
        self.events = LogEvents()
        self._batch = _Batch()
        self._flushing = asyncio.Lock()
        self._room = asyncio.Condition()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.flushes = 0
        self.failures = 0
        # Told the database totals of the key spend a flush wrote (the budget view).
        self.on_spend: Callable[[dict[SpendKey, int]], None] | None = None

    async def start(self) -> None:
        """Start the flush loop."""
        self._task = asyncio.create_task(self._run(), name="ccbridge-writer")

    async def stop(self, timeout: float = 30.0) -> None:
        """Write everything still pending, then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            log.error(
                "writer: %d item(s) not written at shutdown (database unavailable)",
                self._batch.size,
            )
            self._task.cancel()
        self._task = None

    @property
    def pending(self) -> int:
        """Return how many items wait for the next flush."""
        return self._batch.size

    def paused(self) -> asyncio.Lock:
        """Return the lock that keeps flushes out while it is held.

        Hold it while reading usage or suspensions back from the database:
        what such a read misses is then exactly what `unwritten_usage` and
        `unwritten_suspensions` report.
        """
        return self._flushing

    def unwritten_usage(self) -> list[UsageAdd]:
        """Return the usage increments not written yet."""
        return list(self._batch.usage.values())

    def unwritten_spend(self) -> list[SpendAdd]:
        """Return the key spend increments not written yet."""
        return list(self._batch.spend.values())

    def pending_spend(self, slot: SpendKey) -> int:
        """Return the unwritten spend of one key, kind and period."""
        add = self._batch.spend.get(slot)
        return 0 if add is None else add.amount

    def unwritten_suspensions(self) -> list[ChannelSuspensionsRow]:
        """Return the suspensions not written yet."""
        return list(self._batch.suspensions.values())

    def log(self, record: LogSource) -> Any:
        """Record the current state of a log row (latest state wins)."""
        return self._add(self._batch.logs, record.id, record)

    def usage(self, add: UsageAdd) -> Any:
        """Add quota usage to a channel."""
        current = self._batch.usage.get(add.channel_uid)
        if current is not None:
            add = UsageAdd(
                add.channel_uid,
                add.channel_id,
                add.channel_type,
                current.amount + add.amount,
                add.at,
            )
        return self._add(self._batch.usage, add.channel_uid, add)

    def spend(self, add: SpendAdd) -> Any:
        """Add to a client key's spend."""
        current = self._batch.spend.get(add.slot)
        if current is not None:
            add = SpendAdd(
                add.key_id, add.kind, add.period_start, current.amount + add.amount, add.at
            )
        return self._add(self._batch.spend, add.slot, add)

    def touch_key(self, key_id: int, at: datetime) -> Any:
        """Record that a managed client key was used."""
        return self._add(self._batch.keys, key_id, at)

    def suspend(self, row: ChannelSuspensionsRow) -> Any:
        """Record a channel suspension."""
        return self._add(self._batch.suspensions, row.channel_uid, row)

    def codex_quota(self, row: ChannelQuotaRow) -> Any:
        """Record a channel's Codex quota as an answer reported it (latest wins)."""
        return self._add(self._batch.quotas, row.channel_stable_id, row)

    def debug(self, row: RequestDebugLogsRow) -> Any:
        """Record request/response bodies of a log row."""
        self._batch.debug.append(row)
        return self._grew(True)

    def _add(self, bucket: dict[Any, Any], key: Any, value: Any) -> Any:
        new = key not in bucket
        bucket[key] = value
        return self._grew(new)

    def _grew(self, new: bool) -> Any:
        # PERF(ccbridge): returns None on the fast path so callers need not await;
        # only a full queue hands back an awaitable (back-pressure).
        if new:
            self._batch.size += 1
        if self._batch.size >= self._max // 4:
            self._wake.set()
        if self._batch.size >= self._max:
            return self._wait_for_room()
        return None

    async def _wait_for_room(self) -> None:
        async with self._room:
            await self._room.wait_for(lambda: self._batch.size < self._max)

    async def _run(self) -> None:
        backoff = self._interval
        loop = asyncio.get_running_loop()
        due = loop.time() + self._interval
        while True:
            try:
                # From the last flush's start: a slow flush does not widen the crash window.
                await asyncio.wait_for(self._wake.wait(), max(due - loop.time(), 0.0))
            except TimeoutError:
                pass
            self._wake.clear()
            due = loop.time() + self._interval
            if self._batch.size:
                async with self._flushing:  # taken and written, or merged back, as one step
                    batch, self._batch = self._batch, _Batch()
                    began = time.perf_counter()
                    try:
                        await self._flush(batch)
                        failed: Exception | None = None
                    except Exception as ex:  # keep the items; the database may come back
                        failed = ex
                        self._merge_back(batch)
                    took = time.perf_counter() - began
                metrics.flushed(took, self._batch.size, failed=failed is not None)
                self._pool_metrics()
                if failed is None:
                    backoff = self._interval
                else:
                    self.failures += 1
                    log.warning(
                        "writer: flush of %d item(s) failed, retrying: %s", batch.size, failed
                    )
                    backoff = min(backoff * 2, 5.0)
                    if self._stopping and self.failures > 50:
                        raise failed
                    await asyncio.sleep(backoff)
                async with self._room:
                    self._room.notify_all()
            elif self._stopping:
                return

    def _pool_metrics(self) -> None:
        if isinstance(self._db, PostgresDatabase):
            stats = self._db.pool.get_stats()
            in_use = stats.get("pool_size", 0) - stats.get("pool_available", 0)
            metrics.pool(in_use, stats.get("requests_waiting", 0))

    def _merge_back(self, old: _Batch) -> None:
        # Items that arrived during the failed flush are newer: they win.
        new = self._batch
        for bucket in ("logs", "keys", "suspensions", "quotas"):
            merged = {**getattr(old, bucket), **getattr(new, bucket)}
            setattr(new, bucket, merged)
        for uid, add in old.usage.items():
            cur = new.usage.get(uid)
            new.usage[uid] = (
                add
                if cur is None
                else UsageAdd(
                    uid, cur.channel_id, cur.channel_type, cur.amount + add.amount, cur.at
                )
            )
        for slot, spend in old.spend.items():
            now = new.spend.get(slot)
            new.spend[slot] = (
                spend
                if now is None
                else SpendAdd(
                    spend.key_id, spend.kind, spend.period_start, spend.amount + now.amount, now.at
                )
            )
        new.debug = old.debug + new.debug
        new.size = (
            len(new.logs)
            + len(new.usage)
            + len(new.keys)
            + len(new.spend)
            + len(new.suspensions)
            + len(new.quotas)
            + len(new.debug)
        )

    async def _flush(self, batch: _Batch) -> None:
        sources = list(batch.logs.values())
        rows = [source.to_row() for source in sources]
        for row in rows:
            row.instance_id = self.instance_id
        async with self._db.transaction() as tx:
            created, updated = await self._write_logs(tx, sources, rows)
            for add in batch.usage.values():
                await tx.channel_usage.add(
                    channel_uid=add.channel_uid,
                    channel_id=add.channel_id,
                    channel_type=add.channel_type,
                    amount=add.amount,
                    now=add.at,
                )
            for key_id, at in batch.keys.items():
                await tx.api_keys.touch(id=key_id, at=at)
            totals = {
                slot: await tx.key_spend.add(
                    key_id=add.key_id,
                    kind=add.kind,
                    period_start=add.period_start,
                    amount=add.amount,
                    now=add.at,
                )
                or 0
                for slot, add in batch.spend.items()
            }
            if totals and self._db.dialect == "postgres":  # the others adopt them at once
                for payload in spend_payloads(totals):
                    await tx.events.notify_spend(payload=payload)
            await tx.channel_suspensions.upsert_many(list(batch.suspensions.values()))
            await tx.channel_quota.upsert_many(list(batch.quotas.values()))
            # Debug rows reference their log row, written above in the same transaction.
            await tx.request_debug_logs.upsert_many(batch.debug)
        for source, row in zip(sources, rows, strict=True):
            source.written = row
        self.flushes += 1
        if totals and self.on_spend is not None:
            self.on_spend(totals)
        self.events.publish(created, updated)

    async def _write_logs(
        self, tx: Daos, sources: list[LogSource], rows: list[RequestLogsRow]
    ) -> tuple[list[str], list[str]]:
        """Write log rows and their rollup deltas; return the created and updated ids."""
        if not rows:
            return [], []
        dialect = self._db.dialect
        await rollupdb.lock_rollups(tx, dialect, exclusive=False)
        # What the rows were before this flush: a row is counted once, when final.
        prior = [source.written for source in sources if source.written is not None]
        unknown = [s.id for s in sources if s.written is None and not s.fresh]
        if unknown:
            prior += await tx.request_logs.prior_states(ids=unknown)
        await tx.request_logs.upsert_many(rows)
        await rollupdb.apply_deltas(tx, deltas(prior, rows))
        known = {row.id for row in prior}
        created = [row.id for row in rows if row.id not in known]
        updated = [row.id for row in rows if row.id in known]
        if dialect == "postgres":
            for payload in self.events.notify_payloads(created, updated, int(time.time())):
                await tx.events.notify_logs(payload=payload)
        return created, updated
