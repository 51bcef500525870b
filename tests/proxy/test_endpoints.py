"""count_tokens, /v1/models and /health (spec §3.1)."""

from __future__ import annotations

import anthropic
import openai
import pytest

from ccbridge.store.defaults import DEFAULT_PRICES
from ccbridge.store.loader import read_revision
from tests.fakes.upstream import JsonReply, RecordedRequest, messages_json_reply
from tests.proxy.conftest import Running, UpstreamFactory, http_client

MODEL = "claude-haiku-4-5"
PROMPT = [{"role": "user", "content": "count me"}]


async def test_count_tokens_is_proxied_and_not_logged(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    def respond(request: RecordedRequest) -> JsonReply:
        if request.path == "/v1/messages/count_tokens":
            return JsonReply({"input_tokens": 42}, headers={"request-id": "req_count"})
        return messages_json_reply()

    up = await upstreams(responder=respond)
    channel = await gateway.add_channel(
        "messages", "a", up.url, ["sk-ant-count"], quota_type="requests", quota_limit=5
    )

    counted = await claude.messages.count_tokens(model=MODEL, messages=PROMPT)

    assert counted.input_tokens == 42
    (seen,) = up.requests
    assert (seen.method, seen.path) == ("POST", "/v1/messages/count_tokens")
    assert seen.header("x-api-key") == "sk-ant-count"
    assert seen.json() == {"model": MODEL, "messages": PROMPT}
    assert await gateway.logs() == []
    assert await gateway.usage(channel.channel_id) is None  # no quota used either


async def test_count_tokens_upstream_error_is_relayed(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    body = {"type": "error", "error": {"type": "not_found_error", "message": "no count here"}}
    up = await upstreams(JsonReply(body, status=404))
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-count"])

    with pytest.raises(anthropic.NotFoundError) as info:
        await claude.messages.count_tokens(model=MODEL, messages=PROMPT)

    assert info.value.body == body
    assert await gateway.logs() == []


async def test_models_lists_exported_prices(gateway: Running, codex: openai.AsyncOpenAI) -> None:
    await gateway.add_price("acme-1", 1.0, 2.0)
    await gateway.add_price("zz-hidden", 1.0, 2.0, export_to_models=False)

    async with http_client() as http:
        resp = await http.get(gateway.url + "/v1/models", headers={"x-api-key": "wrong"})
        assert resp.status_code == 401
        resp = await http.get(
            gateway.url + "/v1/models", headers={"authorization": f"Bearer {codex.api_key}"}
        )
    listed = [m.id async for m in codex.models.list()]

    expected = sorted([*DEFAULT_PRICES, "acme-1"])
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "list"
    assert body["data"][0] == {
        "id": expected[0],
        "object": "model",
        "created": 1704067200,
        "owned_by": "cc-bridge",
    }
    assert [m["id"] for m in body["data"]] == expected
    assert listed == expected


async def test_health_needs_no_key(gateway: Running, engine: str) -> None:
    await gateway.add_price("acme-1", 1.0, 2.0)  # moves the revision on

    async with http_client() as http:
        resp = await http.get(gateway.url + "/health")

    assert resp.status_code == 200
    body = resp.json()
    revision = await read_revision(gateway.db)
    assert revision > 1
    assert body == {
        "status": "healthy",
        "database": "ok",
        "databaseType": engine,
        "configRevision": revision,
        "pendingWrites": 0,
    }
