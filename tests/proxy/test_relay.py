"""The relay passes upstream answers through unchanged (spec §3.3, §3.7)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.upstream import (
    CloseAfter,
    JsonReply,
    SseEvent,
    SseReply,
    messages_json_reply,
    messages_sse_reply,
    responses_sse_events,
    responses_sse_reply,
)
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory, http_client

MODEL = "claude-haiku-4-5"
ANT_KEY = "sk-ant-relay-0001"
OAI_KEY = "sk-proj-relay-0001"
PROMPT = [{"role": "user", "content": "fix the off-by-one"}]


@dataclass(frozen=True)
class RawReply:
    """A response as the client received it, body undecoded."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


async def _raw_post(
    url: str, path: str, body: dict[str, object], headers: dict[str, str]
) -> RawReply:
    """POST and return the response with its raw body bytes."""
    async with http_client() as http:
        async with http.stream("POST", url + path, json=body, headers=headers) as resp:
            raw = b"".join([chunk async for chunk in resp.aiter_raw()])
    return RawReply(resp.status_code, resp.headers, raw)


async def _post_message(gateway: Running, *, stream: bool = False, **extra: object) -> RawReply:
    """POST a small Messages request with the master key; return the raw reply."""
    body = {"model": MODEL, "max_tokens": 8, "messages": PROMPT, "stream": stream, **extra}
    return await _raw_post(gateway.url, "/v1/messages", body, {"x-api-key": MASTER_KEY})


async def test_messages_sse_is_relayed_byte_for_byte(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    reply = messages_sse_reply(deltas=["Hel", "lo, ", "wörld ✓"])
    up = await upstreams(reply)
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    resp = await _raw_post(
        gateway.url,
        "/v1/messages",
        {"model": MODEL, "max_tokens": 64, "messages": PROMPT, "stream": True},
        {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"},
    )

    assert resp.status_code == 200
    assert resp.content == reply.body_bytes
    assert resp.headers["content-type"] == "text/event-stream"
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.headers["request-id"] == "req_011CUmX7fake"  # upstream header copied
    (seen,) = up.requests
    assert (seen.method, seen.path) == ("POST", "/v1/messages")
    assert seen.header("x-api-key") == ANT_KEY  # the channel key, not the client's
    assert seen.header("accept") == "text/event-stream"
    assert seen.json()["stream"] is True


async def test_responses_sse_is_relayed_byte_for_byte_even_when_split(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    # Cut every event in two chunks (mid-JSON) and use CRLF line ends in one.
    events: list[SseEvent | bytes] = []
    for i, event in enumerate(responses_sse_events(deltas=3)):
        data = event.encode()
        if i == 2:
            data = data.replace(b"\n", b"\r\n")
        events += [data[:7], data[7:]]
    reply = SseReply(events, headers={"x-request-id": "req_split"})
    up = await upstreams(reply)
    await gateway.add_channel("responses", "r1", up.url, [OAI_KEY])

    resp = await _raw_post(
        gateway.url,
        "/v1/responses",
        {"model": "gpt-5-codex", "input": "hi", "stream": True},
        {"authorization": f"Bearer {MASTER_KEY}"},
    )

    assert resp.status_code == 200
    assert resp.content == reply.body_bytes
    assert resp.headers["x-request-id"] == "req_split"
    (seen,) = up.requests
    assert seen.path == "/v1/responses"
    assert seen.header("authorization") == f"Bearer {OAI_KEY}"
    (row,) = await gateway.logs()
    # 1820 input of which 1536 cached: input stored without the cached part.
    assert (row.input_tokens, row.cache_read_input_tokens, row.output_tokens) == (284, 1536, 96)


async def test_messages_json_body_is_returned_unchanged(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    reply = messages_json_reply(text="exact bytes ✓")
    up = await upstreams(reply)
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    resp = await _raw_post(
        gateway.url,
        "/v1/messages",
        {"model": MODEL, "max_tokens": 64, "messages": PROMPT},
        {"x-api-key": MASTER_KEY},
    )

    assert resp.status_code == 200
    assert resp.content == reply.body_bytes
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["request-id"] == "req_011CUmX7fake"
    assert up.requests[0].header("accept") != "text/event-stream"


async def test_sdk_text_stream_and_final_message(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    up = await upstreams(messages_sse_reply(deltas=["The ", "answer ", "is 42."], output_tokens=9))
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    async with claude.messages.stream(model=MODEL, max_tokens=64, messages=PROMPT) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()

    assert text == "The answer is 42."
    assert final.usage.output_tokens == 9
    assert final.stop_reason == "end_turn"
    assert json.loads(up.requests[0].body)["model"] == MODEL
    # The tap reads what follows the first content event after relaying it.
    (row,) = await gateway.logs()
    assert (row.status, row.output_tokens) == ("completed", 9)
    assert row.first_token_time is not None


async def test_sdk_non_stream_message(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    up = await upstreams(messages_json_reply(text="done", input_tokens=11, output_tokens=3))
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    message = await claude.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)

    assert message.content[0].text == "done"  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 3)


async def test_responses_sse_sdk_stream_events(
    gateway: Running, upstreams: UpstreamFactory, codex: openai.AsyncOpenAI
) -> None:
    up = await upstreams(responses_sse_reply(deltas=["a", "b", "c"]))
    await gateway.add_channel("responses", "r1", up.url, [OAI_KEY])

    stream = await codex.responses.create(model="gpt-5-codex", input="hi", stream=True)
    kinds = []
    text = ""
    async for event in stream:
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
    assert text == "abc"
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


async def test_claude_stream_error_before_output_is_502(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    start, *_ = messages_sse_reply().events
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    up = await upstreams(SseReply([start, SseEvent(error, "error")]))
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    with pytest.raises(anthropic.InternalServerError) as info:
        async with claude.messages.stream(model=MODEL, max_tokens=8, messages=PROMPT) as stream:
            await stream.get_final_message()

    assert info.value.status_code == 502
    body = info.value.body
    assert isinstance(body, dict)
    assert body["error"]["message"] == "upstream returned Claude stream error: Overloaded"
    (row,) = await gateway.logs()
    assert (row.status, row.http_status, row.error) == ("error", 502, "Overloaded")


async def test_claude_stream_error_after_output_is_forwarded_and_logged(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    events = messages_sse_reply(deltas=2).events[:5]  # start, block start, ping, 2 deltas
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    reply = SseReply([*events, SseEvent(error, "error")])
    up = await upstreams(reply)
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    resp = await _post_message(gateway, stream=True)

    assert resp.status_code == 200
    assert resp.content == reply.body_bytes
    (row,) = await gateway.logs()
    assert (row.status, row.http_status, row.error) == ("error", 200, "Overloaded")


async def test_json_answer_to_stream_request_is_relayed(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    reply = messages_json_reply(text="not streamed", input_tokens=5, output_tokens=2)
    up = await upstreams(reply)
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    resp = await _post_message(gateway, stream=True)

    assert (resp.status_code, resp.content) == (200, reply.body_bytes)
    assert resp.headers["content-type"] == "application/json"
    (row,) = await gateway.logs()
    assert (row.status, row.input_tokens, row.output_tokens) == ("completed", 5, 2)


@pytest.mark.parametrize("stream", [False, True])
async def test_error_body_with_200_is_logged_as_error(
    gateway: Running, upstreams: UpstreamFactory, stream: bool
) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    up = await upstreams(JsonReply(error))
    channel = await gateway.add_channel(
        "messages", "c1", up.url, [ANT_KEY], quota_type="requests", quota_limit=10
    )

    resp = await _post_message(gateway, stream=stream, metadata={"user_id": "u1"})

    assert (resp.status_code, resp.json()) == (200, error)
    (row,) = await gateway.logs()
    assert (row.status, row.http_status, row.error) == ("error", 200, "Overloaded")
    assert await gateway.usage(channel.channel_id) is None  # an error is no served request
    assert gateway.rt.scheduler.affinity.get("messages", "u1") is None  # nor a good channel


async def test_stream_broken_by_upstream_is_logged_502(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    reply = messages_sse_reply(deltas=4)
    up = await upstreams(CloseAfter(reply, reply.wire_length_through(5)))
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    resp = await _post_message(gateway, stream=True)

    assert resp.status_code == 200
    sent = b"".join(reply.payloads[:5])
    assert resp.content.startswith(sent)
    # Output began: the stream ends with Anthropic's own error event.
    assert resp.content[len(sent) :].startswith(b"event: error\ndata: ")
    (row,) = await gateway.logs()
    assert (row.status, row.http_status) == ("error", 502)
    assert (row.error or "").startswith("upstream stream broke off")
    assert row.input_tokens == 2095  # from message_start


async def test_channel_model_mapping_rewrites_only_the_model(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    up = await upstreams(messages_json_reply(model="vendor-haiku-v9"))
    await gateway.add_channel(
        "messages", "c1", up.url, [ANT_KEY], model_mapping={"haiku": "vendor-haiku-v9"}
    )

    await claude.messages.create(
        model=MODEL, max_tokens=8, messages=PROMPT, metadata={"user_id": "u1"}
    )

    sent = up.requests[0].json()
    assert sent == {
        "model": "vendor-haiku-v9",
        "max_tokens": 8,
        "messages": PROMPT,
        "metadata": {"user_id": "u1"},
    }
    (row,) = await gateway.logs()
    assert (row.model, row.response_model) == (MODEL, "vendor-haiku-v9")


@pytest.mark.parametrize("events_sent", [0, 1])
async def test_stream_broken_before_any_output_fails_over(
    gateway: Running, upstreams: UpstreamFactory, events_sent: int
) -> None:
    # Nothing reached the client yet (message_start is held): the next channel serves.
    broken = messages_sse_reply(deltas=4)
    a = await upstreams(CloseAfter(broken, broken.wire_length_through(events_sent)))
    reply = messages_sse_reply(deltas=4)
    b = await upstreams(reply)
    await gateway.add_channel("messages", "a", a.url, [ANT_KEY], priority=1)
    await gateway.add_channel("messages", "b", b.url, [ANT_KEY], priority=2)

    resp = await _post_message(gateway, stream=True)

    assert (resp.status_code, resp.content) == (200, reply.body_bytes)
    rows = await gateway.logs()
    assert [(r.channel_name, r.status) for r in rows] == [("a", "failover"), ("b", "completed")]
    assert (rows[0].failover_info or "").startswith("body > failover >")


async def test_comments_before_message_start_keep_it_held(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    # Keep-alive comments are no events: the error after message_start comes
    # before any output, so the client gets a 502, not a 200 stream.
    start, *_ = messages_sse_reply().events
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    comments = [b": PROCESSING\n\n", b": PROCESSING\n\n"]
    up = await upstreams(SseReply([*comments, start, SseEvent(error, "error")], event_delay=0.05))
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    resp = await _post_message(gateway, stream=True)

    assert resp.status_code == 502
    (row,) = await gateway.logs()
    assert (row.status, row.http_status, row.error) == ("error", 502, "Overloaded")


@pytest.mark.gateway_env(REQUEST_TIMEOUT="500")
async def test_encoded_stream_is_relayed_as_it_arrives(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    # An upstream that ignores Accept-Encoding: identity. Its bytes pass
    # unread, event by event, past REQUEST_TIMEOUT (streams have none).
    reply = messages_sse_reply(deltas=6, event_delay=0.15, headers={"Content-Encoding": "gzip"})
    up = await upstreams(reply)
    await gateway.add_channel("messages", "c1", up.url, [ANT_KEY])

    resp = await _post_message(gateway, stream=True)

    assert (resp.status_code, resp.content) == (200, reply.body_bytes)
    assert resp.headers["content-encoding"] == "gzip"
    (row,) = await gateway.logs()
    assert (row.status, row.http_status, row.input_tokens) == ("completed", 200, 0)


async def test_redirect_is_no_success(gateway: Running, upstreams: UpstreamFactory) -> None:
    # Redirects are not followed; a 3xx goes through the rules like any non-2xx.
    moved = JsonReply({"moved": True}, status=307, headers={"Location": "http://127.0.0.1:9/"})
    up = await upstreams(moved)
    channel = await gateway.add_channel(
        "messages", "c1", up.url, [ANT_KEY], quota_type="requests", quota_limit=10
    )

    resp = await _post_message(gateway)

    assert resp.status_code == 307
    assert "location" not in resp.headers
    (row,) = await gateway.logs()
    assert (row.status, row.http_status) == ("error", 307)
    assert await gateway.usage(channel.channel_id) is None
