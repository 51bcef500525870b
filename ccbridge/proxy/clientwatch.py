"""Notice a client that hangs up while its call is served (spec §3.6).

The reference stops at once when the client is gone and logs 499; without
a watch, retries, retry waits and upstream calls would go on for nobody
(the default rules allow 99 retries 20 s apart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

from ccbridge.upstream.deadlines import Deadlines

__all__ = ("WATCH_DELAY", "ClientWatch")

Receive = Callable[[], Awaitable[Mapping[str, Any]]]

# PERF(proxy): the watch starts this late, from the deadlines' sweep: a
# call answered sooner (most calls to a fast upstream) never pays for the
# task, and a sweep entry is a dict insert where a loop timer armed and
# cancelled per call measured 11k instructions more per request. A
# hang-up is noticed at most a sweep tick later.
WATCH_DELAY: Final = 0.05


class _Closable(Protocol):
    def close(self) -> None: ...


class ClientWatch:
    """Watch ASGI ``receive`` for ``http.disconnect`` during one call.

    Until the answer starts it cancels the serving task, so every await
    of the attempt loop stops there; once a stream is relayed
    (:meth:`follow`) it closes the upstream response instead, which ends
    the relay. ``gone`` tells the two cancellations apart.
    """

    __slots__ = ("_deadlines", "_receive", "_target", "_task", "_upstream", "gone")

    def __init__(self, receive: Receive, deadlines: Deadlines, delay: float = WATCH_DELAY) -> None:
        self.gone = False
        self._receive = receive
        self._deadlines = deadlines
        self._target = asyncio.current_task()
        self._upstream: _Closable | None = None
        self._task: asyncio.Task[None] | None = None
        deadlines.schedule(self, delay)

    @property
    def following(self) -> bool:
        """Return True once a relayed stream owns the watch (it stops it)."""
        return self._upstream is not None

    def follow(self, upstream: _Closable) -> None:
        """From now on a hang-up closes ``upstream`` (a relayed stream)."""
        self._upstream = upstream

    def uncancel(self) -> None:
        """Take back the cancellation this watch sent to the serving task."""
        if self._target is not None:
            self._target.uncancel()

    def stop(self) -> None:
        """Stop watching (the call is answered)."""
        self._deadlines.cancel(self)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def expire(self) -> None:
        """Start watching (called by the deadlines' sweep)."""
        if self._deadlines.cancel(self):
            self._task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while (await self._receive()).get("type") != "http.disconnect":
            pass
        self.gone = True
        if self._upstream is not None:
            self._upstream.close()
        elif self._target is not None:
            self._target.cancel()
