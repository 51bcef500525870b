"""Swept deadlines behave like asyncio.timeout, within one tick."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from ccbridge.upstream.deadlines import Deadlines

TICK = 0.01


@pytest.fixture
async def deadlines() -> AsyncIterator[Deadlines]:
    d = Deadlines(tick=TICK)
    await d.start()
    yield d
    await d.stop()


async def test_a_late_block_raises_timeout_error_after_its_deadline(deadlines: Deadlines) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        with deadlines.within(0.05):
            await asyncio.sleep(10)
    assert 0.05 <= time.monotonic() - started < 0.05 + 10 * TICK
    # The task is usable afterwards: no cancel request is left behind.
    await asyncio.sleep(0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_block_in_time_is_untouched(deadlines: Deadlines) -> None:
    with deadlines.within(5) as scope:
        await asyncio.sleep(2 * TICK)
    assert not scope.expired
    await asyncio.sleep(3 * TICK)  # a sweep after the exit cancels nothing
    assert not deadlines._live


async def test_an_outside_cancel_propagates_as_cancellation(deadlines: Deadlines) -> None:
    async def body() -> None:
        with deadlines.within(0.02):
            await asyncio.sleep(10)

    task = asyncio.create_task(body())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_by_both_the_deadline_and_an_outsider_stays_cancelled(
    deadlines: Deadlines,
) -> None:
    scopes = []

    async def body() -> None:
        with deadlines.within(5) as scope:
            scopes.append(scope)
            await asyncio.sleep(10)

    task = asyncio.create_task(body())
    await asyncio.sleep(0)
    scopes[0].expire()  # what the sweep does at the deadline...
    task.cancel()  # ...and an outsider in the same loop turn
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nested_scopes_expire_the_inner_one_only(deadlines: Deadlines) -> None:
    with deadlines.within(5) as outer:
        with pytest.raises(TimeoutError):
            with deadlines.within(0.02):
                await asyncio.sleep(10)
        await asyncio.sleep(2 * TICK)
    assert not outer.expired


async def test_without_a_sweep_nothing_expires() -> None:
    idle = Deadlines(tick=TICK)
    with idle.within(0) as scope:
        await asyncio.sleep(3 * TICK)
    assert not scope.expired


class _Item:
    def __init__(self, deadlines: Deadlines) -> None:
        self.deadlines = deadlines
        self.expired = 0

    def expire(self) -> None:
        if self.deadlines.cancel(self):
            self.expired += 1


async def test_a_scheduled_item_expires_once_unless_cancelled(deadlines: Deadlines) -> None:
    due, cancelled = _Item(deadlines), _Item(deadlines)
    deadlines.schedule(due, 2 * TICK)
    deadlines.schedule(cancelled, 2 * TICK)
    assert deadlines.cancel(cancelled)
    await asyncio.sleep(TICK / 2)
    assert due.expired == 0  # not due yet
    await asyncio.sleep(6 * TICK)
    assert (due.expired, cancelled.expired) == (1, 0)
    assert not deadlines.cancel(due)  # it took itself out
