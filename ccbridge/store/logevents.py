"""Live request-log events: "a log row was created / updated".

The writer publishes the ids of every flush here after its commit; on
PostgreSQL it also sends them to the other instances in the same
transaction (``NOTIFY request_log_events``), and each instance's listener
hands what arrives to `LogEvents.receive_remote`. Subscribers (the SSE
stream) each get a bounded queue: one that falls behind is dropped, so
publishing never waits and never grows without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ("LOG_EVENTS_CHANNEL", "NOTIFY_LIMIT", "LogEvent", "LogEvents", "Subscription")

log = logging.getLogger("ccbridge.logevents")

LOG_EVENTS_CHANNEL: Final = "request_log_events"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; keep a margin.
NOTIFY_LIMIT: Final = 7900
_KINDS: Final = ("created", "updated")


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One change of one log row; ``ts`` is unix seconds."""

    type: str
    log_id: str
    ts: int

    def to_json(self) -> dict[str, Any]:
        """Return the event as the reference shapes it."""
        return {"type": self.type, "log_id": self.log_id, "ts": self.ts}


class Subscription:
    """One listener's bounded queue of events.

    Args:
        limit: Most events held; more makes the subscription `dropped`.
    """

    __slots__ = ("_limit", "_pending", "_ready", "dropped")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pending: deque[LogEvent] = deque()
        self._ready = asyncio.Event()
        self.dropped = False

    def offer(self, events: Sequence[LogEvent]) -> bool:
        """Queue events; False (and dropped) if they do not fit."""
        if self.dropped:
            return False
        if len(self._pending) + len(events) > self._limit:
            self.close()
            return False
        self._pending.extend(events)
        self._ready.set()
        return True

    def close(self) -> None:
        """End the subscription; a waiting `next` returns at once."""
        self.dropped = True
        self._pending.clear()
        self._ready.set()

    async def next(self, timeout: float) -> list[LogEvent]:
        """Return the queued events, waiting up to timeout for one.

        Returns an empty list on timeout or once the subscription is dropped.
        """
        if not self._pending and not self.dropped:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                pass
        self._ready.clear()
        events = list(self._pending)
        self._pending.clear()
        return events


class LogEvents:
    """Fan-out of log events to local subscribers, plus NOTIFY payloads.

    Args:
        queue_limit: Events one subscriber may have waiting.
    """

    def __init__(self, queue_limit: int = 10_000) -> None:
        self.origin = secrets.token_hex(8)  # tells our own NOTIFYs apart
        self.queue_limit = queue_limit
        self.dropped = 0
        self._subscribers: set[Subscription] = set()

    @property
    def subscribers(self) -> int:
        """Return how many subscriptions are live."""
        return len(self._subscribers)

    def subscribe(self) -> Subscription:
        """Start receiving events."""
        sub = Subscription(self.queue_limit)
        self._subscribers.add(sub)
        return sub

    def close_all(self) -> None:
        """End every subscription (shutdown: live streams must not hold it)."""
        for sub in list(self._subscribers):
            self.unsubscribe(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop a subscription (idempotent)."""
        self._subscribers.discard(sub)
        sub.close()

    def publish(
        self, created: Iterable[str], updated: Iterable[str], ts: int | None = None
    ) -> None:
        """Hand created and updated log ids to every subscriber, never waiting."""
        if not self._subscribers:
            return
        stamp = int(time.time()) if ts is None else ts
        events = [LogEvent("created", i, stamp) for i in created]
        events += [LogEvent("updated", i, stamp) for i in updated]
        if not events:
            return
        for sub in list(self._subscribers):
            if not sub.offer(events):
                self._subscribers.discard(sub)
                self.dropped += 1
                log.warning("log stream subscriber fell behind by %d events; dropped", len(events))

    def notify_payloads(self, created: Sequence[str], updated: Sequence[str], ts: int) -> list[str]:
        """Return NOTIFY payloads carrying these ids, each under `NOTIFY_LIMIT` bytes.

        A payload is ``{"src", "ts", "created": [ids], "updated": [ids]}``.
        """
        payloads: list[str] = []
        lists: dict[str, list[str]] = {kind: [] for kind in _KINDS}
        base = len(self._payload(lists, ts).encode())
        size = base
        for kind, ids in zip(_KINDS, (created, updated), strict=True):
            for log_id in ids:
                cost = len(json.dumps(log_id).encode()) + 1
                if size + cost > NOTIFY_LIMIT and size > base:
                    payloads.append(self._payload(lists, ts))
                    lists = {k: [] for k in _KINDS}
                    size = base
                lists[kind].append(log_id)
                size += cost
        if size > base:
            payloads.append(self._payload(lists, ts))
        return payloads

    def _payload(self, lists: dict[str, list[str]], ts: int) -> str:
        body = {"src": self.origin, "ts": ts, **lists}
        return json.dumps(body, separators=(",", ":"))

    def receive_remote(self, payload: str) -> None:
        """Publish what another instance announced (our own NOTIFYs are skipped).

        Accepts the batched payload of `notify_payloads` and the
        reference's single ``{"type", "log_id", "ts"}`` one.
        """
        try:
            data = json.loads(payload)
        except ValueError:
            log.warning("ignoring a request_log_events payload that is not JSON")
            return
        if not isinstance(data, dict) or data.get("src") == self.origin:
            return
        ts = data.get("ts") if isinstance(data.get("ts"), int) else None
        if isinstance(data.get("log_id"), str) and data.get("type") in _KINDS:
            one = [data["log_id"]]
            created, updated = (one, []) if data["type"] == "created" else ([], one)
            self.publish(created, updated, ts)
            return
        self.publish(_ids(data.get("created")), _ids(data.get("updated")), ts)


def _ids(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
