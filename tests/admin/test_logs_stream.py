"""GET /api/logs/stream: live created/updated events, locally and across instances."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccbridge.store.logevents import NOTIFY_LIMIT, LogEvents
from tests.admin.conftest import Running, admin_client, start_gateway
from tests.admin.test_logs_support import ask, sdk
from tests.fakes.upstream import messages_json_reply
from tests.proxy.conftest import UpstreamFactory
from tests.waiting import until

ANT_KEY = "sk-ant-logs-stream-0001"


class EventReader:
    """Collect the events of one open /api/logs/stream response."""

    def __init__(self, resp: httpx.Response) -> None:
        self.resp = resp
        self.events: list[dict[str, Any]] = []
        self.comments = 0
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        kind = None
        async for line in self.resp.aiter_lines():
            if line.startswith(":"):
                self.comments += 1
            elif line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data = json.loads(line.split(":", 1)[1])
                assert data["type"] == kind
                self.events.append(data)

    def pairs(self) -> list[tuple[str, str]]:
        """Return (type, log_id) of every event so far."""
        return [(e["type"], e["log_id"]) for e in self.events]

    async def close(self) -> None:
        """Stop reading."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _open(client: httpx.AsyncClient, stack: list[Any], **params: Any) -> EventReader:
    ctx = client.stream("GET", "/api/logs/stream", params=params)
    resp = await ctx.__aenter__()
    stack.append(ctx)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    reader = EventReader(resp)
    stack.append(reader)
    return reader


async def _close(stack: list[Any]) -> None:
    for item in reversed(stack):
        if isinstance(item, EventReader):
            await item.close()
        else:
            await item.__aexit__(None, None, None)


@pytest.fixture
async def streams() -> AsyncIterator[list[Any]]:
    """Open stream contexts, closed after the test (before the gateway stops)."""
    stack: list[Any] = []
    yield stack
    await _close(stack)


async def test_stream_reports_created_then_updated_to_every_subscriber(
    gateway: Running, upstreams: UpstreamFactory, streams: list[Any]
) -> None:
    # The upstream answers after 0.4 s, so the pending row is flushed first.
    up = await upstreams(default=messages_json_reply(delay=0.4))
    await gateway.add_channel("messages", "one", up.url, [ANT_KEY])
    events = gateway.rt.writer.events
    async with admin_client(gateway.url) as http:
        readers = [await _open(http, streams, heartbeat=0.3) for _ in range(3)]
        assert events.subscribers == 3
        async with sdk(gateway) as client:
            await ask(client)
        (row,) = await gateway.logs()
        want = [("created", row.id), ("updated", row.id)]
        for reader in readers:
            await until(lambda r=reader: r.pairs() == want)
        assert all(isinstance(e["ts"], int) for e in readers[0].events)
        await until(lambda: readers[0].comments >= 2)  # connected + heartbeat pings
        await _close(streams)
        streams.clear()
        # Gone clients are noticed at the next heartbeat at the latest.
        await until(lambda: events.subscribers == 0, timeout=3)


async def test_stream_needs_admin(gateway: Running) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as http:
        resp = await http.get("/api/logs/stream")
    assert resp.status_code == 401


async def test_log_written_on_one_instance_streams_on_the_other(
    pg_dsn: str, tmp_path: Path, upstreams: UpstreamFactory, streams: list[Any]
) -> None:
    """Cross-instance events travel by PostgreSQL NOTIFY, so PostgreSQL only."""
    a, close_a = await start_gateway("postgres", tmp_path, pg_dsn)
    b, close_b = await start_gateway("postgres", tmp_path, pg_dsn)
    try:
        up = await upstreams(default=messages_json_reply(delay=0.3))
        await a.add_channel("messages", "shared", up.url, [ANT_KEY])
        async with admin_client(a.url) as http_a, admin_client(b.url) as http_b:
            on_a = await _open(http_a, streams, heartbeat=0.5)
            on_b = await _open(http_b, streams, heartbeat=0.5)
            async with sdk(a) as client:
                await ask(client)
            (row,) = await a.logs()
            want = [("created", row.id), ("updated", row.id)]
            await until(lambda: on_b.pairs() == want)
            await until(lambda: on_a.pairs() == want)
            await asyncio.sleep(0.3)  # A's own NOTIFY came back too: not shown twice
            assert on_a.pairs() == want and on_b.pairs() == want
            await _close(streams)
            streams.clear()
    finally:
        await close_b()
        await close_a()


async def test_a_slow_subscriber_is_dropped_not_waited_for() -> None:
    events = LogEvents(queue_limit=5)
    slow, fast = events.subscribe(), events.subscribe()
    events.publish(["a", "b", "c"], [])
    assert len(await fast.next(0)) == 3  # the fast one keeps up; the slow one reads nothing
    started = time.perf_counter()
    events.publish(["d", "e", "f"], [])  # the slow one would hold 6: over its limit
    assert time.perf_counter() - started < 0.01
    assert slow.dropped and not fast.dropped
    assert events.subscribers == 1 and events.dropped == 1
    assert [e.log_id for e in await fast.next(0)] == ["d", "e", "f"]


async def test_subscription_delivers_in_order_and_times_out_empty() -> None:
    events = LogEvents()
    sub = events.subscribe()
    assert await sub.next(0.05) == []
    events.publish(["x"], ["y"], ts=7)
    got = await sub.next(1)
    assert [e.to_json() for e in got] == [
        {"type": "created", "log_id": "x", "ts": 7},
        {"type": "updated", "log_id": "y", "ts": 7},
    ]
    events.unsubscribe(sub)
    assert sub.dropped and await sub.next(1) == []


def test_notify_payloads_stay_under_the_postgres_limit() -> None:
    events = LogEvents()
    created = [f"req_{1773171298745937000 + i}{i % 65536:04x}" for i in range(700)]
    updated = created[:300]
    payloads = events.notify_payloads(created, updated, ts=1773171298)
    assert len(payloads) > 2
    assert all(len(p.encode()) < min(NOTIFY_LIMIT + 1, 8000) for p in payloads)
    bodies = [json.loads(p) for p in payloads]
    assert [i for b in bodies for i in b["created"]] == created
    assert [i for b in bodies for i in b["updated"]] == updated
    assert {b["src"] for b in bodies} == {events.origin}
    assert events.notify_payloads([], [], ts=1) == []


async def test_remote_payloads_are_published_and_own_ones_skipped() -> None:
    mine, other = LogEvents(), LogEvents()
    sub = mine.subscribe()
    for payload in mine.notify_payloads(["own"], [], ts=1):
        mine.receive_remote(payload)
    for payload in other.notify_payloads(["r1"], ["r2"], ts=2):
        mine.receive_remote(payload)
    mine.receive_remote(json.dumps({"type": "updated", "log_id": "go-1", "ts": 3}))  # reference
    mine.receive_remote("not json")
    got = [(e.type, e.log_id) for e in await sub.next(1)]
    assert got == [("created", "r1"), ("updated", "r2"), ("updated", "go-1")]
