"""Backup export and restore (one transaction, secrets only on request)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.admin.conftest import Running, db_state

KEY = "sk-ant-api03-backup-secret-0001"
_EXPIRES = "2031-05-01T00:00:00Z"


async def _seed(api: httpx.AsyncClient) -> dict:
    created = await api.post(
        "/api/channels",
        json={
            "name": "main",
            "serviceType": "claude",
            "baseUrl": "https://a.example",
            "apiKeys": [KEY],
            "modelMapping": {"sonnet": "claude-sonnet-4-5"},
        },
    )
    await api.post("/api/responses/channels", json={"name": "codex", "serviceType": "responses"})
    await api.put("/api/loadbalance", json={"strategy": "round-robin"})
    await api.put("/api/aliases/dev-1", json={"alias": "alice"})
    budget = {"budgetUsd": 2.5, "budgetPeriod": "daily", "tokenBudget": 9000}
    await api.post("/api/keys", json={"name": "laptop", **budget, "expiresAt": _EXPIRES})
    return created.json()


async def test_export_has_the_reference_format_and_no_secrets(api: httpx.AsyncClient) -> None:
    await _seed(api)
    resp = await api.get("/api/config/backup")
    assert resp.status_code == 200 and resp.headers["etag"]
    doc = resp.json()
    assert doc["version"] == "1.0" and doc["createdAt"]
    assert {"config", "pricing", "aliases", "userAliases", "ratelimit"} <= set(doc)
    config = doc["config"]
    assert [c["name"] for c in config["upstream"]] == ["main"]
    assert [c["name"] for c in config["responsesUpstream"]] == ["codex"]
    assert config["loadBalance"] == "round-robin"
    assert {"debugLog", "failover", "userAgent", "outboundHeaderPolicy"} <= set(config)
    assert KEY not in resp.text and "apiKeys" not in doc
    assert doc["userAliases"] == {"dev-1": "alice"}

    full = (await api.get("/api/config/backup?includeKeys=true")).json()
    assert full["config"]["upstream"][0]["apiKeys"] == [KEY]
    (client_key,) = full["apiKeys"]
    assert len(client_key["keyHash"]) == 64 and "key" not in client_key


async def test_restore_round_trip_in_one_transaction(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    created = await _seed(api)
    backup = (await api.get("/api/config/backup?includeKeys=true")).json()
    before = await db_state(gateway)

    # Change everything, then restore.
    await api.delete(f"/api/channels/{created['id']}")
    await api.put("/api/loadbalance", json={"strategy": "random"})
    await api.delete("/api/aliases/dev-1")
    (key,) = (await api.get("/api/keys")).json()["keys"]
    await api.delete(f"/api/keys/{key['id']}")
    resp = await api.post("/api/config/restore", json=backup)
    assert resp.status_code == 200, resp.text
    assert resp.json()["channels"] == 2

    after = await db_state(gateway)
    strip = lambda rows: [(r.channel_id, r.name, r.api_keys, r.model_mapping) for r in rows]  # noqa: E731
    assert strip(after["channels"]) == strip(before["channels"])
    kept = lambda rows: [  # noqa: E731
        (k.name, k.key_hash, k.expires_at, k.budget_usd, k.budget_period, k.token_budget)
        for k in rows
    ]
    assert kept(after["api_keys"]) == kept(before["api_keys"])
    assert kept(after["api_keys"])[0][2:] == (
        datetime(2031, 5, 1, tzinfo=UTC),
        2.5,
        "daily",
        9000,
    )
    assert [(a.user_id, a.alias) for a in after["user_aliases"]] == [("dev-1", "alice")]
    snap = gateway.rt.snapshot
    assert snap.strategy("messages") == "round-robin"
    assert snap.channels_by_uid[created["id"]].api_keys == (KEY,)


async def test_restore_without_secrets_keeps_channel_keys(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    created = await _seed(api)
    backup = (await api.get("/api/config/backup")).json()
    backup["config"]["upstream"][0]["description"] = "restored"
    assert (await api.post("/api/config/restore", json=backup)).status_code == 200
    (row,) = await gateway.db.daos.channels.list(where={"channel_id": created["id"]})
    assert (row.api_keys, row.description) == ([KEY], "restored")
    assert await gateway.db.daos.api_keys.count() == 1  # client keys untouched


async def test_bad_backup_changes_nothing(api: httpx.AsyncClient, gateway: Running) -> None:
    await _seed(api)
    good = (await api.get("/api/config/backup")).json()
    before = await db_state(gateway)
    bad_docs = [
        {},
        {**good, "config": {**good["config"], "upstream": [{"name": "x"}]}},
        {**good, "config": {**good["config"], "loadBalance": "fastest"}},
        {
            **good,
            "config": {
                **good["config"],
                "upstream": [
                    {"name": "a", "serviceType": "claude"},
                    {"name": "A", "serviceType": "claude"},
                ],
            },
        },
        {**good, "pricing": {"models": {"m": {"inputPrice": "free"}}}},
        {**good, "apiKeys": [{"name": "k", "keyHash": "nothex"}]},
        {**good, "surprise": True},
    ]
    for doc in bad_docs:
        resp = await api.post("/api/config/restore", json=doc)
        assert resp.status_code in (400, 409, 422), resp.text
    stale = await api.post("/api/config/restore", json=good, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert await db_state(gateway) == before


async def test_restore_refuses_a_mistyped_document_before_touching_anything(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    # Drift: `loadBalance: {}` was accepted and every channel was wiped.
    await _seed(api)
    before = await db_state(gateway)
    resp = await api.post("/api/config/restore", json={"config": {"loadBalance": {}}})
    assert resp.status_code == 422
    assert resp.json()["code"] == "INVALID_FIELD"
    assert resp.json()["field"] == "config.loadBalance"
    for doc, field in [
        ({"config": {}, "apiKeys": "sk-x"}, "apiKeys"),
        ({"config": {"debugLog": {"enabled": 1}}}, "config.debugLog.enabled"),
        ({"config": {}, "ratelimit": {"authFailure": {"thresholds": [{}]}}}, None),
        ({"config": {"upstream": [{"name": "x", "serviceType": "nope"}]}}, None),
    ]:
        resp = await api.post("/api/config/restore", json=doc)
        assert resp.status_code == 422, (doc, resp.text)
        if field is not None:
            assert resp.json()["field"] == field
    assert await db_state(gateway) == before


async def test_restore_that_empties_a_pool_needs_the_flag(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    await _seed(api)
    good = (await api.get("/api/config/backup")).json()
    before = await db_state(gateway)
    no_codex = {**good, "config": {**good["config"], "responsesUpstream": []}}
    preview = await api.post("/api/config/restore/preview", json=no_codex)
    assert preview.json()["emptiedPools"] == ["responses"]
    for refused in (no_codex, {**no_codex, "allowEmptyPools": False}):
        resp = await api.post("/api/config/restore", json=refused)
        assert resp.status_code == 422
        problem = resp.json()
        assert problem["code"] == "RESTORE_EMPTIES_POOL"
        assert problem["pools"] == ["responses"]
        assert "responses pool" in problem["detail"]
        assert problem["field"] == "config.responsesUpstream"
        assert await db_state(gateway) == before  # refused whole: nothing changed

    # An empty pool that was empty before is no reason to refuse.
    assert (await api.post("/api/config/restore", json=good)).status_code == 200
    assert (await api.post("/api/config/restore/preview", json=good)).json()["emptiedPools"] == []

    resp = await api.post("/api/config/restore", json={**no_codex, "allowEmptyPools": True})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"success": True, "message": "Configuration restored", "channels": 1}
    pools = {r.channel_type for r in await gateway.db.daos.channels.list()}
    assert pools == {"messages"}


async def test_the_query_flag_also_allows_emptying_a_pool(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    await _seed(api)
    good = (await api.get("/api/config/backup")).json()
    no_codex = {**good, "config": {**good["config"], "responsesUpstream": []}}
    resp = await api.post("/api/config/restore?allowEmptyPools=true", json=no_codex)
    assert resp.status_code == 200, resp.text
    pools = {r.channel_type for r in await gateway.db.daos.channels.list()}
    assert pools == {"messages"}
