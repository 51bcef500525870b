"""Per-channel content filter: keyword hits go through the failover rules (spec §3.6)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes.upstream import (
    JsonReply,
    SseEvent,
    SseReply,
    messages_json_reply,
    messages_sse_reply,
    responses_json_reply,
    responses_sse_reply,
)
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory, http_client

KEYWORD = "Forbidden"
FILTER = {"enabled": True, "rules": [{"keyword": KEYWORD.lower(), "statusCode": 429}]}
FAILOVER_429 = [{"errorCodes": "429", "actionChain": [{"action": "failover"}]}]
FAILOVER_5XX = [{"errorCodes": "500,502,503", "actionChain": [{"action": "failover"}]}]


@dataclass(frozen=True)
class Pool:
    """How to ask one pool and what its upstreams answer."""

    name: str
    path: str
    headers: dict[str, str]
    model: str

    def body(self, stream: bool) -> dict[str, Any]:
        if self.name == "messages":
            prompt = [{"role": "user", "content": "hello"}]
            return {"model": self.model, "max_tokens": 16, "messages": prompt, "stream": stream}
        return {"model": self.model, "input": "hello", "stream": stream}

    def json_reply(self, text: str) -> JsonReply:
        if self.name == "messages":
            return messages_json_reply(text=text)
        return responses_json_reply(text=text)

    def sse_reply(self, deltas: Sequence[str], *, event_delay: float = 0.0) -> SseReply:
        if self.name == "messages":
            return messages_sse_reply(deltas=deltas, event_delay=event_delay)
        return responses_sse_reply(deltas=deltas, event_delay=event_delay)


MESSAGES = Pool("messages", "/v1/messages", {"x-api-key": MASTER_KEY}, "claude-haiku-4-5")
RESPONSES = Pool(
    "responses", "/v1/responses", {"authorization": f"Bearer {MASTER_KEY}"}, "gpt-5-codex"
)
POOLS = pytest.mark.parametrize("pool", [MESSAGES, RESPONSES], ids=lambda p: p.name)


@dataclass(frozen=True)
class RawReply:
    status_code: int
    content_type: str
    content: bytes


async def _post(gateway: Running, pool: Pool, *, stream: bool) -> RawReply:
    """POST and return the answer with its raw body bytes."""
    async with http_client() as http:
        async with http.stream(
            "POST", gateway.url + pool.path, json=pool.body(stream), headers=pool.headers
        ) as resp:
            raw = b"".join([chunk async for chunk in resp.aiter_raw()])
    return RawReply(resp.status_code, resp.headers.get("content-type", ""), raw)


async def _two_channels(
    gateway: Running, pool: Pool, first: Any, second: Any, *, content_filter: Any = FILTER
) -> None:
    await gateway.add_channel(
        pool.name, "a", first.url, ["sk-a"], priority=1, content_filter=content_filter
    )
    await gateway.add_channel(pool.name, "b", second.url, ["sk-b"], priority=2)


@POOLS
async def test_keyword_in_body_fails_over_by_the_rules(
    gateway: Running, upstreams: UpstreamFactory, pool: Pool
) -> None:
    await gateway.set_failover(FAILOVER_429)
    a = await upstreams(pool.json_reply(f"this reply has a {KEYWORD} word"))
    reply = pool.json_reply("clean")
    b = await upstreams(reply)
    await _two_channels(gateway, pool, a, b)

    resp = await _post(gateway, pool, stream=False)

    assert (resp.status_code, resp.content) == (200, reply.body_bytes)
    assert (len(a.requests), len(b.requests)) == (1, 1)
    failed, served = await gateway.logs()
    assert (failed.channel_name, failed.status, failed.http_status) == ("a", "failover", 429)
    assert failed.failover_info == "429 > failover > next key"
    assert '"type":"content_filter_match"' in (failed.upstream_error or "")
    assert (served.channel_name, served.status, served.http_status) == ("b", "completed", 200)


@POOLS
async def test_keyword_without_a_matching_rule_answers_the_synthetic_error(
    gateway: Running, upstreams: UpstreamFactory, pool: Pool
) -> None:
    await gateway.set_failover(FAILOVER_5XX)  # nothing for 451: back to the client
    a = await upstreams(pool.json_reply(f"a {KEYWORD.upper()} reply"))
    b = await upstreams(pool.json_reply("clean"))
    rule = {"keyword": "forbidden", "statusCode": 451}
    await _two_channels(gateway, pool, a, b, content_filter={"enabled": True, "rules": [rule]})

    resp = await _post(gateway, pool, stream=False)

    assert (resp.status_code, resp.content_type) == (451, "application/json")
    assert resp.content == (
        b'{"error":{"message":"content_filter: forbidden",'
        b'"type":"content_filter_match","keyword":"forbidden"}}'
    )
    assert (len(a.requests), len(b.requests)) == (1, 0)
    (row,) = await gateway.logs()
    assert (row.channel_name, row.status, row.http_status) == ("a", "error", 451)
    assert row.error == "content_filter: forbidden"


@POOLS
async def test_keyword_in_the_first_text_delta_fails_over_to_an_exact_stream(
    gateway: Running, upstreams: UpstreamFactory, pool: Pool
) -> None:
    await gateway.set_failover(FAILOVER_429)
    # Events apart in time: the hold must wait for the first text to arrive.
    a = await upstreams(pool.sse_reply([f"{KEYWORD}!", " more", " text"], event_delay=0.02))
    reply = pool.sse_reply(["Hel", "lo, ", "wörld ✓"])
    b = await upstreams(reply)
    await _two_channels(gateway, pool, a, b)

    resp = await _post(gateway, pool, stream=True)

    assert (resp.status_code, resp.content) == (200, reply.body_bytes)
    assert resp.content_type == "text/event-stream"
    assert (len(a.requests), len(b.requests)) == (1, 1)
    rows = await gateway.logs()
    assert [(r.channel_name, r.status, r.http_status) for r in rows] == [
        ("a", "failover", 429),
        ("b", "completed", 200),
    ]


async def test_json_escaped_keyword_in_a_stream_is_found(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await gateway.set_failover(FAILOVER_429)
    # The upstream escapes non-ASCII text (\u00dc): the keyword is matched decoded.
    events = messages_sse_reply(deltas=["x"]).events
    text = {"type": "text_delta", "text": "Ü"}
    data = json.dumps({"type": "content_block_delta", "index": 0, "delta": text})
    assert "\\u00dc" in data
    delta = SseEvent(data, "content_block_delta")
    a = await upstreams(SseReply([*events[:2], delta, *events[2:]]))
    reply = messages_sse_reply(deltas=["fine"])
    b = await upstreams(reply)
    cf = {"enabled": True, "rules": [{"keyword": "ü"}]}
    await _two_channels(gateway, MESSAGES, a, b, content_filter=cf)

    resp = await _post(gateway, MESSAGES, stream=True)

    assert (resp.status_code, resp.content) == (200, reply.body_bytes)
    assert [r.status for r in await gateway.logs()] == ["failover", "completed"]


@POOLS
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    "content_filter",
    [
        {"enabled": False, "rules": [{"keyword": "wörld"}]},
        {"enabled": True, "rules": [{"keyword": "absent"}]},
    ],
    ids=["disabled", "no-hit"],
)
async def test_no_hit_leaves_the_answer_untouched(
    gateway: Running,
    upstreams: UpstreamFactory,
    pool: Pool,
    stream: bool,
    content_filter: dict[str, Any],
) -> None:
    await gateway.set_failover(FAILOVER_429)
    # The keyword of the disabled filter is in the first text delta.
    reply = pool.sse_reply(["Wörld", " hel", "lo ✓"]) if stream else pool.json_reply("wörld")
    a = await upstreams(reply)
    b = await upstreams(pool.json_reply("other"))
    await _two_channels(gateway, pool, a, b, content_filter=content_filter)

    resp = await _post(gateway, pool, stream=stream)

    assert (resp.status_code, resp.content) == (200, reply.body_bytes)
    assert (len(a.requests), len(b.requests)) == (1, 0)
    (row,) = await gateway.logs()
    assert (row.channel_name, row.status) == ("a", "completed")


@POOLS
async def test_keyword_after_the_first_byte_went_out_is_relayed(
    gateway: Running, upstreams: UpstreamFactory, pool: Pool
) -> None:
    await gateway.set_failover(FAILOVER_429)
    # Events apart in time: the start went out before the keyword came.
    reply = pool.sse_reply(["Hello", " there", f" {KEYWORD} word"], event_delay=0.05)
    a = await upstreams(reply)
    b = await upstreams(pool.sse_reply(["other"]))
    await _two_channels(gateway, pool, a, b)

    resp = await _post(gateway, pool, stream=True)

    assert (resp.status_code, resp.content) == (200, reply.body_bytes)
    assert (len(a.requests), len(b.requests)) == (1, 0)
    (row,) = await gateway.logs()
    assert (row.channel_name, row.status, row.http_status) == ("a", "completed", 200)
