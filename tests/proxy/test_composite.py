"""Composite channels (spec §3.4): routing by model family, failover between targets of
different types, target model, permissions on the target pool, stickiness.

The anthropic SDK talks to ccbridge over loopback; targets are fake upstreams of
several types, each checking what it receives (tests/fakes/upstream.py).
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.fakes.upstream import (
    _DEFAULT_TEXT,
    chat_responder,
    gemini_responder,
    messages_json_reply,
)
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory, dead_url

PROMPT = [{"role": "user", "content": "Summarise the failing test."}]


def _mapping(pattern: str, target: str, *failover: str, **extra: Any) -> dict[str, Any]:
    return {
        "pattern": pattern,
        "targetChannelId": target,
        "targetPool": "messages",
        "failoverTargets": [{"pool": "messages", "channelId": uid} for uid in failover],
        **extra,
    }


async def _composite(gateway: Running, *mappings: dict[str, Any]) -> str:
    row = await gateway.add_channel(
        "messages",
        "router",
        "",
        [],
        service_type="composite",
        priority=1,
        composite_mappings=list(mappings),
    )
    return row.channel_id


async def _ask(claude: anthropic.AsyncAnthropic, model: str) -> anthropic.types.Message:
    return await claude.messages.create(model=model, max_tokens=32, messages=PROMPT)


def _text(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


async def test_routes_by_model_family(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    fast = await upstreams(messages_json_reply(text="from haiku"))
    deep = await upstreams(messages_json_reply(text="from opus"))
    haiku = await gateway.add_channel("messages", "h", fast.url, ["sk-ant-h"], priority=5)
    opus = await gateway.add_channel("messages", "o", deep.url, ["sk-ant-o"], priority=6)
    composite = await _composite(
        gateway,
        _mapping("haiku", haiku.channel_id),
        _mapping("sonnet", opus.channel_id),
        _mapping("opus", opus.channel_id),
    )

    assert _text(await _ask(claude, "claude-Haiku-4-5")) == "from haiku"  # case-insensitive
    assert _text(await _ask(claude, "claude-opus-4-5")) == "from opus"

    rows = await gateway.logs()
    assert [(r.status, r.channel_uid) for r in rows] == [
        ("completed", haiku.channel_id),
        ("completed", opus.channel_id),
    ]
    assert all(r.routed_via == composite for r in rows)
    assert (len(fast.requests), len(deep.requests)) == (1, 1)


@pytest.mark.parametrize("stream", [False, True])
async def test_fails_over_between_targets_of_different_types(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic, stream: bool
) -> None:
    broken = await gateway.add_channel(
        "messages", "chat", dead_url(), ["k1"], service_type="openai", priority=5
    )
    up = await upstreams(responder=gemini_responder)
    gemini = await gateway.add_channel(
        "messages",
        "gemini",
        up.url,
        ["g1"],
        service_type="gemini",
        priority=6,
        model_mapping={"gemini-2.5-pro": "gemini-2.5-pro"},
    )
    composite = await _composite(
        gateway,
        _mapping("sonnet", broken.channel_id, gemini.channel_id, targetModel="gemini-2.5-pro"),
    )

    if stream:
        async with claude.messages.stream(
            model="claude-sonnet-4-5", max_tokens=32, messages=PROMPT
        ) as s:
            message = await s.get_final_message()
    else:
        message = await _ask(claude, "claude-sonnet-4-5")

    assert _text(message) == _DEFAULT_TEXT
    (sent,) = up.requests
    assert sent.path.endswith(
        "/models/gemini-2.5-pro:" + ("streamGenerateContent" if stream else "generateContent")
    )
    failed, served = await gateway.logs()
    assert (failed.status, failed.channel_uid) == ("failover", broken.channel_id)
    assert (served.status, served.channel_uid) == ("completed", gemini.channel_id)
    assert (failed.routed_via, served.routed_via) == (composite, composite)
    assert served.model == "claude-sonnet-4-5"  # the client's model, as asked


async def test_once_routed_only_its_chain_is_tried(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    spare = await upstreams(messages_json_reply(text="from a channel outside the chain"))
    dead = await gateway.add_channel("messages", "dead", dead_url(), ["sk-ant-d"], priority=5)
    await gateway.add_channel("messages", "spare", spare.url, ["sk-ant-s"], priority=9)
    await _composite(gateway, _mapping("sonnet", dead.channel_id))

    with pytest.raises(anthropic.APIStatusError):
        await _ask(claude, "claude-sonnet-4-5")
    assert not spare.requests


async def test_a_model_no_mapping_matches_goes_to_the_next_channel(
    gateway: Running, upstreams: UpstreamFactory, claude: anthropic.AsyncAnthropic
) -> None:
    up = await upstreams(responder=chat_responder)
    other = await gateway.add_channel(
        "messages", "chat", up.url, ["c1"], service_type="openai", priority=5
    )
    await _composite(gateway, _mapping("opus", other.channel_id))

    assert _text(await _ask(claude, "claude-sonnet-4-5")) == _DEFAULT_TEXT
    (row,) = await gateway.logs()
    assert (row.channel_uid, row.routed_via) == (other.channel_id, None)


async def test_targets_follow_the_key_channel_allowlist(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(messages_json_reply(text="never"))
    target = await gateway.add_channel("messages", "t", up.url, ["sk-ant-t"], priority=5)
    composite = await _composite(gateway, _mapping("sonnet", target.channel_id))
    key = await gateway.add_key("router only", allowed_channels_msg=[composite])
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key=key, max_retries=0)

    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        await _ask(client, "claude-sonnet-4-5")
    assert "CHANNEL_NOT_ALLOWED" in str(caught.value.body)
    assert not up.requests
    assert MASTER_KEY not in str(caught.value.body)
