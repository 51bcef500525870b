"""Coarse deadlines for the request path: one sweep instead of a timer per call.

`asyncio.timeout` arms a loop timer each time; on uvloop arming and
cancelling one costs about 4 µs, and every proxied request used two (the
response headers, the body). The proxy's deadlines are seconds long, so a
sweep every `tick` that cancels the tasks past their deadline is precise
enough, and a use costs a dict insert and delete.

Semantics follow `asyncio.timeout`: an expired scope cancels its task and
turns the resulting CancelledError into TimeoutError at its exit, unless
someone else cancelled the task too (then the cancellation propagates).
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Final, Protocol

__all__ = ("DEFAULT_TICK", "Deadlines", "Expiring")

DEFAULT_TICK: Final = 0.05  # seconds: how late a deadline may fire


class Expiring(Protocol):
    """Anything the sweep can expire: it calls ``expire()`` once it is due."""

    def expire(self) -> None: ...


class Deadlines:
    """Deadlines of one event loop; `start` and `stop` its sweep."""

    def __init__(self, tick: float = DEFAULT_TICK) -> None:
        self._tick = tick
        self._live: dict[Expiring, float] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Start sweeping on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._sweeper = asyncio.create_task(self._sweep(), name="ccbridge-deadlines")

    async def stop(self) -> None:
        """Stop sweeping; scopes still open no longer expire."""
        sweeper, self._sweeper = self._sweeper, None
        self._loop = None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    def within(self, seconds: float) -> _Scope:
        """Return a ``with`` scope raising TimeoutError after ``seconds``.

        Without a running sweep (not started), the scope never expires.
        """
        return _Scope(self, seconds)

    def schedule(self, item: Expiring, seconds: float) -> None:
        """Have the sweep call ``item.expire()`` once ``seconds`` from now.

        The item takes itself out with :meth:`cancel`, also from ``expire``.
        """
        loop = self._loop or asyncio.get_running_loop()
        self._live[item] = loop.time() + seconds

    def cancel(self, item: Expiring) -> bool:
        """Take ``item`` out of the sweep; return False if it was not in."""
        return self._live.pop(item, None) is not None

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._tick)
            now = loop.time()
            expired = [item for item, at in self._live.items() if at <= now]
            for item in expired:
                item.expire()


class _Scope:
    """One deadline around a block of the current task."""

    __slots__ = ("_cancelling", "_owner", "_seconds", "_task", "expired")

    def __init__(self, owner: Deadlines, seconds: float) -> None:
        self._owner = owner
        self._seconds = seconds
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self.expired = False

    def __enter__(self) -> _Scope:
        owner = self._owner
        loop = owner._loop or asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        self._task = task
        self._cancelling = task.cancelling()
        owner._live[self] = loop.time() + self._seconds
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner._live.pop(self, None)
        if not self.expired:
            return
        assert self._task is not None
        # As asyncio.timeout: ours alone when no other cancel request came in.
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def expire(self) -> None:
        """Cancel the task (called by the sweep once the deadline passed)."""
        if self._owner._live.pop(self, None) is None or self._task is None:
            return
        self.expired = True
        self._task.cancel()
