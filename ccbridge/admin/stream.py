"""GET /api/logs/stream: live log events as Server-Sent Events.

Each event is ``event: created|updated`` with ``data: {"type", "log_id",
"ts"}``: the writer's flushes on this instance and, on PostgreSQL, those of
every other instance (NOTIFY). A ``: ping`` comment goes out after
``heartbeat`` idle seconds; Falcon only notices a client that went away
when it sends something, so the heartbeat also bounds how long a gone
client stays subscribed. A subscriber that falls behind is dropped (its
stream ends; EventSource clients reconnect) so the writer never waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import falcon.asgi

from ccbridge.admin.common import AdminError
from ccbridge.store.logevents import LogEvents, Subscription

__all__ = ("DEFAULT_HEARTBEAT", "LogStreamResource")

DEFAULT_HEARTBEAT: Final = 15.0
_HEARTBEAT_RANGE: Final = (0.2, 60.0)


def _heartbeat(req: falcon.asgi.Request) -> float:
    raw = req.get_param("heartbeat")
    if not raw:
        return DEFAULT_HEARTBEAT
    try:
        value = float(raw)
    except ValueError:
        raise AdminError(
            400, "heartbeat must be a number of seconds", "INVALID_PARAMETER"
        ) from None
    low, high = _HEARTBEAT_RANGE
    return min(max(value, low), high)


class LogStreamResource:
    """Stream log created/updated events to one admin client."""

    def __init__(self, events: LogEvents) -> None:
        self.events = events

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Subscribe, then stream until the client goes away or falls behind."""
        heartbeat = _heartbeat(req)
        sub = self.events.subscribe()  # before the response starts: nothing is missed
        resp.set_header("Cache-Control", "no-cache")
        resp.set_header("X-Accel-Buffering", "no")
        resp.sse = self._emit(sub, heartbeat)

    async def _emit(
        self, sub: Subscription, heartbeat: float
    ) -> AsyncIterator[falcon.asgi.SSEvent]:
        try:
            yield falcon.asgi.SSEvent(comment="connected")
            while not sub.dropped:
                events = await sub.next(heartbeat)
                if not events:
                    if not sub.dropped:
                        yield falcon.asgi.SSEvent(comment="ping")
                    continue
                for event in events:
                    yield falcon.asgi.SSEvent(event=event.type, json=event.to_json())
        finally:
            self.events.unsubscribe(sub)
