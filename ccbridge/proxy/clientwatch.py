"""Notice a client that hangs up while its call is served (spec §3.6).

The reference stops at once when the client is gone and logs 499; without
a watch, retries, retry waits and upstream calls would go on for nobody
(the default rules allow 99 retries 20 s apart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

__all__ = ("WATCH_DELAY", "ClientWatch")

Receive = Callable[[], Awaitable[Mapping[str, Any]]]

# PERF(proxy): the watch starts this late; a call answered sooner (most
# calls to a fast upstream) never pays for the task. A hang-up is noticed
# at most this much later.
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

    __slots__ = ("_handle", "_receive", "_target", "_task", "_upstream", "gone")

    def __init__(self, receive: Receive, delay: float = WATCH_DELAY) -> None:
        self.gone = False
        self._receive = receive
        self._target = asyncio.current_task()
        self._upstream: _Closable | None = None
        self._task: asyncio.Task[None] | None = None
        self._handle: asyncio.Handle | None = asyncio.get_running_loop().call_later(
            delay, self._start
        )

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
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _start(self) -> None:
        self._handle = None
        self._task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while (await self._receive()).get("type") != "http.disconnect":
            pass
        self.gone = True
        if self._upstream is not None:
            self._upstream.close()
        elif self._target is not None:
            self._target.cancel()
