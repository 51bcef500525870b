"""Channel order: promotion, trace affinity, round-robin, quota (spec §3.5, §3.8)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import anthropic
import pytest

from tests.fakes.upstream import anthropic_error, messages_json_reply
from tests.proxy.conftest import Running, UpstreamFactory

MODEL = "claude-haiku-4-5"
PROMPT = [{"role": "user", "content": "hello"}]


def _user(account: str, session: str = "sess-1") -> dict[str, str]:
    """Claude Code's metadata.user_id (JSON form)."""
    compound = {"device_id": f"dev-{account}", "account_uuid": account, "session_id": session}
    return {"user_id": json.dumps(compound)}


async def _ask(claude: anthropic.AsyncAnthropic, **extra: object) -> str:
    message = await claude.messages.create(
        model=MODEL,
        max_tokens=16,
        messages=PROMPT,
        **extra,  # type: ignore[arg-type]
    )
    return message.content[0].text  # type: ignore[union-attr]


async def _two_channels(
    gateway: Running, upstreams: UpstreamFactory, **first: object
) -> tuple[str, str]:
    a = await upstreams(default=messages_json_reply(text="a"))
    b = await upstreams(default=messages_json_reply(text="b"))
    ca = await gateway.add_channel("messages", "a", a.url, ["sk-ant-a"], priority=1)
    cb = await gateway.add_channel("messages", "b", b.url, ["sk-ant-b"], priority=2, **first)
    return ca.channel_id, cb.channel_id


async def _update(gateway: Running, uid: str, **fields: object) -> None:
    (row,) = [r for r in await gateway.db.daos.channels.list() if r.channel_id == uid]
    await gateway.update_channel(row, **fields)


async def test_promotion_beats_priority(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    until = datetime.now(UTC) + timedelta(hours=1)
    await _two_channels(gateway, upstreams, promotion_until=until)

    assert [await _ask(claude) for _ in range(2)] == ["b", "b"]


async def test_expired_promotion_is_ignored(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    until = datetime.now(UTC) - timedelta(seconds=1)
    await _two_channels(gateway, upstreams, promotion_until=until)

    assert await _ask(claude) == "a"


async def test_trace_affinity_returns_client_to_its_channel(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    await gateway.set_failover(
        [{"errorCodes": "500", "actionChain": [{"action": "failover"}]}], enabled=True
    )
    a = await upstreams(
        anthropic_error(500, "api_error", "once"), default=messages_json_reply(text="a")
    )
    b = await upstreams(default=messages_json_reply(text="b"))
    await gateway.add_channel("messages", "a", a.url, ["sk-ant-a"], priority=1)
    await gateway.add_channel("messages", "b", b.url, ["sk-ant-b"], priority=2)

    # x's first request fails on a and is served by b: b becomes x's channel.
    assert await _ask(claude, metadata=_user("acct-x")) == "b"
    assert await _ask(claude, metadata=_user("acct-y")) == "a"  # a is fine again
    assert await _ask(claude, metadata=_user("acct-x")) == "b"
    assert await _ask(claude) == "a"  # no client id, no affinity
    assert (len(a.requests), len(b.requests)) == (3, 2)
    rows = [r for r in await gateway.logs() if r.status == "completed"]
    assert [(r.client_id, r.session_id, r.channel_name) for r in rows] == [
        ("acct-x", "sess-1", "b"),
        ("acct-y", "sess-1", "a"),
        ("acct-x", "sess-1", "b"),
        (None, None, "a"),
    ]


async def test_promotion_beats_affinity(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    _, b_uid = await _two_channels(gateway, upstreams)
    assert await _ask(claude, metadata=_user("acct-x")) == "a"
    await _update(gateway, b_uid, promotion_until=datetime.now(UTC) + timedelta(hours=1))

    assert await _ask(claude, metadata=_user("acct-x")) == "b"


async def test_round_robin_alternates(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    await gateway.set_setting("messages_load_balance", "round-robin")
    await _two_channels(gateway, upstreams)

    served = [await _ask(claude) for _ in range(4)]

    assert served == ["a", "b", "a", "b"]


async def test_failover_strategy_sticks_to_first_channel(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    await _two_channels(gateway, upstreams)

    assert [await _ask(claude) for _ in range(3)] == ["a", "a", "a"]


async def test_request_quota_moves_to_next_channel_when_spent(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    a_uid, b_uid = await _two_channels(gateway, upstreams)
    await _update(gateway, a_uid, quota_type="requests", quota_limit=2)

    served = []
    for _ in range(3):
        served.append(await _ask(claude))
        await gateway.reload()  # a config poll must not lose unwritten usage
    served.append(await _ask(claude))

    assert served == ["a", "a", "b", "b"]
    usage = await gateway.usage(a_uid)
    assert usage is not None
    assert (usage.used, usage.channel_type, usage.channel_id) == (2.0, "messages", 0)
    assert await gateway.usage(b_uid) is None  # no quota, nothing counted


@pytest.mark.gateway_env(REQUEST_LOGS="false")
async def test_request_quota_counts_with_request_logs_off(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    a_uid, _ = await _two_channels(gateway, upstreams)
    await _update(gateway, a_uid, quota_type="requests", quota_limit=1)

    assert [await _ask(claude) for _ in range(2)] == ["a", "b"]
    usage = await gateway.usage(a_uid)
    assert usage is not None and usage.used == 1.0
    assert await gateway.logs() == []


async def test_quota_counts_only_listed_models(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    a_uid, _ = await _two_channels(gateway, upstreams)
    await _update(gateway, a_uid, quota_type="requests", quota_limit=1, quota_models=["opus"])

    assert [await _ask(claude) for _ in range(2)] == ["a", "a"]  # haiku is not counted
    assert await gateway.usage(a_uid) is None


async def test_channel_rpm_limit_moves_to_next_channel(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    gateway.rt.scheduler.rpm._clock = lambda: 600.0  # one fixed minute: no window rollover
    a_uid, _ = await _two_channels(gateway, upstreams)
    await _update(gateway, a_uid, rate_limit_rpm=2)

    assert [await _ask(claude) for _ in range(3)] == ["a", "a", "b"]
    rows = await gateway.logs()
    assert [(r.status, r.channel_name) for r in rows] == [
        ("completed", "a"),
        ("completed", "a"),
        ("completed", "b"),
    ]


async def test_disabled_channel_is_never_used(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    a_uid, _ = await _two_channels(gateway, upstreams)
    await _update(gateway, a_uid, status="disabled")

    assert [await _ask(claude) for _ in range(2)] == ["b", "b"]
    (row,) = (await gateway.logs())[-1:]
    assert row.channel_id == 1  # the index in the pool, disabled channels included
