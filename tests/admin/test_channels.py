"""Channel routes of the four pools (spec §4, §2.1, §2.5)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.admin.conftest import Running, db_state

KEY_A = "sk-ant-api03-aaaaaaaaaaaaaaaa-0001"
KEY_B = "sk-ant-api03-bbbbbbbbbbbbbbbb-0002"
POOLS = {
    "messages": "/api/channels",
    "responses": "/api/responses/channels",
    "gemini": "/api/gemini/channels",
    "chat": "/api/chat/channels",
}


async def _create(api: httpx.AsyncClient, base: str = "/api/channels", **fields: Any) -> dict:
    body = {"name": "c1", "serviceType": "claude", "baseUrl": "https://up.example", **fields}
    resp = await api.post(base, json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.parametrize("pool", list(POOLS))
async def test_create_list_update_delete_in_every_pool(
    api: httpx.AsyncClient, gateway: Running, pool: str
) -> None:
    base = POOLS[pool]
    service = {
        "messages": "claude",
        "responses": "responses",
        "gemini": "gemini",
        "chat": "openai",
    }[pool]
    created = await _create(api, base, serviceType=service, apiKeys=[KEY_A])
    uid = created["id"]
    assert len(uid) == 8 and int(uid, 16) >= 0

    listing = await api.get(base)
    assert listing.status_code == 200
    assert listing.headers["etag"] == f'"{gateway.rt.snapshot.revision}"'
    (channel,) = listing.json()["channels"]
    assert channel["index"] == 0 and channel["id"] == uid
    assert channel["apiKeyCount"] == 1
    assert channel["maskedKeys"] == [{"index": 0, "masked": "sk-ant-a...0001"}]
    assert KEY_A not in listing.text
    assert listing.json()["loadBalance"] == "failover"

    resp = await api.put(f"{base}/{uid}", json={"description": "primary", "priority": 3})
    assert resp.status_code == 200
    (row,) = await gateway.db.daos.channels.list(where={"channel_id": uid})
    assert (row.description, row.priority, row.name) == ("primary", 3, "c1")
    assert gateway.rt.snapshot.channels_by_uid[uid].priority == 3  # own write is visible

    resp = await api.delete(f"{base}/{uid}")
    assert resp.status_code == 200
    assert await gateway.db.daos.channels.count() == 0


@pytest.mark.parametrize("pool", ["messages", "gemini"])
async def test_a_listed_channel_sent_back_whole_is_accepted_and_changes_nothing(
    api: httpx.AsyncClient, gateway: Running, pool: str
) -> None:
    # The list view's read-only members (index, maskedKeys, served, …) are accepted
    # and ignored, so a client may edit a view and send it back.
    base = POOLS[pool]
    service = "claude" if pool == "messages" else "gemini"
    uid = (await _create(api, base, serviceType=service, apiKeys=[KEY_A]))["id"]
    (view,) = (await api.get(base)).json()["channels"]
    assert view["served"] is True
    resp = await api.put(f"{base}/{uid}", json=view)
    assert resp.status_code == 200, resp.text
    assert (await api.get(base)).json()["channels"] == [view]
    (row,) = await gateway.db.daos.channels.list(where={"channel_id": uid})
    assert row.api_keys == [KEY_A]


async def test_index_and_channel_id_address_the_same_channel(api: httpx.AsyncClient) -> None:
    first = await _create(api, name="one")
    second = await _create(api, name="two")
    by_index = (await api.get("/api/channels/1")).json()
    by_id = (await api.get(f"/api/channels/{second['id']}")).json()
    by_param = (await api.get(f"/api/channels/0?channelId={second['id']}")).json()
    assert by_index == by_id == by_param
    assert by_index["name"] == "two"
    assert (await api.get(f"/api/channels/{first['id']}")).json()["index"] == 0


async def test_names_are_unique_per_pool_ignoring_case(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    await _create(api, name="Main")
    before = await db_state(gateway)
    resp = await api.post("/api/channels", json={"name": "main", "serviceType": "claude"})
    assert resp.status_code == 409
    assert resp.json()["code"] == "DUPLICATE_NAME"
    assert await db_state(gateway) == before
    # Another pool may reuse the name.
    resp = await api.post(
        "/api/responses/channels", json={"name": "main", "serviceType": "responses"}
    )
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x"}, 422),  # serviceType missing
        ({"name": "x", "serviceType": "nope"}, 422),
        ({"name": "x", "serviceType": "claude", "priority": "1"}, 422),
        ({"name": "x", "serviceType": "claude", "priority": -1}, 422),
        ({"name": "x", "serviceType": "claude", "rateLimitRpm": 10**12}, 422),
        ({"name": "x", "serviceType": "claude", "apiKeys": "sk"}, 422),
        ({"name": "x", "serviceType": "claude", "apiKeys": ["a", "a"]}, 422),
        ({"name": "x", "serviceType": "claude", "colour": "red"}, 422),
        ({"name": "x\u0000", "serviceType": "claude"}, 422),
        ({"name": "x", "serviceType": "claude", "baseUrl": "ftp://x"}, 422),
        ({"name": "x", "serviceType": "claude", "promotionUntil": "tomorrow"}, 422),
        ({"name": "x", "serviceType": "claude", "quotaLimit": 1e300}, 422),
        ({"name": "x", "serviceType": "claude", "id": "__invalid_1"}, 422),
        (
            {
                "name": "x",
                "serviceType": "composite",
                "compositeMappings": [{"pattern": "opus", "targetChannelId": "missing"}],
            },
            422,
        ),
        ([1, 2], 400),
    ],
)
async def test_bad_bodies_are_refused_and_nothing_changes(
    api: httpx.AsyncClient, gateway: Running, body: Any, status: int
) -> None:
    before = await db_state(gateway)
    resp = await api.post("/api/channels", json=body)
    assert resp.status_code == status, resp.text
    problem = resp.json()
    assert problem["status"] == status and problem["error"] == problem["detail"]
    assert resp.headers["content-type"] == "application/problem+json"
    assert await db_state(gateway) == before


async def test_invalid_json_is_400(api: httpx.AsyncClient) -> None:
    resp = await api.post(
        "/api/channels", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400
    assert resp.json()["code"] == "INVALID_JSON"


async def test_unknown_channel_is_404_and_nothing_changes(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    await _create(api)
    before = await db_state(gateway)
    for method, path, body in (
        ("PUT", "/api/channels/nope", {"name": "y"}),
        ("DELETE", "/api/channels/7", None),
        ("POST", "/api/channels/nope/keys", {"apiKey": KEY_B}),
        ("DELETE", "/api/channels/0/keys/index/5", None),
        ("PATCH", "/api/channels/nope/status", {"status": "disabled"}),
        ("POST", "/api/channels/nope/promotion", {"duration": 60}),
    ):
        resp = await api.request(method, path, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
    assert await db_state(gateway) == before


async def test_stale_if_match_is_409_and_nothing_changes(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    created = await _create(api)
    etag = (await api.get("/api/channels")).headers["etag"]
    ok = await api.put(
        f"/api/channels/{created['id']}", json={"name": "n2"}, headers={"If-Match": etag}
    )
    assert ok.status_code == 200 and ok.headers["etag"] != etag
    before = await db_state(gateway)
    stale = await api.put(
        f"/api/channels/{created['id']}", json={"name": "n3"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 409
    assert stale.json()["error"] == "Configuration changed; reload and retry"
    assert await db_state(gateway) == before
    garbage = await api.delete(f"/api/channels/{created['id']}", headers={"If-Match": "x"})
    assert garbage.status_code == 409


async def test_keys_add_remove_and_move(api: httpx.AsyncClient, gateway: Running) -> None:
    uid = (await _create(api, apiKeys=[KEY_A]))["id"]
    assert (await api.post(f"/api/channels/{uid}/keys", json={"apiKey": KEY_B})).status_code == 200
    dup = await api.post(f"/api/channels/{uid}/keys", json={"apiKey": KEY_B})
    assert dup.status_code == 409

    async def keys() -> list[str]:
        (row,) = await gateway.db.daos.channels.list(where={"channel_id": uid})
        return row.api_keys

    assert await keys() == [KEY_A, KEY_B]
    assert (await api.post(f"/api/channels/{uid}/keys/index/1/top")).status_code == 200
    assert await keys() == [KEY_B, KEY_A]
    assert (await api.post(f"/api/channels/{uid}/keys/index/0/bottom")).status_code == 200
    assert await keys() == [KEY_A, KEY_B]
    assert (await api.delete(f"/api/channels/{uid}/keys/index/0")).status_code == 200
    assert await keys() == [KEY_B]
    assert gateway.rt.snapshot.channels_by_uid[uid].api_keys == (KEY_B,)


async def test_reorder_sets_priority_from_position(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    a = await _create(api, name="a")
    b = await _create(api, name="b")
    c = await _create(api, name="c")
    resp = await api.post("/api/channels/reorder", json={"order": [2, b["id"], 0]})
    assert resp.status_code == 200
    snap = gateway.rt.snapshot
    assert [snap.channels_by_uid[x["id"]].priority for x in (c, b, a)] == [1, 2, 3]
    assert [ch.uid for ch in snap.by_priority["messages"]] == [c["id"], b["id"], a["id"]]
    before = await db_state(gateway)
    for order in ([0, 0], [9], [], "x"):
        assert (await api.post("/api/channels/reorder", json={"order": order})).status_code in (
            404,
            422,
        )
    assert await db_state(gateway) == before


async def test_status_resume_and_promotion(api: httpx.AsyncClient, gateway: Running) -> None:
    uid = (await _create(api, apiKeys=[KEY_A]))["id"]
    resp = await api.patch(f"/api/channels/{uid}/status", json={"status": "suspended"})
    assert resp.status_code == 200
    assert gateway.rt.snapshot.channels_by_uid[uid].status == "suspended"
    bad = await api.patch(f"/api/channels/{uid}/status", json={"status": "sleeping"})
    assert bad.status_code == 422

    breaker = gateway.rt.scheduler.breaker
    for _ in range(10):
        breaker.record(uid, False)
    assert not breaker.is_healthy(uid)
    assert (await api.post(f"/api/channels/{uid}/resume")).status_code == 200
    assert breaker.is_healthy(uid)
    assert gateway.rt.snapshot.channels_by_uid[uid].status == "active"

    resp = await api.post(f"/api/channels/{uid}/promotion", json={"duration": 600})
    assert resp.status_code == 200 and resp.json()["promotionUntil"]
    stats = (await api.get("/api/channels/scheduler/stats")).json()
    assert stats["promotedChannel"] == uid
    resp = await api.post(f"/api/channels/{uid}/promotion", json={"duration": 0})
    assert resp.json()["promotionUntil"] is None
    too_long = await api.post(f"/api/channels/{uid}/promotion", json={"duration": 10**9})
    assert too_long.status_code == 422


async def test_load_balance_per_pool(api: httpx.AsyncClient, gateway: Running) -> None:
    resp = await api.put("/api/responses/loadbalance", json={"strategy": "round-robin"})
    assert resp.status_code == 200
    assert gateway.rt.snapshot.strategy("responses") == "round-robin"
    assert (await api.get("/api/responses/channels")).json()["loadBalance"] == "round-robin"
    assert gateway.rt.snapshot.strategy("messages") == "failover"
    assert (await api.put("/api/loadbalance", json={"strategy": "fastest"})).status_code == 422


async def test_delete_prunes_composite_references(api: httpx.AsyncClient, gateway: Running) -> None:
    t1 = await _create(api, name="t1", apiKeys=[KEY_A])
    t2 = await _create(api, name="t2", apiKeys=[KEY_B])
    mappings = [
        {"pattern": p, "targetChannelId": t1["id"], "failoverChain": [t2["id"]]}
        for p in ("haiku", "sonnet", "opus")
    ]
    comp = await _create(
        api, name="router", serviceType="composite", baseUrl="", compositeMappings=mappings
    )
    current = (await api.get("/api/messages/channels/current")).json()
    assert current["channelName"] in ("t1", "router")
    assert (await api.delete(f"/api/channels/{t1['id']}")).status_code == 200
    (row,) = await gateway.db.daos.channels.list(where={"channel_id": comp["id"]})
    assert all(
        m["targetChannelId"] == t2["id"] and m["failoverChain"] == []
        for m in row.composite_mappings
    )


async def test_usage_reset_also_lifts_the_suspension(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    from datetime import UTC, datetime, timedelta

    uid = (await _create(api, apiKeys=[KEY_A], quotaType="requests", quotaLimit=10))["id"]
    ch = gateway.rt.snapshot.channels_by_uid[uid]
    gateway.rt.quota.record(ch, "claude-x", 0.0)
    gateway.rt.suspensions.suspend(ch, datetime.now(UTC) + timedelta(hours=1), "quota")
    assert (await gateway.usage(uid)).used == 1.0
    assert await gateway.suspensions()
    usage = (await api.get(f"/api/channels/{uid}/usage")).json()
    assert (usage["used"], usage["limit"], usage["remaining"]) == (1.0, 10.0, 9.0)
    assert (await api.get("/api/channels/usage")).json()["0"]["channelId"] == uid

    resp = await api.post(f"/api/channels/{uid}/usage/reset")
    assert resp.status_code == 200 and resp.json()["usage"]["used"] == 0.0
    assert (await gateway.usage(uid)).used == 0.0
    assert await gateway.suspensions() == []
    assert uid not in gateway.rt.suspensions.until


async def test_metrics_mapping_and_models(api: httpx.AsyncClient, upstreams: Any) -> None:
    from tests.fakes.upstream import JsonReply

    up = await upstreams(default=JsonReply({"data": [{"id": "claude-a"}, {"id": "claude-b"}]}))
    uid = (
        await _create(
            api, baseUrl=up.url, apiKeys=[KEY_A], modelMapping={"sonnet": "claude-sonnet-4-5"}
        )
    )["id"]
    (metric,) = (await api.get("/api/channels/metrics")).json()
    assert metric["channelId"] == uid and metric["healthy"] is True
    mapped = (await api.get(f"/api/channels/{uid}/test-mapping?model=sonnet")).json()
    assert mapped["mappedModel"] == "claude-sonnet-4-5"
    models = await api.get(f"/api/channels/{uid}/models")
    assert models.json()["models"] == ["claude-a", "claude-b"]
    assert up.requests[0].path == "/v1/models"
    assert up.requests[0].header("x-api-key") == KEY_A
