"""Request-log rows and their cost arithmetic (spec §3.9, §3.10)."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import anthropic
import pytest

from tests.fakes.upstream import messages_json_reply, messages_sse_reply
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory, claude_client, http_client
from tests.waiting import until

MODEL = "claude-haiku-4-5"
PROMPT = [{"role": "user", "content": "hello"}]
LEGACY_USER = "user_4f1c9a_account__session_0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"
TOKENS = {
    "input_tokens": 1000,
    "output_tokens": 200,
    "cache_creation_input_tokens": 4000,
    "cache_read_input_tokens": 20000,
}


async def test_cost_uses_price_and_channel_multipliers(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    # No cache prices: writes cost input x 1.25, reads input x 0.1.
    await gateway.add_price("acme-model", 3.0, 15.0)
    up = await upstreams(messages_json_reply(model="acme-model", **TOKENS))
    multipliers = {
        "_default": {"inputMultiplier": 2},
        "acme": {"outputMultiplier": 3, "cacheReadMultiplier": 0.5},
    }
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-a"], price_multipliers=multipliers)

    await claude.messages.create(model="acme-model", max_tokens=8, messages=PROMPT)

    (row,) = await gateway.logs()
    # multipliers: input 2 (_default), output 3 and cache read 0.5 ("acme" prefix) x 1.
    assert row.input_cost == pytest.approx(1000 * 3.0 * 2 / 1e6)  # 0.006
    assert row.output_cost == pytest.approx(200 * 15.0 * 3 / 1e6)  # 0.009
    assert row.cache_creation_cost == pytest.approx(4000 * 3.75 / 1e6)  # 0.015
    assert row.cache_read_cost == pytest.approx(20000 * 0.3 * 0.5 / 1e6)  # 0.003
    assert row.price == pytest.approx(0.033)
    assert (row.input_tokens, row.output_tokens) == (1000, 200)
    assert (row.cache_creation_input_tokens, row.cache_read_input_tokens) == (4000, 20000)
    assert row.total_tokens == 1200
    assert row.priced_by_target_model is False


async def test_explicit_cache_prices_and_target_model_pricing(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    await gateway.add_price("alias-model", 100.0, 100.0)
    await gateway.add_price("real-model", 2.0, 8.0, cache_creation_price=2.5, cache_read_price=0.0)
    up = await upstreams(messages_json_reply(model="real-model-2026", **TOKENS))
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-a"])

    await claude.messages.create(model="alias-model", max_tokens=8, messages=PROMPT)

    (row,) = await gateway.logs()
    # The upstream's model has a price (prefix "real-model"), so it wins.
    assert row.response_model == "real-model-2026"
    assert row.priced_by_target_model is True
    assert row.input_cost == pytest.approx(1000 * 2.0 / 1e6)
    assert row.output_cost == pytest.approx(200 * 8.0 / 1e6)
    assert row.cache_creation_cost == pytest.approx(4000 * 2.5 / 1e6)
    assert row.cache_read_cost == 0.0  # an explicit 0 is free
    assert row.price == pytest.approx(0.002 + 0.0016 + 0.01)


async def test_fast_speed_to_a_claude_channel_costs_the_normal_price(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    # Fast mode doubles prices only on channels that turn it into the
    # priority tier (responses, openai-oauth); a claude channel passes it on.
    await gateway.add_price("acme-model", 3.0, 15.0, cache_creation_price=0.0, cache_read_price=0.0)
    up = await upstreams(messages_json_reply(model="acme-model", **TOKENS))
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-a"])

    await claude.messages.create(
        model="acme-model", max_tokens=8, messages=PROMPT, extra_body={"speed": "fast"}
    )

    (row,) = await gateway.logs()
    assert row.price == pytest.approx((1000 * 3.0 + 200 * 15.0) / 1e6)  # 0.006


async def test_unpriced_model_costs_nothing(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    up = await upstreams(messages_json_reply(model="mystery-1", **TOKENS))
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-a"])

    await claude.messages.create(model="mystery-1", max_tokens=8, messages=PROMPT)

    (row,) = await gateway.logs()
    assert (row.price, row.input_cost, row.output_cost) == (0.0, 0.0, 0.0)
    assert row.total_tokens == 1200


async def test_stream_row_goes_pending_then_completed(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    reply = messages_sse_reply(deltas=4, event_delay=0.03, **TOKENS)
    up = await upstreams(reply)
    await gateway.add_channel(
        "messages", "off", up.url, ["sk-ant-off"], status="disabled", channel_id="ch-off"
    )
    served = await gateway.add_channel("messages", "main", up.url, ["sk-ant-main"])
    body = {
        "model": MODEL,
        "max_tokens": 8,
        "messages": PROMPT,
        "stream": True,
        "metadata": {"user_id": LEGACY_USER},
    }

    async with http_client() as http:
        async with http.stream(
            "POST", gateway.url + "/v1/messages", json=body, headers={"x-api-key": MASTER_KEY}
        ) as resp:
            chunks = resp.aiter_raw()
            received = await anext(chunks)
            (pending,) = await gateway.logs()
            received += b"".join([chunk async for chunk in chunks])

    assert received == reply.body_bytes
    assert pending.status == "pending"
    (row,) = await gateway.logs()
    assert row.id == pending.id
    assert row.status == "completed"
    assert (row.provider, row.provider_name, row.channel_name) == ("claude", "main", "main")
    assert (row.channel_uid, row.channel_id) == (served.channel_id, 1)
    assert row.domain == urlsplit(up.url).hostname == "127.0.0.1"
    assert (row.endpoint, row.model) == ("/v1/messages", MODEL)
    assert row.response_model == "claude-sonnet-4-5-20250929"
    assert (row.http_status, row.stream, row.transport) == (200, True, "sse")
    assert (row.client_id, row.session_id) == (
        "user_4f1c9a",
        "0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6",
    )
    assert (row.input_tokens, row.output_tokens, row.total_tokens) == (1000, 200, 1200)
    assert (row.cache_creation_input_tokens, row.cache_read_input_tokens) == (4000, 20000)
    # First delta is the 4th event, each 30 ms apart.
    assert 90 <= row.first_token_duration_ms <= row.duration_ms
    assert row.first_token_time is not None
    assert row.complete_time is not None and row.complete_time >= row.first_token_time
    assert row.error is None and row.failover_info is None
    # claude-haiku-4-5 default price was seeded: response model is unpriced
    # (claude-sonnet-4-5-20250929 is priced as claude-sonnet-4-5 though).
    assert row.price == pytest.approx((1000 * 3.0 + 200 * 15.0 + 4000 * 3.75 + 20000 * 0.3) / 1e6)
    assert row.priced_by_target_model is True


async def test_json_row_fields(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    up = await upstreams(messages_json_reply(model=MODEL, **TOKENS))
    channel = await gateway.add_channel("messages", "solo", up.url, ["sk-ant-solo"])
    user = json.dumps({"device_id": "dev-9", "account_uuid": "", "session_id": "s-42"})

    await claude.messages.create(
        model=MODEL, max_tokens=8, messages=PROMPT, metadata={"user_id": user}
    )

    (row,) = await gateway.logs()
    assert row.status == "completed"
    assert (row.stream, row.transport, row.http_status) == (False, "http", 200)
    assert (row.client_id, row.session_id) == ("dev-9", "s-42")  # device id when no account
    assert (row.channel_uid, row.channel_id, row.channel_name) == (channel.channel_id, 0, "solo")
    assert row.first_token_duration_ms == 0 and row.first_token_time is None
    # claude-haiku-4-5 (seeded): 1 in, 5 out, 1.25 write, 0.1 read per million.
    assert row.price == pytest.approx((1000 * 1 + 200 * 5 + 4000 * 1.25 + 20000 * 0.1) / 1e6)


async def test_session_header_fallback(gateway: Running, upstreams: UpstreamFactory) -> None:
    up = await upstreams(messages_json_reply())
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-a"])
    headers = {"X-Claude-Code-Session-Id": "hdr-session"}
    async with claude_client(gateway, default_headers=headers) as client:
        await client.messages.create(
            model=MODEL, max_tokens=8, messages=PROMPT, metadata={"user_id": "plain-client"}
        )

    (row,) = await gateway.logs()
    assert (row.client_id, row.session_id) == ("plain-client", "hdr-session")


async def test_client_disconnect_mid_stream_is_499_and_cancels_upstream(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    reply = messages_sse_reply(deltas=20, event_delay=0.1, **TOKENS)
    up = await upstreams(reply)
    await gateway.add_channel("messages", "slow", up.url, ["sk-ant-slow"])
    payload = json.dumps(
        {"model": MODEL, "max_tokens": 8, "messages": PROMPT, "stream": True}
    ).encode()
    port = urlsplit(gateway.url).port

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        + f"x-api-key: {MASTER_KEY}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"message_start" in await reader.read(65536)
    writer.close()
    await writer.wait_closed()

    # The upstream call is cancelled: its connection closes long before the
    # 2 s the stream would take, and the row is settled.
    await until(lambda: up.open_connections == 0, timeout=1.5)
    assert len(up.requests) == 1
    for _ in range(100):
        (row,) = await gateway.logs()
        if row.status != "pending":
            break
    assert (row.status, row.http_status) == ("error", 499)
    assert row.error == "client disconnected"
    assert row.input_tokens == 1000  # message_start was seen before the client left
    assert row.channel_name == "slow"
