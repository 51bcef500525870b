"""openai-oauth channels: token refresh, one refresh across instances, Codex quota.

Every test runs a real gateway (both engines) against `FakeCodex`, a fake
OAuth token endpoint and Codex backend on loopback; the gateway is told
the token endpoint by CODEX_OAUTH_TOKEN_URL. Clients are the official SDKs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from ccbridge.app import create_app
from generated.rows import ChannelsRow
from tests.fakes.codex import FakeCodex
from tests.proxy.conftest import (
    MASTER_KEY,
    Running,
    claude_client,
    codex_client,
    serve,
    settings_for,
    stop,
)

MODEL = "gpt-5-codex"
Start = Callable[[], Awaitable[Running]]


@pytest.fixture
async def codex() -> AsyncIterator[FakeCodex]:
    async with FakeCodex() as fake:
        yield fake


@pytest.fixture
async def start(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, codex: FakeCodex
) -> AsyncIterator[Start]:
    """Start gateways on one database (the test's), pointed at the fake token endpoint."""
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    running: list[tuple[Any, Any]] = []

    async def start_one() -> Running:
        env = {"CODEX_OAUTH_TOKEN_URL": codex.token_url}
        app = create_app(settings_for(engine, tmp_path, dsn, **env))
        server, task, url = await serve(app)
        running.append((server, task))
        return Running(app, url)

    yield start_one
    for server, task in reversed(running):
        await stop(server, task)


async def _channel(gw: Running, codex: FakeCodex, pool: str, tokens: dict[str, str]) -> ChannelsRow:
    return await gw.add_channel(
        pool, "chatgpt", codex.base_url, [], service_type="openai-oauth", oauth_tokens=tokens
    )


async def _stored_tokens(gw: Running, uid: str) -> dict[str, str]:
    (row,) = await gw.db.daos.channels.list(where={"channel_id": uid})
    return dict(row.oauth_tokens)


async def _ask_responses(gw: Running) -> str:
    async with codex_client(gw) as client:
        stream = await client.responses.create(
            model=MODEL, input=[{"role": "user", "content": "hi"}], stream=True
        )
        text = ""
        async for event in stream:
            if event.type == "response.output_text.delta":
                text += event.delta
    return text


async def _ask_messages(gw: Running) -> str:
    async with claude_client(gw) as client:
        msg = await client.messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    return "".join(b.text for b in msg.content if b.type == "text")


def _bearers(codex: FakeCodex) -> list[str]:
    return [(r.header("authorization") or "")[7:] for r in codex.backend_requests]


async def test_valid_token_serves_without_refresh_and_quota_is_recorded(
    start: Start, codex: FakeCodex
) -> None:
    gw = await start()
    tokens = codex.issue()
    ch = await _channel(gw, codex, "responses", tokens)
    assert await _ask_responses(gw)
    assert codex.token_calls == 0
    (sent,) = codex.backend_requests
    assert sent.header("authorization") == f"Bearer {tokens['access_token']}"
    assert sent.header("chatgpt-account-id") == codex.account_id
    await gw.flush()
    row = await gw.db.daos.channel_quota.get(ch.channel_id)
    assert row is not None
    assert (row.plan_type, row.primary_used_percent, row.secondary_used_percent) == ("plus", 12, 44)
    assert (row.primary_window_minutes, row.channel_name) == (300, "chatgpt")
    snap = row.codex_quota_snapshot
    assert snap["primary_used_percent_exact"] == 12.5 and snap["active_limit"] == "codex"
    assert snap["detailed_limits"][0]["limit_id"] == "codex_bengalfox"
    assert snap["detailed_limits"][0]["primary_used_percent_exact"] == 1.5


async def test_token_near_expiry_is_refreshed_and_saved_once(
    start: Start, codex: FakeCodex
) -> None:
    gw = await start()
    old = codex.issue(lifetime=60)  # inside the 5-minute margin
    ch = await _channel(gw, codex, "messages", old)
    revision = gw.rt.snapshot.revision
    assert await _ask_messages(gw)
    assert codex.token_calls == 1
    stored = await _stored_tokens(gw, ch.channel_id)
    assert stored["access_token"] != old["access_token"]
    assert stored["refresh_token"] != old["refresh_token"]  # rotated, and saved
    assert (
        stored["account_id"] == codex.account_id and stored["last_refresh"] != old["last_refresh"]
    )
    assert gw.rt.snapshot.revision > revision  # a config write: every instance reloads
    assert _bearers(codex) == [stored["access_token"]]
    assert await _ask_messages(gw)  # the new token is not due: no second refresh
    assert codex.token_calls == 1
    assert _bearers(codex)[-1] == stored["access_token"]
    assert await gw.db.daos.settings.get(f"oauth_refresh_lease:{ch.channel_id}") is None


async def test_refused_token_is_refreshed_and_the_call_retried(
    start: Start, codex: FakeCodex
) -> None:
    gw = await start()
    tokens = codex.issue()
    ch = await _channel(gw, codex, "responses", tokens)
    codex.revoke(tokens["access_token"])  # not expired, yet the backend says 401
    assert await _ask_responses(gw)
    assert codex.token_calls == 1
    new = (await _stored_tokens(gw, ch.channel_id))["access_token"]
    assert _bearers(codex) == [tokens["access_token"], new]
    rows = await gw.logs()
    assert [(r.status, r.http_status) for r in rows] == [("retry_wait", 401), ("completed", 200)]


async def test_failed_refresh_is_a_clear_error_and_logged(start: Start, codex: FakeCodex) -> None:
    gw = await start()
    old = codex.issue(lifetime=60)
    ch = await _channel(gw, codex, "responses", old)
    codex.fail_with = 400
    with pytest.raises(openai.APIStatusError) as caught:
        await _ask_responses(gw)
    assert caught.value.status_code == 502
    message = caught.value.response.json()["error"]["message"]
    assert "access token refresh failed" in message and "400 (invalid_grant)" in message
    assert codex.backend_requests == []
    rows = await gw.logs()
    assert [(r.status, r.http_status) for r in rows] == [("failover", 502), ("error", 502)]
    dumped = json.dumps([dataclasses.asdict(r) for r in rows], default=str)
    for secret in (old["access_token"], old["refresh_token"]):
        assert secret not in dumped and secret not in message
    assert await _stored_tokens(gw, ch.channel_id) == old  # nothing changed
    assert await gw.db.daos.settings.get(f"oauth_refresh_lease:{ch.channel_id}") is None


async def test_failed_refresh_through_messages_is_an_anthropic_error(
    start: Start, codex: FakeCodex
) -> None:
    gw = await start()
    await _channel(gw, codex, "messages", codex.issue(lifetime=60))
    codex.fail_with = 401
    with pytest.raises(anthropic.APIStatusError) as caught:
        await _ask_messages(gw)
    assert caught.value.status_code == 502
    body = caught.value.response.json()
    assert body["type"] == "error" and "token endpoint answered 401" in body["error"]["message"]


async def test_two_instances_racing_a_due_refresh_refresh_once(
    start: Start, codex: FakeCodex
) -> None:
    a = await start()
    b = await start()
    old = codex.issue(lifetime=60)
    ch = await _channel(a, codex, "responses", old)
    await b.reload()
    codex.delay = 0.3  # both instances see the token due while the refresh runs
    texts = await asyncio.gather(*(_ask_responses(gw) for gw in (a, b, a, b, a, b)))
    assert all(texts)
    assert codex.token_calls == 1
    new = (await _stored_tokens(a, ch.channel_id))["access_token"]
    assert set(_bearers(codex)) == {new}
    await b.reload()
    assert b.rt.snapshot.channels_by_uid[ch.channel_id].oauth_tokens.access_token == new
    assert await _ask_responses(b) and await _ask_responses(a)
    assert codex.token_calls == 1 and set(_bearers(codex)) == {new}


def _api(gw: Running) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.url, headers={"x-api-key": MASTER_KEY}, timeout=20)


async def test_status_route_shows_tokens_and_the_stored_quota(
    start: Start, codex: FakeCodex
) -> None:
    gw = await start()
    await gw.add_channel("responses", "plain", "http://127.0.0.1:9", ["sk-x"])
    tokens = codex.issue()
    ch = await _channel(gw, codex, "responses", tokens)
    assert await _ask_responses(gw)
    await gw.flush()
    async with _api(gw) as api:
        by_index = await api.get("/api/responses/channels/1/oauth/status")
        by_id = await api.get(f"/api/responses/channels/by-id/{ch.channel_id}/oauth/status")
        plain = await api.get("/api/responses/channels/0/oauth/status")
        missing = await api.get("/api/responses/channels/by-id/nope/oauth/status")
    assert by_index.status_code == by_id.status_code == 200
    body = by_id.json()
    assert body == by_index.json()
    assert (body["channelId"], body["channelName"], body["configured"]) == (1, "chatgpt", True)
    assert body["tokenStatus"] == "valid" and 3500 < body["tokenExpiresIn"] <= 3600
    assert body["status"]["account_id"] == codex.account_id
    quota = body["quota"]["codex_quota"]
    assert (quota["plan_type"], quota["primary_used_percent"], quota["secondary_used_percent"]) == (
        "plus",
        12.5,
        44,
    )
    assert quota["detailed_limits"][0]["limit_name"] == "GPT-5.3-Codex-Spark"
    assert quota["detailed_limits"][0]["primary_used_percent"] == 1.5
    assert tokens["access_token"] not in by_id.text and tokens["refresh_token"] not in by_id.text
    assert plain.status_code == 409 and plain.json()["code"] == "NOT_OAUTH_CHANNEL"
    assert missing.status_code == 404


async def test_quota_refresh_and_reset_credit_ask_the_backend(
    start: Start, codex: FakeCodex
) -> None:
    gw = await start()
    ch = await _channel(gw, codex, "responses", codex.issue())
    async with _api(gw) as api:
        bad = await api.post(
            f"/api/responses/channels/{ch.channel_id}/oauth/quota/reset-credit", content=b"{nope"
        )
        refreshed = await api.post(f"/api/responses/channels/{ch.channel_id}/oauth/quota/refresh")
        reset = await api.post(
            f"/api/responses/channels/by-id/{ch.channel_id}/oauth/quota/reset-credit",
            headers={"Idempotency-Key": "redeem-1"},
        )
    assert bad.status_code == 400  # and consumed nothing: see codex.consumed below
    assert refreshed.status_code == 200, refreshed.text
    quota = refreshed.json()["quota"]["codex_quota"]
    assert (quota["plan_type"], quota["primary_used_percent"], quota["secondary_used_percent"]) == (
        "pro",
        0.64,
        48.25,
    )
    usage = [r for r in codex.server.requests if r.path == "/backend-api/codex/usage"]
    assert usage and usage[0].header("chatgpt-account-id") == codex.account_id
    row = await gw.db.daos.channel_quota.get(ch.channel_id)
    assert row is not None and (row.plan_type, row.primary_used_percent) == ("pro", 1)
    assert reset.status_code == 200, reset.text
    assert reset.json()["reset"] == {
        "outcome": "reset",
        "idempotency_key": "redeem-1",
        "windows_reset": 2,
    }
    assert codex.consumed == ["redeem-1"]
    credits = reset.json()["quota"]["codex_quota"]["rate_limit_reset_credits"]
    assert credits["total_earned_count"] == 1


async def test_openapi_describes_the_oauth_routes(start: Start) -> None:
    gw = await start()
    async with _api(gw) as api:
        doc = (await api.get("/api/openapi.json")).json()
    for base in ("/api/responses/channels", "/api/channels"):
        assert "get" in doc["paths"][base + "/by-id/{id}/oauth/status"]
        assert "post" in doc["paths"][base + "/{id}/oauth/quota/refresh"]
        assert "post" in doc["paths"][base + "/{id}/oauth/quota/reset-credit"]


async def test_a_client_that_does_not_stream_gets_the_gathered_answer(
    start: Start, codex: FakeCodex
) -> None:
    gw = await start()
    await _channel(gw, codex, "responses", codex.issue())
    async with codex_client(gw) as client:
        answer = await client.responses.create(
            model=MODEL, input=[{"role": "user", "content": "hi"}]
        )
    assert answer.output_text and answer.usage is not None and answer.usage.output_tokens > 0
    (sent,) = codex.backend_requests
    assert sent.json()["stream"] is True
