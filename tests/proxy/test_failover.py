"""Failover between channels and keys, retries and suspension (spec §3.5, §3.6)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import anthropic
import pytest

from tests.fakes.upstream import (
    JsonReply,
    RecordedRequest,
    anthropic_error,
    messages_json_reply,
    resource_exhausted_error,
)
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory, dead_url, http_client

MODEL = "claude-haiku-4-5"
PROMPT = [{"role": "user", "content": "hello"}]
FAILOVER_5XX = [
    {"errorCodes": "500,502,503,504,529", "actionChain": [{"action": "failover"}]},
]


async def _ask(claude: anthropic.AsyncAnthropic, **extra: object) -> anthropic.types.Message:
    return await claude.messages.create(model=MODEL, max_tokens=32, messages=PROMPT, **extra)


async def test_dead_port_fails_over_to_next_channel(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    up = await upstreams(messages_json_reply(text="from c2"))
    dead = await gateway.add_channel("messages", "dead", dead_url(), ["sk-ant-dead"])
    live = await gateway.add_channel("messages", "live", up.url, ["sk-ant-live"])

    message = await _ask(claude)

    assert message.content[0].text == "from c2"  # type: ignore[union-attr]
    failed, served = await gateway.logs()
    assert (failed.status, failed.channel_uid, failed.http_status) == (
        "failover",
        dead.channel_id,
        0,
    )
    assert failed.failover_info is not None and failed.failover_info.startswith(
        "connect > failover"
    )
    assert "unavailable (connect)" in (failed.upstream_error or "")
    assert (served.status, served.channel_uid, served.http_status) == (
        "completed",
        live.channel_id,
        200,
    )


@pytest.mark.parametrize("status", [500, 529])
async def test_server_error_fails_over_to_next_channel(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic, status: int
) -> None:
    await gateway.set_failover(FAILOVER_5XX)
    bad = await upstreams(anthropic_error(status, "api_error", "boom"))
    good = await upstreams(messages_json_reply(text="ok"))
    first = await gateway.add_channel("messages", "bad", bad.url, ["sk-ant-bad"])
    second = await gateway.add_channel("messages", "good", good.url, ["sk-ant-good"])

    message = await _ask(claude)

    assert message.content[0].text == "ok"  # type: ignore[union-attr]
    assert (len(bad.requests), len(good.requests)) == (1, 1)
    failed, served = await gateway.logs()
    assert failed.status == "failover"
    assert failed.http_status == status
    assert failed.channel_uid == first.channel_id
    assert failed.failover_info == f"{status} > failover > next key"
    assert failed.error == f"{status}: failover to next attempt"
    assert '"message":"boom"' in (failed.upstream_error or "")
    assert (served.status, served.channel_uid) == ("completed", second.channel_id)


async def test_retry_waits_then_same_key_succeeds(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    await gateway.set_failover(
        [
            {
                "errorCodes": "500",
                "actionChain": [
                    {"action": "retry", "waitSeconds": 1, "maxAttempts": 1},
                    {"action": "failover"},
                ],
            }
        ]
    )
    seen_at: list[float] = []
    replies = [anthropic_error(500, "api_error", "flaky"), messages_json_reply(text="second")]

    def respond(request: RecordedRequest) -> JsonReply:
        seen_at.append(time.monotonic())
        return replies[len(seen_at) - 1]

    up = await upstreams(responder=respond)
    await gateway.add_channel("messages", "only", up.url, ["sk-ant-one"])

    message = await _ask(claude)

    assert message.content[0].text == "second"  # type: ignore[union-attr]
    assert len(seen_at) == 2
    assert seen_at[1] - seen_at[0] >= 1.0
    assert [r.header("x-api-key") for r in up.requests] == ["sk-ant-one", "sk-ant-one"]
    waited, served = await gateway.logs()
    assert (waited.status, waited.http_status) == ("retry_wait", 500)
    assert waited.failover_info == "500 > retry_wait > 1s"
    assert waited.error == "500: retry in 1s"
    assert served.status == "completed"
    # The wait belongs to no attempt: the second row starts after it.
    assert served.initial_time - waited.initial_time >= timedelta(seconds=1)
    assert served.duration_ms < 1000


async def test_retry_exhausted_then_next_channel(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    await gateway.set_failover(
        [
            {
                "errorCodes": "503",
                "actionChain": [
                    {"action": "retry", "waitSeconds": 1, "maxAttempts": 1},
                    {"action": "failover"},
                ],
            }
        ]
    )
    bad = await upstreams(default=anthropic_error(503, "api_error", "down"))
    good = await upstreams(messages_json_reply(text="ok"))
    await gateway.add_channel("messages", "bad", bad.url, ["sk-ant-bad"])
    await gateway.add_channel("messages", "good", good.url, ["sk-ant-good"])

    await _ask(claude)

    assert (len(bad.requests), len(good.requests)) == (2, 1)
    rows = await gateway.logs()
    assert [(r.status, r.http_status) for r in rows] == [
        ("retry_wait", 503),
        ("failover", 503),
        ("completed", 200),
    ]


async def test_401_moves_to_next_key_of_same_channel(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    # Default rules: 401 -> failover to the next key at once.
    def respond(request: RecordedRequest) -> JsonReply:
        if request.header("x-api-key") == "sk-ant-revoked":
            return anthropic_error(401, "authentication_error", "invalid x-api-key")
        return messages_json_reply(text="second key")

    up = await upstreams(responder=respond)
    other = await upstreams(messages_json_reply(text="other channel"))
    channel = await gateway.add_channel(
        "messages", "two-keys", up.url, ["sk-ant-revoked", "plain-bearer-key"]
    )
    await gateway.add_channel("messages", "other", other.url, ["sk-ant-other"])

    message = await _ask(claude)

    assert message.content[0].text == "second key"  # type: ignore[union-attr]
    first, second = up.requests
    assert first.header("x-api-key") == "sk-ant-revoked"
    assert first.header("authorization") is None
    assert second.header("authorization") == "Bearer plain-bearer-key"
    assert second.header("x-api-key") is None
    assert other.requests == ()
    failed, served = await gateway.logs()
    assert (failed.status, failed.http_status, failed.channel_uid) == (
        "failover",
        401,
        channel.channel_id,
    )
    assert failed.failover_info == "401 > auth_failed > next key"
    assert (served.status, served.channel_uid) == ("completed", channel.channel_id)


async def test_all_channels_failing_returns_last_upstream_error(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await gateway.set_failover(FAILOVER_5XX)
    first = await upstreams(anthropic_error(500, "api_error", "first"))
    last_reply = anthropic_error(502, "api_error", "last one")
    second = await upstreams(last_reply)
    await gateway.add_channel("messages", "a", first.url, ["sk-ant-a"])
    await gateway.add_channel("messages", "b", second.url, ["sk-ant-b"])

    async with http_client() as http:
        resp = await http.post(
            gateway.url + "/v1/messages",
            json={"model": MODEL, "max_tokens": 8, "messages": PROMPT},
            headers={"x-api-key": MASTER_KEY},
        )

    assert resp.status_code == 502
    assert resp.content == last_reply.body_bytes
    assert resp.headers["content-type"] == "application/json"
    rows = await gateway.logs()
    assert [(r.status, r.http_status) for r in rows] == [
        ("failover", 500),
        ("failover", 502),
        ("error", 502),
    ]
    assert rows[-1].error == "all channels failed"


async def test_nobody_answering_is_503_anthropic_error(
    gateway: Running, claude: anthropic.AsyncAnthropic
) -> None:
    await gateway.add_channel("messages", "a", dead_url(), ["sk-ant-a"])
    await gateway.add_channel("messages", "b", dead_url(), ["sk-ant-b"])

    with pytest.raises(anthropic.InternalServerError) as info:
        await _ask(claude)

    assert info.value.status_code == 503
    body = info.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "overloaded_error"
    assert body["error"]["message"].startswith("all channels unavailable")
    assert body["error"]["code"] == "NO_CHANNEL_AVAILABLE"
    rows = await gateway.logs()
    assert [(r.status, r.http_status) for r in rows] == [
        ("failover", 0),
        ("failover", 0),
        ("error", 503),
    ]


async def test_400_is_returned_unchanged_without_failover(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    reply = anthropic_error(400, "invalid_request_error", "prompt is too long: 210000 tokens")
    bad = await upstreams(reply)
    other = await upstreams(messages_json_reply())
    channel = await gateway.add_channel("messages", "a", bad.url, ["sk-ant-a"])
    await gateway.add_channel("messages", "b", other.url, ["sk-ant-b"])

    async with http_client() as http:
        resp = await http.post(
            gateway.url + "/v1/messages",
            json={"model": MODEL, "max_tokens": 8, "messages": PROMPT},
            headers={"x-api-key": MASTER_KEY},
        )

    assert resp.status_code == 400
    assert resp.content == reply.body_bytes
    assert other.requests == ()
    (row,) = await gateway.logs()
    assert (row.status, row.http_status, row.channel_uid) == ("error", 400, channel.channel_id)
    assert row.failover_info == "400 > return_error"
    assert "prompt is too long" in (row.upstream_error or "")


async def test_quota_exhausted_429_suspends_channel(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    # Built-in rules; `enabled` only turns the circuit breaker off, so the
    # suspension alone must keep the channel out of the second request.
    await gateway.set_failover([])
    exhausted = await upstreams(default=resource_exhausted_error("QUOTA_EXHAUSTED"))
    good = await upstreams(default=messages_json_reply(text="ok"))
    first = await gateway.add_channel("messages", "gemini-ish", exhausted.url, ["sk-ant-q"])
    await gateway.add_channel("messages", "backup", good.url, ["sk-ant-b"])
    before = datetime.now(UTC)

    await _ask(claude)
    await gateway.reload()  # a config poll must not forget the suspension
    await _ask(claude)

    assert (len(exhausted.requests), len(good.requests)) == (1, 2)
    (suspension,) = await gateway.suspensions()
    assert suspension.channel_uid == first.channel_id
    assert (suspension.channel_type, suspension.channel_id) == ("messages", 0)
    expected = before + timedelta(seconds=300)
    assert abs((suspension.suspended_until - expected).total_seconds()) < 5
    assert suspension.reason == "429:QUOTA_EXHAUSTED > suspended > next channel"
    rows = await gateway.logs()
    assert [(r.status, r.http_status) for r in rows] == [
        ("failover", 429),
        ("completed", 200),
        ("completed", 200),
    ]
    assert rows[0].failover_info == "429:QUOTA_EXHAUSTED > suspended > next channel"


async def test_suspension_lasts_until_quota_reset_at(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    reset_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    exhausted = await upstreams(resource_exhausted_error("QUOTA_EXHAUSTED"))
    good = await upstreams(messages_json_reply())
    await gateway.add_channel("messages", "q", exhausted.url, ["sk-ant-q"], quota_reset_at=reset_at)
    await gateway.add_channel("messages", "b", good.url, ["sk-ant-b"])

    await _ask(claude)

    (suspension,) = await gateway.suspensions()
    assert suspension.suspended_until == reset_at
