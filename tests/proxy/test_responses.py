"""The OpenAI Responses endpoint with the official SDK (spec §3.3, §3.7, §3.10)."""

from __future__ import annotations

import asyncio

import anthropic
import httpx2
import openai
import pytest

from tests.fakes.upstream import (
    openai_error,
    responses_json_reply,
    responses_sse_reply,
)
from tests.proxy.conftest import CLIENT_TLS, MASTER_KEY, Running, UpstreamFactory

OAI_KEY = "sk-proj-codex-0001"
# Seeded gpt-5-codex price per million: 1.25 in, 10 out, 0.125 cache read.
# Upstream usage: 1820 input of which 1536 cached, 96 output.
INPUT, CACHED, OUTPUT = 1820 - 1536, 1536, 96
COST = (INPUT * 1.25 + OUTPUT * 10.0 + CACHED * 0.125) / 1e6  # 0.001507


async def test_create_logs_usage_with_cached_tokens_split_out(
    gateway: Running, upstreams: UpstreamFactory, codex: openai.AsyncOpenAI
) -> None:
    up = await upstreams(responses_json_reply(text="patched"))
    channel = await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    response = await codex.responses.create(
        model="gpt-5-codex",
        input="fix the test",
        prompt_cache_key="pck-7f3a",
        reasoning={"effort": "high"},
    )

    assert response.output_text == "patched"
    assert response.usage is not None and response.usage.input_tokens == 1820
    (seen,) = up.requests
    assert seen.path == "/v1/responses"
    assert seen.header("authorization") == f"Bearer {OAI_KEY}"
    (row,) = await gateway.logs()
    assert (row.status, row.http_status, row.stream) == ("completed", 200, False)
    assert (row.endpoint, row.provider, row.channel_uid) == (
        "/v1/responses",
        "responses",
        channel.channel_id,
    )
    assert (row.input_tokens, row.cache_read_input_tokens, row.output_tokens) == (
        INPUT,
        CACHED,
        OUTPUT,
    )
    assert row.cache_creation_input_tokens == 0
    assert row.total_tokens == INPUT + OUTPUT
    assert (row.client_id, row.session_id, row.reasoning_effort) == ("codex", "pck-7f3a", "high")
    assert row.input_cost == pytest.approx(INPUT * 1.25 / 1e6)
    assert row.cache_read_cost == pytest.approx(CACHED * 0.125 / 1e6)
    assert row.output_cost == pytest.approx(OUTPUT * 10.0 / 1e6)
    assert row.price == pytest.approx(COST)


async def test_stream_logs_usage_from_completed_event(
    gateway: Running, upstreams: UpstreamFactory, codex: openai.AsyncOpenAI
) -> None:
    up = await upstreams(responses_sse_reply(deltas=["pat", "ched"], event_delay=0.01))
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    async with codex.responses.stream(model="gpt-5-codex", input="fix it") as stream:
        text = "".join([e.delta async for e in stream if e.type == "response.output_text.delta"])
        final = await stream.get_final_response()

    assert text == "patched"
    assert final.status == "completed"
    (row,) = await gateway.logs()
    assert (row.status, row.stream, row.transport) == ("completed", True, "sse")
    assert (row.input_tokens, row.cache_read_input_tokens, row.output_tokens) == (
        INPUT,
        CACHED,
        OUTPUT,
    )
    assert row.response_model == "gpt-5-codex"
    assert row.first_token_duration_ms > 0
    assert row.price == pytest.approx(COST)


async def test_responses_errors_are_openai_shaped(
    gateway: Running, upstreams: UpstreamFactory, codex: openai.AsyncOpenAI
) -> None:
    reply = openai_error(400, "Unsupported parameter: 'temperature'", "invalid_request_error")
    up = await upstreams(reply)
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    with pytest.raises(openai.BadRequestError) as upstream_error:
        await codex.responses.create(model="gpt-5-codex", input="x", temperature=0.2)
    async with openai.AsyncOpenAI(
        base_url=codex.base_url,
        api_key="sk-wrong",
        max_retries=0,
        http_client=httpx2.AsyncClient(verify=CLIENT_TLS),
    ) as wrong:
        with pytest.raises(openai.AuthenticationError) as auth_error:
            await wrong.responses.create(model="gpt-5-codex", input="x")

    assert upstream_error.value.body == reply.body["error"]  # the SDK unwraps "error"
    assert auth_error.value.code == "INVALID_API_KEY"
    assert len(up.requests) == 1


async def test_sync_sdk_clients_in_a_thread(gateway: Running, upstreams: UpstreamFactory) -> None:
    # The gateway runs in this event loop: sync clients must not block it.
    up = await upstreams(default=responses_json_reply(text="sync ok"))
    await gateway.add_channel("responses", "codex", up.url, [OAI_KEY])

    def call() -> str:
        with openai.OpenAI(
            base_url=f"{gateway.url}/v1",
            api_key=MASTER_KEY,
            max_retries=0,
            http_client=httpx2.Client(verify=CLIENT_TLS),
        ) as client:
            return client.responses.create(model="gpt-5-codex", input="hi").output_text

    def count() -> int:
        with anthropic.Anthropic(
            base_url=gateway.url,
            api_key=MASTER_KEY,
            max_retries=0,
            http_client=httpx2.Client(verify=CLIENT_TLS),
        ) as client:
            with pytest.raises(anthropic.NotFoundError) as info:
                client.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=8,
                    messages=[{"role": "user", "content": "hi"}],
                )
            return info.value.status_code

    assert await asyncio.to_thread(call) == "sync ok"
    assert await asyncio.to_thread(count) == 404  # no messages channel at all
