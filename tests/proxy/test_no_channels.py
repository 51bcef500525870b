"""A pool without a channel: NO_CHANNELS_CONFIGURED, which no SDK retries.

Each client gets the error in its own API's shape through its official SDK,
with SDK retries switched on: one request reaches the gateway. A pool whose
channels all failed stays a 503 (test_failover.py), a different answer.
"""

from __future__ import annotations

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import types

from tests.proxy.conftest import CLIENT_TLS, MASTER_KEY, Running, dead_url

CODE = "NO_CHANNELS_CONFIGURED"


def _retrying_claude(gateway: Running) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=gateway.url,
        api_key=MASTER_KEY,
        max_retries=2,
        timeout=20,
        http_client=httpx2.AsyncClient(verify=CLIENT_TLS),
    )


def _retrying_openai(gateway: Running) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=MASTER_KEY,
        max_retries=2,
        timeout=20,
        http_client=httpx2.AsyncClient(verify=CLIENT_TLS),
    )


async def test_messages_pool_without_channels(gateway: Running) -> None:
    async with _retrying_claude(gateway) as claude:
        with pytest.raises(anthropic.NotFoundError) as info:
            await claude.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=16,
                messages=[{"role": "user", "content": "hi"}],
            )
    assert info.value.status_code == 404
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
    assert body["error"]["code"] == CODE
    assert body["error"]["message"] == "no channel is configured for the messages pool"
    rows = await gateway.logs()
    assert [(r.status, r.http_status, r.error) for r in rows] == [
        ("error", 404, "no channel is configured for the messages pool")
    ]


async def test_responses_and_chat_pools_without_channels(gateway: Running) -> None:
    async with _retrying_openai(gateway) as client:
        with pytest.raises(openai.NotFoundError) as responses:
            await client.responses.create(model="gpt-5", input="hi")
        with pytest.raises(openai.NotFoundError) as chat:
            await client.chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": "hi"}]
            )
    for info, pool in ((responses, "responses"), (chat, "chat")):
        assert info.value.code == CODE
        assert isinstance(info.value.body, dict)
        assert info.value.body["message"] == f"no channel is configured for the {pool} pool"
        assert info.value.type == "not_found_error"
    assert len(await gateway.logs()) == 2


async def test_gemini_pool_without_channels(gateway: Running) -> None:
    options = types.HttpOptions(
        base_url=gateway.url,
        api_version="v1beta",
        async_client_args={"verify": CLIENT_TLS},
        retry_options=types.HttpRetryOptions(attempts=3, initial_delay=0.1),
    )
    client = genai.Client(api_key=MASTER_KEY, http_options=options)
    with pytest.raises(genai.errors.ClientError) as info:
        await client.aio.models.generate_content(model="gemini-flash", contents="hi")
    assert info.value.code == 404
    assert info.value.status == "NOT_FOUND"
    assert info.value.message == "no channel is configured for the gemini pool"
    assert info.value.details["error"]["details"][0]["reason"] == CODE
    assert len(await gateway.logs()) == 1


async def test_only_disabled_channels_count_as_none_configured(gateway: Running) -> None:
    await gateway.add_channel("messages", "off", dead_url(), ["sk-ant-x"], status="disabled")
    async with _retrying_claude(gateway) as claude:
        with pytest.raises(anthropic.NotFoundError) as info:
            await claude.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=16,
                messages=[{"role": "user", "content": "hi"}],
            )
    body = info.value.body
    assert isinstance(body, dict)
    assert body["error"]["code"] == CODE
    assert body["error"]["message"] == (
        "no channel is configured for the messages pool (off: disabled)"
    )


async def test_a_configured_channel_that_fails_is_not_none_configured(gateway: Running) -> None:
    await gateway.add_channel("messages", "down", dead_url(), ["sk-ant-y"])
    async with _retrying_claude(gateway) as claude:
        with pytest.raises(anthropic.APIStatusError) as info:
            await claude.with_options(max_retries=0).messages.create(
                model="claude-sonnet-4-5",
                max_tokens=16,
                messages=[{"role": "user", "content": "hi"}],
            )
    assert info.value.status_code == 503
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["code"] == "NO_CHANNEL_AVAILABLE"
