"""Claude Code clients served by non-Anthropic channels (issue 18, spec §3.3).

The official anthropic SDK talks to ccbridge over loopback; the channels are
fake Chat Completions, Gemini and Responses upstreams that check what they
receive (tests/fakes/upstream.py), so a malformed conversion fails here.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from typing import Any

import anthropic
import pytest

from generated.rows import SettingsRow
from tests.fakes.upstream import (
    _DEFAULT_TEXT,
    FAKE_SAW_IMAGE,
    FAKE_THOUGHT,
    FAKE_TOOL_ARGS,
    CloseAfter,
    FakeUpstream,
    JsonReply,
    SseEvent,
    SseReply,
    chat_emulated_responder,
    chat_responder,
    gemini_responder,
    openai_error,
    responses_responder,
)
from tests.proxy.conftest import (
    CLIENT_TLS,
    MASTER_KEY,
    Running,
    UpstreamFactory,
    dead_url,
)

MODEL = "claude-sonnet-4-5"
PROMPT = [{"role": "user", "content": "Why does test_window fail?"}]
RESPONDERS = {
    "openai": chat_responder,
    "openaiold": chat_responder,
    "openai_chat": chat_emulated_responder,
    "gemini": gemini_responder,
    "responses": responses_responder,
    "openai-oauth": responses_responder,
}
NATIVE = ["openai", "openaiold", "gemini", "responses", "openai-oauth"]
UPSTREAM_MODEL = {"gemini": "gemini-2.5-pro"}
TOOL = {
    "name": "read_file",
    "description": "Read a file of the repository.",
    "input_schema": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
}
# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a5"
        "d1b40000000049454e44ae426082"
    )
).decode()


async def _converted_channel(
    gateway: Running, upstreams: UpstreamFactory, kind: str, **fields: Any
) -> tuple[FakeUpstream, Any]:
    up = await upstreams(responder=RESPONDERS[kind])
    if kind == "openai-oauth":  # no API key: the OAuth access token serves
        fields.setdefault("oauth_tokens", {"access_token": "oauth-access", "account_id": "acct-42"})
        fields.setdefault("keys", [])
    mapping = {MODEL: UPSTREAM_MODEL.get(kind, "gpt-5")}
    channel = await gateway.add_channel(
        "messages",
        kind,
        up.url,
        fields.pop("keys", ["upstream-key-1"]),
        service_type=kind,
        model_mapping=mapping,
        **fields,
    )
    return up, channel


def _text(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


@pytest.mark.parametrize("kind", sorted(RESPONDERS))
async def test_non_stream_text(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic, kind: str
) -> None:
    up, _ = await _converted_channel(gateway, upstreams, kind)

    message = await claude.messages.create(
        model=MODEL, max_tokens=256, system="You fix bugs.", messages=PROMPT
    )

    assert _text(message) == _DEFAULT_TEXT
    assert message.stop_reason == "end_turn"
    assert message.role == "assistant"
    (sent,) = up.requests
    key = "oauth-access" if kind == "openai-oauth" else "upstream-key-1"
    assert key in json.dumps(dict(sent.headers))


@pytest.mark.parametrize("kind", sorted(RESPONDERS))
async def test_stream_text(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic, kind: str
) -> None:
    await _converted_channel(gateway, upstreams, kind)

    async with claude.messages.stream(model=MODEL, max_tokens=256, messages=PROMPT) as stream:
        deltas = [text async for text in stream.text_stream]
        message = await stream.get_final_message()

    assert len(deltas) > 1
    assert "".join(deltas) == _text(message) == _DEFAULT_TEXT
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", [*NATIVE, "openai_chat"])
async def test_tool_loop(
    gateway: Running,
    upstreams: UpstreamFactory,
    claude: anthropic.AsyncAnthropic,
    kind: str,
    stream: bool,
) -> None:
    up, _ = await _converted_channel(gateway, upstreams, kind)
    messages: list[dict[str, Any]] = list(PROMPT)

    async def ask() -> anthropic.types.Message:
        if not stream:
            return await claude.messages.create(
                model=MODEL, max_tokens=256, messages=messages, tools=[TOOL]
            )
        async with claude.messages.stream(
            model=MODEL, max_tokens=256, messages=messages, tools=[TOOL]
        ) as s:
            return await s.get_final_message()

    first = await ask()
    assert first.stop_reason == "tool_use"
    (call,) = [b for b in first.content if b.type == "tool_use"]
    assert (call.name, call.input) == ("read_file", FAKE_TOOL_ARGS)
    assert call.id
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": "def f(): pass"}
            ],
        },
    ]

    second = await ask()

    assert _text(second) == _DEFAULT_TEXT
    assert second.stop_reason == "end_turn"
    assert len(up.requests) == 2


@pytest.mark.parametrize("kind", NATIVE)
async def test_image(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic, kind: str
) -> None:
    await _converted_channel(gateway, upstreams, kind)
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}

    message = await claude.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is it?"}]}],
    )

    assert _text(message) == FAKE_SAW_IMAGE


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_thinking(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic, stream: bool
) -> None:
    up, _ = await _converted_channel(gateway, upstreams, "openai")
    ask: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 4096,
        "messages": PROMPT,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }

    if stream:
        async with claude.messages.stream(**ask) as s:
            message = await s.get_final_message()
    else:
        message = await claude.messages.create(**ask)

    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == FAKE_THOUGHT  # type: ignore[union-attr]
    assert _text(message) == _DEFAULT_TEXT
    assert up.requests[0].json()["reasoning_effort"] == "low"


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_thinking(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic, stream: bool
) -> None:
    up, _ = await _converted_channel(gateway, upstreams, "gemini")
    ask: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 4096,
        "messages": PROMPT,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }

    if stream:
        async with claude.messages.stream(**ask) as s:
            message = await s.get_final_message()
    else:
        message = await claude.messages.create(**ask)

    kinds = [b.type for b in message.content]
    assert kinds == ["thinking", "text"]
    assert message.content[0].thinking == FAKE_THOUGHT  # type: ignore[union-attr]
    config = up.requests[0].json()["generationConfig"]["thinkingConfig"]
    assert config["includeThoughts"] is True


async def test_sync_sdk_stream_and_not(gateway: Running, upstreams: UpstreamFactory) -> None:
    await _converted_channel(gateway, upstreams, "openai")

    def run() -> tuple[str, str]:
        import httpx2

        with anthropic.Anthropic(
            base_url=gateway.url,
            api_key=MASTER_KEY,
            max_retries=0,
            timeout=20,
            http_client=httpx2.Client(verify=CLIENT_TLS),
        ) as client:
            whole = client.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)
            with client.messages.stream(model=MODEL, max_tokens=64, messages=PROMPT) as s:
                streamed = "".join(s.text_stream)
        return _text(whole), streamed

    whole, streamed = await asyncio.to_thread(run)

    assert whole == streamed == _DEFAULT_TEXT


async def test_requests_sent_per_type(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    sent: dict[str, Any] = {}
    for kind in ("openai", "gemini", "responses", "openai-oauth"):
        up, channel = await _converted_channel(gateway, upstreams, kind)
        await claude.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)
        sent[kind] = up.requests[-1]
        await gateway.update_channel(channel, status="disabled")

    assert sent["openai"].path == "/v1/chat/completions"
    assert sent["openai"].header("authorization") == "Bearer upstream-key-1"
    assert sent["openai"].json()["model"] == "gpt-5"
    assert sent["gemini"].path == "/models/gemini-2.5-pro:generateContent"
    assert sent["gemini"].header("x-goog-api-key") == "upstream-key-1"
    assert sent["responses"].path == "/v1/responses"
    assert sent["openai-oauth"].path == "/responses"
    assert sent["openai-oauth"].header("authorization") == "Bearer oauth-access"
    assert sent["openai-oauth"].header("chatgpt-account-id") == "acct-42"
    # The Codex backend answers only as a stream: asked to stream, gathered whole.
    assert sent["openai-oauth"].json()["stream"] is True
    assert sent["responses"].json()["stream"] is False
    for request in sent.values():
        assert "x-api-key" not in request.header_names()
        assert "anthropic-version" not in request.header_names()


async def test_session_header_becomes_prompt_cache_key(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    up, _ = await _converted_channel(gateway, upstreams, "responses")

    await claude.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=PROMPT,
        extra_headers={"X-Claude-Code-Session-Id": "sess-from-header"},
    )

    assert up.requests[0].json()["prompt_cache_key"] == "sess-from-header"


async def test_logs_usage_and_cost(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    await gateway.add_price("gemini-2.5-pro", 2.0, 10.0, cache_read_price=0.5)
    _, channel = await _converted_channel(gateway, upstreams, "gemini")

    whole = await claude.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)
    async with claude.messages.stream(model=MODEL, max_tokens=64, messages=PROMPT) as s:
        streamed = await s.get_final_message()

    for message in (whole, streamed):
        assert message.usage.input_tokens == 200  # 1200 prompt - 1000 cached
        assert message.usage.cache_read_input_tokens == 1000
        assert message.usage.output_tokens == 40
    rows = await gateway.logs()
    assert [r.status for r in rows] == ["completed", "completed"]
    for row in rows:
        assert row.channel_uid == channel.channel_id
        assert row.http_status == 200
        assert row.response_model == "gemini-2.5-pro"
        assert (row.input_tokens, row.output_tokens) == (200, 40)
        assert row.cache_read_input_tokens == 1000
        assert row.input_cost == pytest.approx(200 * 2.0 / 1e6)
        assert row.output_cost == pytest.approx(40 * 10.0 / 1e6)
        assert row.cache_read_cost == pytest.approx(1000 * 0.5 / 1e6)
    assert rows[0].stream is False and rows[1].stream is True
    assert rows[0].first_token_time is None
    assert rows[1].first_token_time is not None


@pytest.mark.parametrize("stream", [False, True])
async def test_broken_openai_fails_over_to_gemini(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic, stream: bool
) -> None:
    broken = await gateway.add_channel(
        "messages", "broken", dead_url(), ["k1"], service_type="openai"
    )
    up, live = await _converted_channel(gateway, upstreams, "gemini")

    if stream:
        async with claude.messages.stream(model=MODEL, max_tokens=64, messages=PROMPT) as s:
            message = await s.get_final_message()
    else:
        message = await claude.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)

    assert _text(message) == _DEFAULT_TEXT
    failed, served = await gateway.logs()
    assert (failed.status, failed.channel_uid) == ("failover", broken.channel_id)
    assert (served.status, served.channel_uid) == ("completed", live.channel_id)
    assert len(up.requests) == 1


@pytest.mark.parametrize("how", ["broken", "ended"])
async def test_stream_cut_before_content_fails_over(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic, how: str
) -> None:
    first = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-5"}
    role = {**first, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
    if how == "broken":  # the connection drops mid-body
        cut = SseReply([SseEvent(role), SseEvent(role)])
        bad = await upstreams(CloseAfter(cut, cut.wire_length_through(1)))
        expected = "unavailable (body)"
    else:  # a well-formed body without finish_reason or [DONE]
        bad = await upstreams(SseReply([SseEvent(role)]))
        expected = "stream ended before any content"
    broken = await gateway.add_channel("messages", "cut", bad.url, ["k1"], service_type="openai")
    _, live = await _converted_channel(gateway, upstreams, "gemini")

    async with claude.messages.stream(model=MODEL, max_tokens=64, messages=PROMPT) as s:
        message = await s.get_final_message()

    assert _text(message) == _DEFAULT_TEXT
    failed, served = await gateway.logs()
    assert (failed.status, failed.channel_uid) == ("failover", broken.channel_id)
    assert expected in (failed.upstream_error or "")
    assert (served.status, served.channel_uid) == ("completed", live.channel_id)


async def test_stream_cut_after_content_ends_with_error_event(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    base = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-5"}
    text = {**base, "choices": [{"index": 0, "delta": {"content": "Half an ans"}}]}
    cut = SseReply([SseEvent(text), SseEvent(text)])
    bad = await upstreams(CloseAfter(cut, cut.wire_length_through(1)))
    channel = await gateway.add_channel("messages", "cut", bad.url, ["k1"], service_type="openai")
    _, spare = await _converted_channel(gateway, upstreams, "gemini")

    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with claude.messages.stream(model=MODEL, max_tokens=64, messages=PROMPT) as s:
            async for text_delta in s.text_stream:
                seen.append(text_delta)

    assert seen == ["Half an ans"]
    assert "upstream stream" in str(caught.value)
    (row,) = await gateway.logs()
    assert (row.channel_uid, row.status, row.http_status) == (channel.channel_id, "error", 502)


async def test_upstream_error_in_anthropic_shape_and_failover_sees_real_body(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    bad = await upstreams(openai_error(400, "context too long", "invalid_request_error"))
    await gateway.add_channel("messages", "bad", bad.url, ["k1"], service_type="openai")

    with pytest.raises(anthropic.BadRequestError) as caught:
        await claude.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)

    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "context too long" in body["error"]["message"]
    (row,) = await gateway.logs()
    assert row.http_status == 400
    assert '"message":"context too long"' in (row.upstream_error or "")


async def test_non_json_200_fails_over(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    bad = await upstreams(JsonReply(b"<html>gateway</html>", headers={"content-type": "text/html"}))
    broken = await gateway.add_channel("messages", "bad", bad.url, ["k1"], service_type="openai")
    _, live = await _converted_channel(gateway, upstreams, "responses")

    message = await claude.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)

    assert _text(message) == _DEFAULT_TEXT
    failed, served = await gateway.logs()
    assert (failed.status, failed.channel_uid) == ("failover", broken.channel_id)
    assert (served.status, served.channel_uid) == ("completed", live.channel_id)


@pytest.mark.parametrize("stream", [False, True])
async def test_content_filter_reads_the_converted_answer(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic, stream: bool
) -> None:
    await gateway.set_failover([{"errorCodes": "429", "actionChain": [{"action": "failover"}]}])
    rule = {"keyword": "here is the fix", "statusCode": 429}
    filtered, _ = await _converted_channel(
        gateway,
        upstreams,
        "openai",
        priority=1,
        content_filter={"enabled": True, "rules": [rule]},
    )
    clean, served_by = await _converted_channel(gateway, upstreams, "gemini", priority=2)

    if stream:
        async with claude.messages.stream(model=MODEL, max_tokens=64, messages=PROMPT) as s:
            message = await s.get_final_message()
    else:
        message = await claude.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)

    assert _text(message) == _DEFAULT_TEXT
    assert (len(filtered.requests), len(clean.requests)) == (1, 1)
    failed, served = await gateway.logs()
    assert (failed.status, failed.http_status) == ("failover", 429)
    assert (served.status, served.channel_uid) == ("completed", served_by.channel_id)


async def test_debug_capture_keeps_the_converted_answer(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    await _converted_channel(gateway, upstreams, "openai")
    setting = json.dumps({"enabled": True, "maxBodySize": 1 << 20})
    async with gateway.db.transaction() as tx:
        await tx.settings.upsert(SettingsRow(key="debug_log", value=setting, category="config"))
        await tx.settings.bump_revision()
    await gateway.reload()

    await claude.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)
    async with claude.messages.stream(model=MODEL, max_tokens=64, messages=PROMPT) as s:
        await s.get_final_message()

    logs = await gateway.logs()
    debug = await gateway.db.daos.request_debug_logs.list(order_by="created_at")
    assert [d.request_id for d in debug] == [row.id for row in logs]
    whole, streamed = (gzip.decompress(d.response_body or b"") for d in debug)
    assert json.loads(whole)["type"] == "message"  # what the client got: Messages, not Chat
    assert streamed.startswith(b"event: message_start") and b"event: message_stop" in streamed
