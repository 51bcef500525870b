"""Config that traffic teaches: a newer CLI User-Agent (spec §3.3), and
rate-limited keys moved to the end of their channel's list (§3.6)."""

from __future__ import annotations

import json

from tests.fakes.upstream import JsonReply, RecordedRequest, anthropic_error, messages_json_reply
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory, http_client
from tests.waiting import eventually

BODY = {
    "model": "claude-haiku-4-5",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "hi"}],
}


async def _post(gateway: Running, user_agent: str) -> int:
    headers = {"x-api-key": MASTER_KEY, "user-agent": user_agent}
    async with http_client() as http:
        resp = await http.post(gateway.url + "/v1/messages", json=BODY, headers=headers)
    return resp.status_code


async def test_a_newer_cli_user_agent_becomes_the_fallback(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(default=messages_json_reply())
    await gateway.add_channel("messages", "c1", up.url, ["sk-ant-c1"])
    newer = "claude-cli/9.9.9 (external, cli)"

    assert await _post(gateway, newer) == 200
    assert await _post(gateway, "claude-cli/1.0.0 (external, cli)") == 200  # older: not kept

    async def stored() -> bool:
        return gateway.rt.snapshot.user_agents.get("messages") == newer

    await eventually(stored)
    row = await gateway.db.daos.settings.get("user_agent")
    assert row is not None
    entry = json.loads(row.value)["messages"]
    assert entry["latest"] == newer
    assert entry["lastCapturedAt"].endswith("Z")
    # The config history names ccbridge itself as the writer.
    (learned,) = await gateway.db.daos.config_history.page(max_rows=1, skip=0)
    assert (learned.actor_key_id, learned.actor_name) == (None, "ccbridge")
    assert learned.action == "learned a newer client User-Agent"
    assert [(c["section"], c["id"]) for c in learned.changes] == [("settings", "user_agent")]
    assert await _post(gateway, "my-script/1.0") == 200
    assert [r.header("user-agent") for r in up.requests] == [
        newer,
        "claude-cli/1.0.0 (external, cli)",
        newer,  # the client's own is no CLI's: the captured one is sent
    ]


async def test_a_rate_limited_key_moves_to_the_end_once_another_served(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await gateway.set_failover([{"errorCodes": "429", "actionChain": [{"action": "failover"}]}])

    def respond(request: RecordedRequest) -> JsonReply:
        if request.header("x-api-key") == "sk-ant-k1":
            return anthropic_error(429, "rate_limit_error", "slow down")
        return messages_json_reply()

    up = await upstreams(responder=respond)
    keys = ["sk-ant-k1", "sk-ant-k2", "sk-ant-k3"]
    channel = await gateway.add_channel("messages", "c1", up.url, keys)

    assert await _post(gateway, "curl/8") == 200

    async def reordered() -> bool:
        snap = gateway.rt.snapshot.channels_by_uid[channel.channel_id]
        return snap.api_keys == ("sk-ant-k2", "sk-ant-k3", "sk-ant-k1")

    await eventually(reordered)
    (row,) = [
        r for r in await gateway.db.daos.channels.list() if r.channel_id == channel.channel_id
    ]
    assert list(row.api_keys or ()) == ["sk-ant-k2", "sk-ant-k3", "sk-ant-k1"]
    (learned,) = await gateway.db.daos.config_history.page(max_rows=1, skip=0)
    assert learned.action == "moved a rate-limited key to the end"
    assert (learned.actor_key_id, learned.actor_name) == (None, "ccbridge")
