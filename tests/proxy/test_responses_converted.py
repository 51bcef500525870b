"""Responses clients (Codex) on claude, Chat and Gemini channels (spec §3.3).

The official openai SDK's responses API talks to ccbridge over loopback;
the channels are the checking Messages, Chat and Gemini fakes
(tests/fakes/upstream.py), reached through ResponsesBridge.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.fakes.upstream import (
    _DEFAULT_TEXT,
    FAKE_TOOL_ARGS,
    FakeUpstream,
    chat_responder,
    gemini_responder,
    messages_responder,
    openai_error,
    responses_json_reply,
)
from tests.proxy.conftest import Running, UpstreamFactory, dead_url

MODEL = "gpt-5-codex"
RESPONDERS = {
    "claude": messages_responder,
    "openai": chat_responder,
    "openaiold": chat_responder,
    "gemini": gemini_responder,
    "openai_chat": chat_responder,  # a type without a converter of its own: Chat
}
KINDS = sorted(RESPONDERS)
UPSTREAM_MODEL = {"claude": "claude-sonnet-4-5", "gemini": "gemini-2.5-pro"}
USAGE = {"claude": (2095, 20480, 187), "gemini": (200, 1000, 40)}
TOOL = {
    "type": "function",
    "name": "read_file",
    "description": "Read a file of the repository.",
    "parameters": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
}


async def _channel(
    gateway: Running, upstreams: UpstreamFactory, kind: str
) -> tuple[FakeUpstream, Any]:
    up = await upstreams(responder=RESPONDERS[kind])
    channel = await gateway.add_channel(
        "responses",
        kind,
        up.url,
        ["upstream-key-1"],
        service_type=kind,
        model_mapping={MODEL: UPSTREAM_MODEL.get(kind, "gpt-5")},
    )
    return up, channel


@pytest.mark.parametrize("kind", KINDS)
async def test_create(
    gateway: Running, upstreams: UpstreamFactory, codex: openai.AsyncOpenAI, kind: str
) -> None:
    up, channel = await _channel(gateway, upstreams, kind)

    response = await codex.responses.create(
        model=MODEL, instructions="You fix bugs.", input="Why does test_window fail?"
    )

    assert response.output_text == _DEFAULT_TEXT
    assert response.status == "completed"
    (sent,) = up.requests
    assert "upstream-key-1" in json.dumps(dict(sent.headers))
    (row,) = await gateway.logs()
    assert (row.endpoint, row.status, row.channel_uid) == (
        "/v1/responses",
        "completed",
        channel.channel_id,
    )
    expected = USAGE.get(kind, (200, 1000, 40))
    assert (row.input_tokens, row.cache_read_input_tokens, row.output_tokens) == expected


@pytest.mark.parametrize("kind", KINDS)
async def test_stream(
    gateway: Running, upstreams: UpstreamFactory, codex: openai.AsyncOpenAI, kind: str
) -> None:
    await _channel(gateway, upstreams, kind)

    deltas: list[str] = []
    async with codex.responses.stream(model=MODEL, input="Why does test_window fail?") as stream:
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = await stream.get_final_response()

    assert len(deltas) > 1 and "".join(deltas) == final.output_text == _DEFAULT_TEXT
    (row,) = await gateway.logs()
    assert (row.status, row.stream) == ("completed", True)
    assert row.first_token_time is not None
    assert row.output_tokens == USAGE.get(kind, (200, 1000, 40))[2]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", ["claude", "openai", "gemini"])
async def test_tool_loop(
    gateway: Running,
    upstreams: UpstreamFactory,
    codex: openai.AsyncOpenAI,
    kind: str,
    stream: bool,
) -> None:
    up, _ = await _channel(gateway, upstreams, kind)
    items: list[Any] = [{"role": "user", "content": "Read app.py"}]

    async def ask() -> Any:
        if not stream:
            return await codex.responses.create(
                model=MODEL,
                input=items,
                tools=[TOOL],  # type: ignore[list-item]
                store=False,
            )
        async with codex.responses.stream(
            model=MODEL,
            input=items,
            tools=[TOOL],  # type: ignore[list-item]
            store=False,
        ) as s:
            return await s.get_final_response()

    first = await ask()
    (call,) = [o for o in first.output if o.type == "function_call"]
    assert call.name == "read_file" and json.loads(call.arguments) == FAKE_TOOL_ARGS
    items += [o.model_dump(exclude_none=True) for o in first.output]
    items.append({"type": "function_call_output", "call_id": call.call_id, "output": "ok"})

    second = await ask()

    assert second.output_text == _DEFAULT_TEXT
    assert len(up.requests) == 2


async def test_previous_response_id_on_stateless_channel_is_400(
    gateway: Running, upstreams: UpstreamFactory, codex: openai.AsyncOpenAI
) -> None:
    up, _ = await _channel(gateway, upstreams, "claude")

    with pytest.raises(openai.BadRequestError) as caught:
        await codex.responses.create(
            model=MODEL, input="and now?", previous_response_id="resp_earlier"
        )

    assert "previous_response_id" in str(caught.value)
    assert up.requests == ()


async def test_previous_response_id_goes_to_a_responses_channel(
    gateway: Running, upstreams: UpstreamFactory, codex: openai.AsyncOpenAI
) -> None:
    await _channel(gateway, upstreams, "claude")
    native = await upstreams(responses_json_reply(text="continued"))
    await gateway.add_channel("responses", "native", native.url, ["k"], priority=5)

    response = await codex.responses.create(
        model=MODEL, input="and now?", previous_response_id="resp_earlier"
    )

    assert response.output_text == "continued"
    assert native.requests[0].json()["previous_response_id"] == "resp_earlier"


async def test_failover_dead_claude_to_gemini(
    gateway: Running, upstreams: UpstreamFactory, codex: openai.AsyncOpenAI
) -> None:
    dead = await gateway.add_channel(
        "responses", "dead", dead_url(), ["k"], service_type="claude", priority=1
    )
    up, live = await _channel(gateway, upstreams, "gemini")

    response = await codex.responses.create(model=MODEL, input="hi")

    assert response.output_text == _DEFAULT_TEXT
    failed, served = await gateway.logs()
    assert (failed.status, failed.channel_uid) == ("failover", dead.channel_id)
    assert (served.status, served.channel_uid) == ("completed", live.channel_id)


async def test_upstream_error_in_openai_shape(
    gateway: Running, upstreams: UpstreamFactory, codex: openai.AsyncOpenAI
) -> None:
    bad = await upstreams(openai_error(400, "context too long", "invalid_request_error"))
    await gateway.add_channel("responses", "bad", bad.url, ["k1"], service_type="claude")

    with pytest.raises(openai.BadRequestError) as caught:
        await codex.responses.create(model=MODEL, input="hi")

    assert "context too long" in str(caught.value)
