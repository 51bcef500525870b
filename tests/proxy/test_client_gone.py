"""A client that hangs up stops its call and is logged 499 (spec §3.6, §3.10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from urllib.parse import urlsplit

from tests.fakes.upstream import anthropic_error, messages_json_reply
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory
from tests.waiting import until

MODEL = "claude-haiku-4-5"
PROMPT = [{"role": "user", "content": "hello"}]


async def _post_and_hang_up(
    gateway: Running, hang_up_when: Callable[[], bool], then_wait: float = 0.0
) -> None:
    """Send a non-stream request on a raw connection; close it once hang_up_when()."""
    payload = json.dumps({"model": MODEL, "max_tokens": 8, "messages": PROMPT}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", urlsplit(gateway.url).port)
    writer.write(
        b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        + f"x-api-key: {MASTER_KEY}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()
    await until(hang_up_when)
    await asyncio.sleep(then_wait)
    writer.close()
    await writer.wait_closed()


async def _settled_rows(gateway: Running) -> list[tuple[str, int]]:
    for _ in range(300):
        rows = await gateway.logs()
        if rows and all(row.status != "pending" for row in rows):
            return [(row.status, row.http_status) for row in rows]
        await asyncio.sleep(0.01)
    raise AssertionError("a row stayed pending")


async def test_hang_up_during_retry_waits_stops_the_retries(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    retry = {"action": "retry", "waitSeconds": 1, "maxAttempts": 99}
    await gateway.set_failover([{"errorCodes": "503", "actionChain": [retry]}])
    up = await upstreams(default=anthropic_error(503, "api_error", "down"))
    channel = await gateway.add_channel(
        "messages", "down", up.url, ["sk-ant-down"], quota_type="requests", quota_limit=10
    )

    # The 503 comes at once: 0.3 s later the call waits to retry.
    await _post_and_hang_up(gateway, lambda: len(up.requests) == 1, then_wait=0.3)

    await asyncio.sleep(1.2)  # past the wait: a retry, were the call still going
    assert len(up.requests) == 1
    assert await _settled_rows(gateway) == [("retry_wait", 503), ("error", 499)]
    assert (await gateway.logs())[-1].error == "client disconnected"
    assert await gateway.usage(channel.channel_id) is None


async def test_hang_up_while_the_upstream_answers_is_499(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(messages_json_reply(delay=1.0))
    channel = await gateway.add_channel(
        "messages", "slow", up.url, ["sk-ant-slow"], quota_type="requests", quota_limit=10
    )

    await _post_and_hang_up(gateway, lambda: len(up.requests) == 1)

    assert await _settled_rows(gateway) == [("error", 499)]
    (row,) = await gateway.logs()
    assert row.duration_ms < 900  # stopped, not waited out: the reply takes 1 s
    assert await gateway.usage(channel.channel_id) is None
