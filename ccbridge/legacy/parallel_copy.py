"""Copy a large SQLite table into PostgreSQL with several processes.

PERF(legacy): one Python process reads, converts, checksums and encodes
a request log row in about 13 µs, more than twice what the PostgreSQL
server spends storing it, so a one-process copy keeps one core busy and
leaves the rest idle. Here the table is split into rowid ranges, more
ranges than processes so that an uneven one does not hold the others
up. Each worker process copies a range at a time exactly as the
one-process copy does (``batches.copy_batches``: same batches, each
committed on its own, same checksum) over a connection of its own; the
parent sums the checksums and shows the progress of all of them.

Workers are spawned, not forked: the parent runs threads (the SQLite
readers, the event loop's executor). Each range is read in a snapshot
of its own, so, as for any dbmigrate run, the source must not be
written during the copy. When a range fails or the copy is interrupted
(Ctrl-C), every worker stops after its batch in flight and the one
error is reported. Workers exit with their parent, even one killed
outright: a batch in flight then rolls back, as in a killed one-process
copy.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Final, NamedTuple

from ccbridge.db.postgres import PostgresDatabase
from ccbridge.db.sqlite import SqliteDatabase
from ccbridge.errors import StorageError
from ccbridge.legacy.batches import copy_batches
from ccbridge.legacy.checksum import TableChecksum
from ccbridge.legacy.progress import Progress
from ccbridge.legacy.row_readers import RowidRange, rowid_bounds, sqlite_rows
from ccbridge.legacy.row_writers import table_writer
from ccbridge.legacy.table_layout import layout

__all__ = ("copy_in_parallel", "split")

_RANGES_PER_JOB: Final = 4
_PROGRESS_EVERY_S: Final = 0.1


class _Shared(NamedTuple):
    """What the parent and its workers share."""

    copied: Synchronized[int]  # rows written by every worker
    stop: EventType  # set: workers give up after their batch in flight


@dataclass(frozen=True, slots=True)
class _Range:
    """One worker task: copy the rows of ``rowids`` (picklable)."""

    path: Path
    conninfo: str
    table: str
    rowids: RowidRange
    fresh: bool
    batch_size: int


async def copy_in_parallel(
    source: SqliteDatabase,
    target: PostgresDatabase,
    table: str,
    *,
    fresh: bool,
    batch_size: int,
    jobs: int,
    progress: Progress,
) -> TableChecksum:
    """Copy ``table`` in ``jobs`` processes; return the checksum of its rows.

    ``fresh``: the table was empty when the copy began (rows go straight
    in; otherwise existing keys are skipped).

    Raises:
        StorageError: A range failed (ranges already copied stay; a
            re-run skips them).
    """
    bounds = await asyncio.to_thread(rowid_bounds, source.path, layout(table))
    checksum = TableChecksum()
    if bounds is None:
        return checksum
    ranges = [
        _Range(source.path, target.conninfo, table, rowids, fresh, batch_size)
        for rowids in split(bounds, jobs * _RANGES_PER_JOB)
    ]
    context = multiprocessing.get_context("spawn")
    shared = _Shared(context.Value("q", 0), context.Event())
    pool = ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker, initargs=(shared,)
    )
    loop = asyncio.get_running_loop()
    futures = [loop.run_in_executor(pool, _copy_range, r) for r in ranges]
    try:
        await _collect(futures, checksum, shared, progress)
    finally:
        shared.stop.set()  # after a failure or an interrupt: the rest is moot
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
        _settle(futures)
    return checksum


async def _collect(
    futures: list[asyncio.Future[TableChecksum]],
    checksum: TableChecksum,
    shared: _Shared,
    progress: Progress,
) -> None:
    """Fold in each range's checksum as it comes; show the rows copied."""
    pending, shown = set(futures), 0
    while pending:
        done, pending = await asyncio.wait(
            pending, timeout=_PROGRESS_EVERY_S, return_when=asyncio.FIRST_EXCEPTION
        )
        for future in done:
            checksum.merge(future.result())  # the first failure raises
        now = shared.copied.value
        progress.advance(now - shown)
        shown = now


def _settle(futures: list[asyncio.Future[TableChecksum]]) -> None:
    """Drop what is left: one failure is reported, not one per range."""
    for future in futures:
        if not future.cancel() and not future.cancelled():
            future.exception()  # marks it retrieved (None for a result)


def split(bounds: RowidRange, parts: int) -> list[RowidRange]:
    """Cut the rowids ``bounds`` into at most ``parts`` ranges of equal width."""
    low, high = bounds
    width = -(-(high - low + 1) // parts)
    return [(start, min(start + width - 1, high)) for start in range(low, high + 1, width)]


# -- in a worker process ---------------------------------------------------------------------

_shared: _Shared | None = None


def _start_worker(shared: _Shared) -> None:
    global _shared
    _shared = shared
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()


def _exit_with_parent() -> None:
    # A worker blocked on the pool's task queue would outlive a killed
    # parent for good (it holds that pipe's write end itself).
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)


def _copy_range(task: _Range) -> TableChecksum:
    return asyncio.run(_copy(task))


async def _copy(task: _Range) -> TableChecksum:
    assert _shared is not None
    shared, lay = _shared, layout(task.table)

    def advance(rows: int) -> None:
        with shared.copied.get_lock():
            shared.copied.value += rows
        if shared.stop.is_set():
            raise StorageError(f"{task.table}.copy", "stopped")

    advance(0)  # a range still queued when the copy stopped is not begun
    async with (
        PostgresDatabase(task.conninfo, min_size=1, max_size=1) as target,
        table_writer(target, lay, fresh=task.fresh, upsert=False) as write,
    ):
        rows = sqlite_rows(task.path, lay, task.batch_size, task.rowids)
        return await copy_batches(rows, write, lay, advance)
