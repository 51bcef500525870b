"""Copy or checksum a large table with several processes.

PERF(legacy): one Python process reads, converts, checksums and encodes
a request log row in about 13 µs, more than twice what the PostgreSQL
server spends storing it, so a one-process copy keeps one core busy and
leaves the rest idle. Here the table is split into ranges of parts
(rowids on SQLite, heap blocks on PostgreSQL: ``row_readers``), more
ranges than processes so that an uneven one does not hold the others
up. Each worker process takes a range at a time and reads it exactly as
the one-process copy reads the table (``batches.copy_batches``: same
batches, each committed on its own, same checksum), copying it into
PostgreSQL over a connection of its own or only checksumming it (the
final verification); the parent sums the checksums and shows the
progress of all of them.

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
from typing import Final, NamedTuple

from ccbridge.db.base import Database
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.db.sqlite import SqliteDatabase
from ccbridge.errors import StorageError
from ccbridge.legacy.batches import copy_batches
from ccbridge.legacy.checksum import TableChecksum
from ccbridge.legacy.progress import Progress
from ccbridge.legacy.row_readers import RowRange, table_rows
from ccbridge.legacy.row_writers import table_writer
from ccbridge.legacy.table_layout import layout
from ccbridge.legacy.targets import Target

__all__ = ("checksum_in_parallel", "copy_in_parallel", "split")

_RANGES_PER_JOB: Final = 4
_PROGRESS_EVERY_S: Final = 0.1


class _Shared(NamedTuple):
    """What the parent and its workers share."""

    done: Synchronized[int]  # rows read by every worker
    stop: EventType  # set: workers give up after their batch in flight


@dataclass(frozen=True, slots=True)
class _Range:
    """One worker task (picklable).

    Attributes:
        source: Where the table is read.
        target: PostgreSQL conninfo to copy into; None only checksums.
        table: The table.
        parts: The range of rows: rowids or heap blocks.
        fresh: The target table was empty when the copy began (rows go
            straight in; otherwise existing keys are skipped).
        batch_size: Rows per batch (and per transaction).
    """

    source: Target
    target: str | None
    table: str
    parts: RowRange
    fresh: bool
    batch_size: int


async def copy_in_parallel(
    source: Database,
    target: PostgresDatabase,
    table: str,
    bounds: RowRange,
    *,
    fresh: bool,
    batch_size: int,
    jobs: int,
    progress: Progress,
) -> TableChecksum:
    """Copy the rows of ``table`` within ``bounds`` in ``jobs`` processes.

    Returns the checksum of the rows copied. ``bounds`` come from
    ``row_bounds``; ``fresh`` as for :class:`_Range`.

    Raises:
        StorageError: A range failed (ranges already copied stay; a
            re-run skips them).
    """
    tasks = _ranges(_where(source), target.conninfo, table, bounds, fresh, batch_size, jobs)
    return await _run(tasks, jobs, progress)


async def checksum_in_parallel(
    db: Database, table: str, bounds: RowRange, *, batch_size: int, jobs: int, progress: Progress
) -> TableChecksum:
    """Return the checksum of the rows of ``table`` within ``bounds``.

    Raises:
        StorageError: A range could not be read.
    """
    return await _run(
        _ranges(_where(db), None, table, bounds, False, batch_size, jobs), jobs, progress
    )


def split(bounds: RowRange, parts: int) -> list[RowRange]:
    """Cut ``bounds`` into at most ``parts`` ranges of equal width."""
    low, high = bounds
    width = -(-(high - low + 1) // parts)
    return [(start, min(start + width - 1, high)) for start in range(low, high + 1, width)]


def _where(db: Database) -> Target:
    if isinstance(db, SqliteDatabase):
        return Target("sqlite", str(db.path))
    assert isinstance(db, PostgresDatabase)
    return Target("postgres", db.conninfo)


def _ranges(
    source: Target,
    target: str | None,
    table: str,
    bounds: RowRange,
    fresh: bool,
    batch_size: int,
    jobs: int,
) -> list[_Range]:
    return [
        _Range(source, target, table, parts, fresh, batch_size)
        for parts in split(bounds, jobs * _RANGES_PER_JOB)
    ]


async def _run(tasks: list[_Range], jobs: int, progress: Progress) -> TableChecksum:
    """Run ``tasks`` in ``jobs`` worker processes; sum their checksums."""
    context = multiprocessing.get_context("spawn")
    shared = _Shared(context.Value("q", 0), context.Event())
    pool = ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker, initargs=(shared,)
    )
    loop = asyncio.get_running_loop()
    futures = [loop.run_in_executor(pool, _run_range, task) for task in tasks]
    try:
        return await _collect(futures, shared, progress)
    finally:
        shared.stop.set()  # after a failure or an interrupt: the rest is moot
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
        _settle(futures)


async def _collect(
    futures: list[asyncio.Future[TableChecksum]], shared: _Shared, progress: Progress
) -> TableChecksum:
    """Fold in each range's checksum as it comes; show the rows done."""
    checksum, pending, shown = TableChecksum(), set(futures), 0
    while pending:
        done, pending = await asyncio.wait(
            pending, timeout=_PROGRESS_EVERY_S, return_when=asyncio.FIRST_EXCEPTION
        )
        for future in done:
            checksum.merge(future.result())  # the first failure raises
        now = shared.done.value
        progress.advance(now - shown)
        shown = now
    return checksum


def _settle(futures: list[asyncio.Future[TableChecksum]]) -> None:
    """Drop what is left: one failure is reported, not one per range."""
    for future in futures:
        if not future.cancel() and not future.cancelled():
            future.exception()  # marks it retrieved (None for a result)


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


def _run_range(task: _Range) -> TableChecksum:
    return asyncio.run(_range(task))


async def _range(task: _Range) -> TableChecksum:
    assert _shared is not None
    shared, lay = _shared, layout(task.table)

    def advance(rows: int) -> None:
        with shared.done.get_lock():
            shared.done.value += rows
        if shared.stop.is_set():
            raise StorageError(f"{task.table}.copy", "stopped")

    advance(0)  # a range still queued when the copy stopped is not begun
    async with task.source.database() as source:
        rows = table_rows(source, lay, task.batch_size, task.parts)
        if task.target is None:
            return await copy_batches(rows, None, lay, advance)
        async with (
            PostgresDatabase(task.target, min_size=1, max_size=1) as target,
            table_writer(target, lay, fresh=task.fresh, upsert=False) as write,
        ):
            return await copy_batches(rows, write, lay, advance)
