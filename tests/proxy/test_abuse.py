"""Abuse and bad input (issue 17): key guessing, spoofed addresses, deep and
huge bodies, leaked upstream headers, quota in a single-channel pool."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.fakes.upstream import JsonReply, SseReply, messages_json, messages_sse_events
from tests.proxy.childserver import free_port, serve, until_healthy
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory, claude_client, http_client

MODEL = "claude-haiku-4-5"
ANT_KEY = "sk-ant-abuse-0001"
BODY = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
_UPSTREAM_HEADERS = (("date", "Mon, 01 Jan 2001 00:00:00 GMT"), ("server", "secret-upstream/9.1"))


async def test_wrong_keys_on_v1_block_the_address_but_never_a_valid_key(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(default=JsonReply(messages_json()))
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])
    managed = await gateway.add_key("dev")
    url = f"{gateway.url}/v1/messages"
    async with http_client() as http:
        wrong = [
            (
                await http.post(url, json=BODY, headers={"x-api-key": f"sk-wrong-{i:04d}"})
            ).status_code
            for i in range(6)
        ]
        master = await http.post(url, json=BODY, headers={"x-api-key": MASTER_KEY})
        dev = await http.post(url, json=BODY, headers={"authorization": f"Bearer {managed}"})
        admin = await http.get(f"{gateway.url}/api/keys", headers={"x-api-key": MASTER_KEY})

    assert wrong == [401] * 5 + [429]  # 5 failures block the address (default thresholds)
    assert (master.status_code, dev.status_code, admin.status_code) == (200, 200, 200)


async def _statuses(port: int, n: int) -> list[int]:
    async with httpx.AsyncClient(timeout=5) as http:
        return [
            (
                await http.get(
                    f"http://127.0.0.1:{port}/api/keys",
                    headers={
                        "x-api-key": "sk-guess-000000000000",
                        "x-forwarded-for": f"10.0.0.{i}",
                    },
                )
            ).status_code
            for i in range(n)
        ]


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    tmp_path: Path, trusted: str
) -> None:
    data = tmp_path / "data"
    env = {
        "PROXY_ACCESS_KEY": MASTER_KEY,
        "CCBRIDGE_DATA_DIR": str(data),
        "DATABASE_URL": str(data / "cc-bridge.db"),
        "TRUSTED_PROXIES": trusted,
    }
    port = free_port()
    proc = serve(env, port)
    try:
        await until_healthy(port)
        statuses = await _statuses(port, 8)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)

    if trusted:  # the proxy's word is taken: each forwarded address failed once
        assert statuses == [401] * 8
    else:  # rotating the header changes nothing: the peer is blocked
        assert statuses == [401] * 5 + [429] * 3


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/responses", "/api/keys"])
async def test_json_nested_100000_deep_is_a_400(gateway: Running, path: str) -> None:
    async with http_client() as http:
        resp = await http.post(
            gateway.url + path,
            content=b'{"model": "m", "input": ' + DEEP + b"}",
            headers={"x-api-key": MASTER_KEY, "content-type": "application/json"},
        )
    assert resp.status_code == 400


async def _chunks(size: int) -> AsyncIterator[bytes]:
    chunk = b" " * 65536
    for _ in range(size // len(chunk)):
        yield chunk


@pytest.mark.gateway_env(API_MAX_BODY_MB="1")
async def test_api_bodies_over_the_limit_are_refused_before_read_whole(gateway: Running) -> None:
    url = f"{gateway.url}/api/keys"
    headers = {"x-api-key": MASTER_KEY, "content-type": "application/json"}
    async with http_client() as http:
        declared = await http.post(url, content=b" " * (2 << 20), headers=headers)
        chunked = await http.post(url, content=_chunks(64 << 20), headers=headers)
        fits = await http.post(url, json={"name": "small"}, headers=headers)

    assert declared.status_code == 413
    assert chunked.status_code == 413  # 64 MiB offered: refused after a little over 1
    assert fits.status_code == 201


@pytest.mark.parametrize("stream", [False, True])
async def test_relayed_responses_carry_one_date_and_one_server(
    gateway: Running, upstreams: UpstreamFactory, stream: bool
) -> None:
    reply = (
        SseReply(messages_sse_events(), headers=_UPSTREAM_HEADERS)
        if stream
        else JsonReply(messages_json(), headers=_UPSTREAM_HEADERS)
    )
    up = await upstreams(reply)
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])
    async with http_client() as http:
        resp = await http.post(
            f"{gateway.url}/v1/messages",
            json={**BODY, "stream": stream},
            headers={"x-api-key": MASTER_KEY},
        )

    assert resp.status_code == 200
    assert len(resp.headers.get_list("date")) == 1
    assert resp.headers.get_list("server") == ["uvicorn"]
    assert "2001" not in resp.headers["date"]


async def test_quota_holds_in_a_single_channel_pool(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(default=JsonReply(messages_json()))
    channel = await gateway.add_channel(
        "messages", "only", up.url, [ANT_KEY], quota_type="requests", quota_limit=2
    )
    statuses = []
    async with claude_client(gateway) as claude:
        for _ in range(4):
            try:
                await claude.messages.create(**BODY)  # type: ignore[arg-type]
                statuses.append(200)
            except anthropic.APIStatusError as ex:
                statuses.append(ex.status_code)

    assert statuses == [200, 200, 503, 503]
    assert len(up.requests) == 2
    usage = await gateway.usage(channel.channel_id)
    assert usage is not None and usage.used == 2.0
