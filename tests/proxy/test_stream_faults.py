"""Upstream faults: silent, endless, truncated and malformed answers (issue 17).

Before any byte reached the client a fault is a broken connection (the
next channel serves); after output began the client gets the API's own
error event and the row is an error with the tokens seen so far. None is
ever logged `completed`.
"""

from __future__ import annotations

import json

import anthropic
import pytest

from tests.fakes.upstream import (
    JsonReply,
    SseEvent,
    SseReply,
    messages_json_reply,
    messages_sse_events,
    messages_sse_reply,
    responses_sse_events,
    responses_sse_reply,
)
from tests.proxy.conftest import (
    MASTER_KEY,
    Running,
    UpstreamFactory,
    claude_client,
    http_client,
)

MODEL = "claude-haiku-4-5"
ANT_KEY = "sk-ant-faults-0001"
OAI_KEY = "sk-proj-faults-0001"
PROMPT = [{"role": "user", "content": "fix the off-by-one"}]


async def _post(gateway: Running, pool: str, *, stream: bool = True) -> tuple[int, bytes]:
    if pool == "messages":
        path, headers = "/v1/messages", {"x-api-key": MASTER_KEY}
        body = {"model": MODEL, "max_tokens": 8, "messages": PROMPT, "stream": stream}
    else:
        path, headers = "/v1/responses", {"authorization": f"Bearer {MASTER_KEY}"}
        body = {"model": "gpt-5-codex", "input": "hi", "stream": stream}
    async with http_client() as http:
        resp = await http.post(gateway.url + path, json=body, headers=headers)
    return resp.status_code, resp.content


def _last_event(body: bytes) -> tuple[str, dict[str, object]]:
    *_, last = [e for e in body.split(b"\n\n") if e.strip()]
    name, data = last.split(b"\n", 1)
    return name.removeprefix(b"event: ").decode(), json.loads(data.removeprefix(b"data: "))


@pytest.mark.gateway_env(STREAM_IDLE_TIMEOUT="300")
async def test_silent_claude_stream_after_output_ends_with_error_event(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    events = messages_sse_events(deltas=2)
    stall = SseEvent({"type": "content_block_stop", "index": 0}, "content_block_stop", delay=5)
    up = await upstreams(SseReply([*events[:5], stall, *events[6:]]))
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    async with claude_client(gateway) as claude:
        with pytest.raises(anthropic.APIStatusError) as info:
            async with claude.messages.stream(model=MODEL, max_tokens=8, messages=PROMPT) as stream:
                await stream.get_final_message()

    assert "stream idle timeout" in str(info.value)
    (row,) = await gateway.logs()
    assert (row.status, row.http_status) == ("error", 502)
    assert "stream idle timeout: no data for 0.3s" in (row.error or "")
    assert row.input_tokens == 2095  # the tokens seen so far (message_start)


@pytest.mark.gateway_env(STREAM_IDLE_TIMEOUT="300")
async def test_silent_responses_stream_after_output_ends_with_response_failed(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    events = responses_sse_events(deltas=3)
    stalled = SseEvent(events[6].data, events[6].event, delay=5)
    up = await upstreams(SseReply([*events[:6], stalled, *events[7:]]))
    await gateway.add_channel("responses", "r1", up.url, [OAI_KEY])

    status, body = await _post(gateway, "responses")

    assert status == 200
    name, data = _last_event(body)
    assert name == "response.failed"
    assert data["type"] == "response.failed"
    assert "stream idle timeout" in json.dumps(data)
    (row,) = await gateway.logs()
    assert (row.status, row.http_status) == ("error", 502)
    assert "stream idle timeout" in (row.error or "")


@pytest.mark.gateway_env(STREAM_IDLE_TIMEOUT="300")
async def test_silent_stream_before_output_fails_over(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    events = messages_sse_events(deltas=2)
    stalled = SseEvent(events[1].data, events[1].event, delay=5)
    a = await upstreams(SseReply([events[0], stalled, *events[2:]]))
    reply = messages_sse_reply(deltas=2)
    b = await upstreams(reply)
    await gateway.add_channel("messages", "a", a.url, [ANT_KEY], priority=1)
    await gateway.add_channel("messages", "b", b.url, [ANT_KEY], priority=2)

    status, body = await _post(gateway, "messages")

    assert (status, body) == (200, reply.body_bytes)
    rows = await gateway.logs()
    assert [(r.channel_name, r.status) for r in rows] == [("a", "failover"), ("b", "completed")]
    assert "stream idle timeout" in (rows[0].failover_info or "")


@pytest.mark.gateway_env(STREAM_MAX_DURATION="600")
async def test_endless_stream_is_cut_at_the_overall_limit(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    # Each event comes in time; the whole stream does not.
    up = await upstreams(messages_sse_reply(deltas=20, event_delay=0.1))
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    status, body = await _post(gateway, "messages")

    assert status == 200
    name, data = _last_event(body)
    assert (name, data["type"]) == ("error", "error")
    (row,) = await gateway.logs()
    assert row.status == "error"
    assert "overall limit of 0.6s" in (row.error or "")


@pytest.mark.parametrize("pool", ["messages", "responses"])
async def test_stream_without_terminal_event_after_output_is_an_error(
    gateway: Running, upstreams: UpstreamFactory, pool: str
) -> None:
    events = messages_sse_events() if pool == "messages" else responses_sse_events()
    up = await upstreams(SseReply(events[:-1]))  # no message_stop / response.completed
    await gateway.add_channel(pool, "c1", up.url, [ANT_KEY if pool == "messages" else OAI_KEY])

    status, body = await _post(gateway, pool)

    assert status == 200
    assert body.startswith(b"".join(e.encode() for e in events[:-1]))
    name, _ = _last_event(body)
    assert name == ("error" if pool == "messages" else "response.failed")
    (row,) = await gateway.logs()
    assert row.status == "error"
    assert "without its terminal event" in (row.error or "")


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(SseReply(messages_sse_events()[:1]), id="ends-after-message-start"),
        pytest.param(SseReply([b"this is not an event stream\n"]), id="not-sse"),
        pytest.param(
            SseReply([b"<html>gateway error</html>\n\n<p>retry</p>\n\n"]), id="html-as-sse"
        ),
    ],
)
async def test_bad_stream_before_output_fails_over(
    gateway: Running, upstreams: UpstreamFactory, broken: SseReply
) -> None:
    a = await upstreams(broken)
    reply = messages_sse_reply(deltas=2)
    b = await upstreams(reply)
    await gateway.add_channel("messages", "a", a.url, [ANT_KEY], priority=1)
    await gateway.add_channel("messages", "b", b.url, [ANT_KEY], priority=2)

    status, body = await _post(gateway, "messages")

    assert (status, body) == (200, reply.body_bytes)
    rows = await gateway.logs()
    assert [(r.channel_name, r.status) for r in rows] == [("a", "failover"), ("b", "completed")]


async def test_not_sse_responses_stream_fails_over(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    a = await upstreams(SseReply([b'{"not": "sse"}']))
    reply = responses_sse_reply(deltas=2)
    b = await upstreams(reply)
    await gateway.add_channel("responses", "a", a.url, [OAI_KEY], priority=1)
    await gateway.add_channel("responses", "b", b.url, [OAI_KEY], priority=2)

    status, body = await _post(gateway, "responses")

    assert (status, body) == (200, reply.body_bytes)
    rows = await gateway.logs()
    assert [(r.channel_name, r.status) for r in rows] == [("a", "failover"), ("b", "completed")]


@pytest.mark.parametrize("stream", [False, True])
async def test_invalid_json_200_fails_over(
    gateway: Running, upstreams: UpstreamFactory, stream: bool
) -> None:
    a = await upstreams(JsonReply(b'{"id": "msg_1", "content": [', status=200))
    reply = messages_json_reply(text="fine")
    b = await upstreams(reply)
    await gateway.add_channel("messages", "a", a.url, [ANT_KEY], priority=1)
    await gateway.add_channel("messages", "b", b.url, [ANT_KEY], priority=2)

    status, body = await _post(gateway, "messages", stream=stream)

    assert (status, body) == (200, reply.body_bytes)
    rows = await gateway.logs()
    assert [(r.channel_name, r.status) for r in rows] == [("a", "failover"), ("b", "completed")]
    assert "not valid JSON" in (rows[0].failover_info or "")


async def test_invalid_json_200_alone_is_never_completed(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(JsonReply(b"<html>oops</html>", status=200))
    await gateway.add_channel("messages", "a", up.url, [ANT_KEY])

    status, _ = await _post(gateway, "messages", stream=False)

    assert status >= 500
    rows = await gateway.logs()
    assert rows and all(r.status != "completed" for r in rows)
