"""POST /v1/chat/completions: OpenAI Chat clients on every chat-pool upstream type.

The official openai SDK (async, and sync in a worker thread) talks to
ccbridge over loopback; the channels are checking fakes of the Messages,
Gemini and Chat APIs (tests/fakes/upstream.py): claude and gemini channels
go through ChatBridge, the OpenAI Chat types are passthrough.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx as httpx2
import openai
import pytest

from tests.fakes.upstream import (
    _DEFAULT_TEXT,
    FAKE_SAW_IMAGE,
    FAKE_TOOL_ARGS,
    CloseAfter,
    FakeUpstream,
    SseEvent,
    SseReply,
    chat_responder,
    gemini_responder,
    messages_responder,
    openai_error,
)
from tests.proxy.conftest import CLIENT_TLS, MASTER_KEY, Running, UpstreamFactory, dead_url

MODEL = "gpt-4o"
PROMPT = [
    {"role": "system", "content": "You fix bugs."},
    {"role": "user", "content": "Why does test_window fail?"},
]
RESPONDERS = {"claude": messages_responder, "gemini": gemini_responder, "openai": chat_responder}
KINDS = sorted(RESPONDERS)
UPSTREAM_MODEL = {"claude": "claude-sonnet-4-5", "gemini": "gemini-2.5-pro", "openai": "gpt-5"}
# (input without cache, cache reads, output) each fake reports.
USAGE = {"claude": (2095, 20480, 187), "gemini": (200, 1000, 40), "openai": (200, 1000, 40)}
TOOL = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a file of the repository.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
}
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a5"
        "d1b40000000049454e44ae426082"
    )
).decode()


@pytest.fixture
async def chat(gateway: Running) -> Any:
    async with openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=MASTER_KEY,
        max_retries=0,
        timeout=20,
        http_client=httpx2.AsyncClient(verify=CLIENT_TLS),
    ) as client:
        yield client


async def _channel(
    gateway: Running, upstreams: UpstreamFactory, kind: str, **fields: Any
) -> tuple[FakeUpstream, Any]:
    up = await upstreams(responder=RESPONDERS[kind])
    channel = await gateway.add_channel(
        "chat",
        kind,
        up.url,
        fields.pop("keys", ["upstream-key-1"]),
        service_type=kind,
        model_mapping={MODEL: UPSTREAM_MODEL[kind]},
        **fields,
    )
    return up, channel


@pytest.mark.parametrize("kind", KINDS)
async def test_non_stream_text(
    gateway: Running, upstreams: UpstreamFactory, chat: openai.AsyncOpenAI, kind: str
) -> None:
    up, channel = await _channel(gateway, upstreams, kind)

    done = await chat.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]

    assert done.choices[0].message.content == _DEFAULT_TEXT
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    fresh, cached, output = USAGE[kind]
    assert done.usage.completion_tokens == output
    (sent,) = up.requests
    assert sent.json().get("model", UPSTREAM_MODEL[kind]) == UPSTREAM_MODEL[kind]
    assert "upstream-key-1" in json.dumps(dict(sent.headers))
    assert MASTER_KEY not in json.dumps(dict(sent.headers))
    (row,) = await gateway.logs()
    assert (row.endpoint, row.status, row.http_status) == ("/v1/chat/completions", "completed", 200)
    assert row.channel_uid == channel.channel_id
    assert (row.input_tokens, row.cache_read_input_tokens, row.output_tokens) == USAGE[kind]
    assert row.first_token_time is None


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_with_usage(
    gateway: Running, upstreams: UpstreamFactory, chat: openai.AsyncOpenAI, kind: str
) -> None:
    await gateway.add_price(UPSTREAM_MODEL[kind], 2.0, 10.0, cache_read_price=0.5)
    await _channel(gateway, upstreams, kind)

    stream = await chat.chat.completions.create(
        model=MODEL,
        messages=PROMPT,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == _DEFAULT_TEXT
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices
    fresh, cached, output = USAGE[kind]
    assert usage.completion_tokens == output
    (row,) = await gateway.logs()
    assert (row.status, row.http_status, row.stream) == ("completed", 200, True)
    assert (row.input_tokens, row.cache_read_input_tokens, row.output_tokens) == USAGE[kind]
    assert row.first_token_time is not None
    assert row.input_cost == pytest.approx(fresh * 2.0 / 1e6)
    assert row.cache_read_cost == pytest.approx(cached * 0.5 / 1e6)
    assert row.output_cost == pytest.approx(output * 10.0 / 1e6)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", KINDS)
async def test_tool_loop(
    gateway: Running,
    upstreams: UpstreamFactory,
    chat: openai.AsyncOpenAI,
    kind: str,
    stream: bool,
) -> None:
    up, _ = await _channel(gateway, upstreams, kind)
    messages: list[dict[str, Any]] = list(PROMPT)

    async def ask() -> tuple[str, str, list[dict[str, Any]]]:
        if not stream:
            done = await chat.chat.completions.create(
                model=MODEL,
                messages=messages,  # type: ignore[arg-type]
                tools=[TOOL],  # type: ignore[list-item]
            )
            msg = done.choices[0].message
            calls = [c.model_dump() for c in msg.tool_calls or ()]
            return done.choices[0].finish_reason, msg.content or "", calls
        events = await chat.chat.completions.create(
            model=MODEL,
            messages=messages,  # type: ignore[arg-type]
            tools=[TOOL],  # type: ignore[list-item]
            stream=True,
            stream_options={"include_usage": True},
        )
        text, finish, calls = "", "", {}
        async for chunk in events:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
                for part in choice.delta.tool_calls or ():
                    call = calls.setdefault(
                        part.index,
                        {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                    )
                    call["id"] = part.id or call["id"]
                    if part.function is not None:
                        call["function"]["name"] += part.function.name or ""
                        call["function"]["arguments"] += part.function.arguments or ""
        return finish, text, list(calls.values())

    finish, _, calls = await ask()
    assert finish == "tool_calls"
    (call,) = calls
    assert call["function"]["name"] == "read_file"
    assert json.loads(call["function"]["arguments"]) == FAKE_TOOL_ARGS
    assert call["id"]
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "def f(): pass"},
    ]

    finish, text, calls = await ask()

    assert (finish, text, calls) == ("stop", _DEFAULT_TEXT, [])
    assert len(up.requests) == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_image(
    gateway: Running, upstreams: UpstreamFactory, chat: openai.AsyncOpenAI, kind: str
) -> None:
    await _channel(gateway, upstreams, kind)
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}

    done = await chat.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is it?"}]}],
    )

    assert done.choices[0].message.content == FAKE_SAW_IMAGE


async def test_sync_client(gateway: Running, upstreams: UpstreamFactory) -> None:
    await _channel(gateway, upstreams, "claude")

    def ask() -> tuple[str | None, str]:
        with openai.OpenAI(
            base_url=f"{gateway.url}/v1",
            api_key=MASTER_KEY,
            max_retries=0,
            timeout=20,
            http_client=httpx2.Client(verify=CLIENT_TLS),
        ) as client:
            done = client.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]
            stream = client.chat.completions.create(
                model=MODEL,
                messages=PROMPT,  # type: ignore[arg-type]
                stream=True,
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            return done.choices[0].message.content, text

    whole, streamed = await asyncio.to_thread(ask)

    assert whole == streamed == _DEFAULT_TEXT


async def test_passthrough_url_and_body(
    gateway: Running, upstreams: UpstreamFactory, chat: openai.AsyncOpenAI
) -> None:
    up = await upstreams(responder=chat_responder)
    await gateway.add_channel(
        "chat", "v", up.url + "/v2", ["k"], service_type="openai_chat", model_mapping={}
    )

    await chat.chat.completions.create(model=MODEL, messages=PROMPT, temperature=0.25)  # type: ignore[arg-type]

    (sent,) = up.requests
    assert sent.path == "/v2/chat/completions"  # a versioned base gets no /v1
    assert (sent.header("user-agent") or "").startswith("AsyncOpenAI/Python")
    assert sent.header("authorization") == "Bearer k"
    assert sent.json()["temperature"] == 0.25 and sent.json()["model"] == MODEL


@pytest.mark.parametrize("stream", [False, True])
async def test_failover_across_types(
    gateway: Running, upstreams: UpstreamFactory, chat: openai.AsyncOpenAI, stream: bool
) -> None:
    broken = await gateway.add_channel("chat", "dead", dead_url(), ["k1"], service_type="openai")
    up, live = await _channel(gateway, upstreams, "claude")

    if stream:
        events = await chat.chat.completions.create(
            model=MODEL,
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
        )
        text = "".join([c.choices[0].delta.content or "" async for c in events if c.choices])
    else:
        done = await chat.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]
        text = done.choices[0].message.content or ""

    assert text == _DEFAULT_TEXT
    failed, served = await gateway.logs()
    assert (failed.status, failed.channel_uid) == ("failover", broken.channel_id)
    assert (served.status, served.channel_uid) == ("completed", live.channel_id)
    assert len(up.requests) == 1


async def test_passthrough_stream_cut_before_content_fails_over(
    gateway: Running, upstreams: UpstreamFactory, chat: openai.AsyncOpenAI
) -> None:
    role = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-5",
        "choices": [{"index": 0, "delta": {"role": "assistant"}}],
    }
    cut = SseReply([SseEvent(role), SseEvent(role)])
    bad = await upstreams(CloseAfter(cut, cut.wire_length_through(1)))
    broken = await gateway.add_channel("chat", "cut", bad.url, ["k1"], service_type="openai")
    _, live = await _channel(gateway, upstreams, "gemini")

    events = await chat.chat.completions.create(
        model=MODEL,
        messages=PROMPT,  # type: ignore[arg-type]
        stream=True,
    )
    text = "".join([c.choices[0].delta.content or "" async for c in events if c.choices])

    assert text == _DEFAULT_TEXT
    failed, served = await gateway.logs()
    assert (failed.status, failed.channel_uid) == ("failover", broken.channel_id)
    assert (served.status, served.channel_uid) == ("completed", live.channel_id)


@pytest.mark.parametrize("kind", KINDS)
async def test_upstream_error_in_openai_shape(
    gateway: Running, upstreams: UpstreamFactory, chat: openai.AsyncOpenAI, kind: str
) -> None:
    bad = await upstreams(openai_error(400, "context too long", "invalid_request_error"))
    await gateway.add_channel("chat", "bad", bad.url, ["k1"], service_type=kind)

    with pytest.raises(openai.BadRequestError) as caught:
        await chat.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]

    body = caught.value.body
    assert isinstance(body, dict) and "context too long" in body["message"]
    (row,) = await gateway.logs()
    assert (row.status, row.http_status) == ("error", 400)


async def test_proxy_errors_in_openai_shape(
    gateway: Running, chat: openai.AsyncOpenAI, upstreams: UpstreamFactory
) -> None:
    with pytest.raises(openai.NotFoundError) as none:
        await chat.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]
    assert none.value.status_code == 404
    assert isinstance(none.value.body, dict) and none.value.code == "NO_CHANNELS_CONFIGURED"
    assert none.value.body["message"] == "no channel is configured for the chat pool"

    await _channel(gateway, upstreams, "openai")
    key = await gateway.add_key("messages-only", allowed_endpoints=["messages"])
    async with openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=key,
        max_retries=0,
        http_client=httpx2.AsyncClient(verify=CLIENT_TLS),
    ) as limited:
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await limited.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]
    assert isinstance(denied.value.body, dict)
    assert denied.value.body["code"] == "ENDPOINT_NOT_ALLOWED"


async def test_quota_usage_recorded(
    gateway: Running, upstreams: UpstreamFactory, chat: openai.AsyncOpenAI
) -> None:
    _, channel = await _channel(gateway, upstreams, "gemini", quota_type="requests", quota_limit=1)

    await chat.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]
    with pytest.raises(openai.APIStatusError) as spent:
        await chat.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]

    assert spent.value.status_code == 503
    usage = await gateway.usage(channel.channel_id)
    assert usage is not None and usage.used == 1.0


async def test_passthrough_stream_cut_after_content_ends_with_error(
    gateway: Running, upstreams: UpstreamFactory, chat: openai.AsyncOpenAI
) -> None:
    base = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-5"}
    text = {**base, "choices": [{"index": 0, "delta": {"content": "Half an ans"}}]}
    cut = SseReply([SseEvent(text), SseEvent(text)])
    bad = await upstreams(CloseAfter(cut, cut.wire_length_through(1)))
    channel = await gateway.add_channel("chat", "cut", bad.url, ["k1"], service_type="openai")

    seen: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        events = await chat.chat.completions.create(
            model=MODEL,
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
        )
        async for chunk in events:
            seen.append(chunk.choices[0].delta.content or "")

    assert seen == ["Half an ans"]
    assert "upstream stream broke off" in str(caught.value)
    (row,) = await gateway.logs()
    assert (row.channel_uid, row.status, row.http_status) == (channel.channel_id, "error", 502)
