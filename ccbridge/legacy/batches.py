"""The batch loop of a copy: read ahead, checksum, encode, write.

Shared by the one-process copy of a table, each worker of a parallel
one (``parallel_copy``) and the final verification, so all of them
encode and checksum alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

from ccbridge.legacy.checksum import TableChecksum
from ccbridge.legacy.pg_binary import BinaryRows
from ccbridge.legacy.row_writers import Write
from ccbridge.legacy.table_layout import Layout

__all__ = ("copy_batches", "prefetched")


async def copy_batches(
    batches: AsyncGenerator[list[Any], None],
    write: Write | None,
    layout: Layout,
    advance: Callable[[int], None],
) -> TableChecksum:
    """Write every batch (each commits on its own); return their checksum.

    ``write`` None only checksums. ``advance`` is told the size of each
    batch once it is written.
    """
    checksum, encoder = TableChecksum(), BinaryRows(layout)
    async with aclosing(prefetched(batches)) as ahead:
        async for rows in ahead:
            data, ends = encoder.encode(rows)
            checksum.add(data, ends)
            if write is not None:
                await write(rows, data)
            advance(len(rows))
    return checksum


async def prefetched(
    pages: AsyncGenerator[list[Any], None],
) -> AsyncGenerator[list[Any], None]:
    """Read the next batch in a task while the caller works on this one.

    PERF(legacy): the source's reads (an SQLite read runs in a thread)
    overlap the target's writes and the PostgreSQL server's work,
    instead of alternating with them.
    """
    queue: asyncio.Queue[list[Any] | None] = asyncio.Queue(maxsize=1)

    async def produce() -> None:
        async with aclosing(pages) as source:
            async for page in source:
                await queue.put(page)
        await queue.put(None)

    task = asyncio.create_task(produce())
    try:
        while (page := await _next_page(queue, task)) is not None:
            yield page
        await task
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _next_page(
    queue: asyncio.Queue[list[Any] | None], task: asyncio.Task[None]
) -> list[Any] | None:
    """Wait for a page, or re-raise the producer's failure."""
    getter = asyncio.ensure_future(queue.get())
    done, _ = await asyncio.wait((getter, task), return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()
    getter.cancel()
    task.result()  # raises the reader's error
    return queue.get_nowait() if not queue.empty() else None
