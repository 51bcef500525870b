"""Config history: a row per revision, diffs, rollback, retention (both engines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.admin.conftest import Running, admin_client, db_state
from tests.admin.test_multi_instance import _budget, _within, pair  # noqa: F401 - fixture

KEY_1 = "sk-ant-api03-history-first-0001"
KEY_2 = "sk-ant-api03-history-second-0002"
GONE_KEY = "sk-ant-api03-history-gone-0003"


def _etag(resp: httpx.Response) -> int:
    return int(resp.headers["etag"].strip('"'))


async def _channel(api: httpx.AsyncClient, name: str, key: str, **fields: Any) -> dict[str, Any]:
    resp = await api.post(
        "/api/channels",
        json={
            "name": name,
            "serviceType": "claude",
            "baseUrl": "https://a.example",
            "apiKeys": [key],
            **fields,
        },
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return {**body, "revision": _etag(resp)}


async def _newest(api: httpx.AsyncClient) -> dict[str, Any]:
    resp = await api.get("/api/config/history", params={"limit": 1})
    assert resp.status_code == 200, resp.text
    item: dict[str, Any] = resp.json()["items"][0]
    return item


async def test_every_write_has_a_history_row_with_its_diff_and_actor(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    created = await _channel(api, "main", KEY_1, modelMapping={"sonnet": "a"})
    uid = created["id"]
    row = await _newest(api)
    assert row["revision"] == created["revision"]
    assert row["actor"] == {"keyId": 0, "name": "master"}
    assert row["action"] == "POST /api/channels"
    (added,) = row["changes"]
    assert added["section"] == "channels" and added["op"] == "added" and added["id"] == uid
    assert added["name"] == "main"
    assert added["value"]["maskedKeys"] == ["sk-ant-a...0001"]

    # An admin key's write names that key.
    made = (await api.post("/api/keys", json={"name": "ops", "isAdmin": True})).json()
    async with admin_client(gateway.url, made["key"]) as ops:
        resp = await ops.put(
            f"/api/channels/{uid}", json={"priority": 7, "modelMapping": {"sonnet": "b"}}
        )
        assert resp.status_code == 200, resp.text
        row = await _newest(ops)
    assert row["revision"] == _etag(resp)
    assert row["actor"] == {"keyId": made["id"], "name": "ops"}
    assert row["action"] == f"PUT /api/channels/{uid}"
    (changed,) = row["changes"]
    assert changed["op"] == "changed"
    assert changed["fields"]["modelMapping"] == {"old": {"sonnet": "a"}, "new": {"sonnet": "b"}}
    assert changed["fields"]["priority"]["new"] == 7

    # A key change shows as masked keys, old -> new.
    resp = await api.put(f"/api/channels/{uid}", json={"apiKeys": [KEY_2]})
    row = await _newest(api)
    assert row["changes"][0]["fields"]["maskedKeys"] == {
        "old": ["sk-ant-a...0001"],
        "new": ["sk-ant-a...0002"],
    }
    # Pricing and settings are diffed per model and per setting.
    await api.put(
        "/api/pricing/models", json={"model": "m-1", "inputPrice": 1.0, "outputPrice": 2.0}
    )
    await api.put("/api/loadbalance", json={"strategy": "round-robin"})
    page = (await api.get("/api/config/history", params={"limit": 2})).json()
    lb, price = page["items"]
    (strategy,) = lb["changes"]
    assert (strategy["section"], strategy["id"]) == ("settings", "messages_load_balance")
    assert "round-robin" in str(strategy)
    (model,) = price["changes"]
    assert (model["section"], model["id"], model["op"]) == ("pricing", "m-1", "added")
    # A JSON setting is diffed field by field.
    debug = (await api.get("/api/config/debug-log")).json()
    await api.put("/api/config/debug-log", json={**debug, "enabled": False})
    await api.put("/api/config/debug-log", json={**debug, "enabled": True})
    (section,) = (await _newest(api))["changes"]
    assert (section["id"], section["op"]) == ("debug_log", "changed")
    assert section["fields"] == {"enabled": {"old": False, "new": True}}

    # No secret anywhere in the history, listed or stored.
    text = (await api.get("/api/config/history", params={"limit": 200})).text
    detail = (await api.get(f"/api/config/history/{row['revision']}")).text
    for secret in (KEY_1, KEY_2, made["key"]):
        assert secret not in text and secret not in detail
    # Every revision since the first recorded one has its row, each in order.
    rows = await gateway.db.daos.config_history.list(order_by="revision")
    revisions = [r.revision for r in rows]
    assert revisions == list(range(revisions[0], gateway.rt.snapshot.revision + 1))


async def test_diff_between_two_revisions(api: httpx.AsyncClient) -> None:
    first = await _channel(api, "a", KEY_1)
    await api.put(f"/api/channels/{first['id']}", json={"name": "renamed"})
    second = await _channel(api, "b", KEY_2)
    resp = await api.get(
        "/api/config/history/diff", params={"from": first["revision"], "to": second["revision"]}
    )
    assert resp.status_code == 200, resp.text
    changes = resp.json()["changes"]
    by_id = {c["id"]: c for c in changes}
    assert by_id[first["id"]]["fields"]["name"] == {"old": "a", "new": "renamed"}
    assert by_id[second["id"]]["op"] == "added"
    assert resp.json()["from"] == first["revision"]
    # Without `to`, up to the newest revision.
    since = await api.get("/api/config/history/diff", params={"from": first["revision"]})
    assert since.json() == {**resp.json(), "to": second["revision"]}

    # Without `from`, what `to` itself changed.
    own = await api.get("/api/config/history/diff", params={"to": second["revision"]})
    assert own.json()["from"] == second["revision"] - 1
    assert [c["id"] for c in own.json()["changes"]] == [second["id"]]
    for params in ({"from": "1x"}, {"from": "x", "to": "1"}):
        bad = await api.get("/api/config/history/diff", params=params)
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
    for path in (
        "/api/config/history?limit=0",
        "/api/config/history?limit=x",
        "/api/config/history?offset=-1",
        "/api/config/history/abc",
    ):
        bad = await api.get(path)
        assert bad.status_code == 400, path
        assert bad.headers["content-type"] == "application/problem+json"
    missing = await api.get("/api/config/history/diff", params={"from": 99999, "to": 1})
    assert missing.status_code == 404 and missing.json()["code"] == "REVISION_NOT_FOUND"


async def test_rollback_writes_the_old_state_as_a_new_revision(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    kept = await _channel(api, "kept", KEY_1, modelMapping={"sonnet": "old"})
    gone = await _channel(api, "gone", GONE_KEY)
    await api.put("/api/aliases/dev-1", json={"alias": "alice"})
    target = _etag(await api.get("/api/config/history"))
    # Change everything after the target revision.
    await api.put(
        f"/api/channels/{kept['id']}", json={"modelMapping": {"sonnet": "new"}, "apiKeys": [KEY_2]}
    )
    await api.delete(f"/api/channels/{gone['id']}")
    await api.delete("/api/aliases/dev-1")
    before = _etag(await api.get("/api/config/history"))

    resp = await api.post(f"/api/config/rollback/{target}", headers={"If-Match": f'"{before}"'})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["rolledBackTo"] == target
    assert body["revision"] == _etag(resp) == before + 1
    assert body["keptKeys"] == [kept["id"]]
    assert body["disabledChannels"] == [gone["id"]]

    snap = gateway.rt.snapshot
    assert snap.revision == before + 1
    restored = snap.channels_by_uid[kept["id"]]
    assert dict(restored.model_mapping) == {"sonnet": "old"}
    assert restored.api_keys == (KEY_2,)  # masked in the history: current keys kept
    (gone_row,) = await gateway.db.daos.channels.list(where={"channel_id": gone["id"]})
    assert gone_row.status == "disabled" and not gone_row.api_keys
    assert [(a.user_id, a.alias) for a in await gateway.db.daos.user_aliases.list()] == [
        ("dev-1", "alice")
    ]
    # The rollback is a revision of its own, whose diff undoes the changes.
    row = await _newest(api)
    assert row["action"] == f"POST /api/config/rollback/{target}"
    assert {c["id"] for c in row["changes"]} >= {kept["id"], gone["id"], "dev-1"}
    # ...and the config it replaced was backed up first, keys in clear.
    (backup,) = (await api.get("/api/config/backups")).json()["backups"]
    assert backup["reason"] == "before_rollback" and backup["revision"] == before
    doc = (await api.get(f"/api/config/backups/{backup['filename']}")).json()
    (channel,) = doc["config"]["upstream"]
    assert channel["apiKeys"] == [KEY_2] and channel["modelMapping"] == {"sonnet": "new"}


async def test_rollback_restores_prices_aliases_and_settings(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    price = {"model": "m-1", "inputPrice": 1.0, "outputPrice": 2.0}
    await api.put("/api/pricing/models", json=price)
    aliases = (await api.get("/api/model-aliases")).json()
    await api.put("/api/model-aliases", json={**aliases, "messagesModels": [{"value": "a"}]})
    await api.put("/api/loadbalance", json={"strategy": "round-robin"})
    target = (await api.get("/api/config/history", params={"limit": 1})).json()["items"][0]
    pricing = (await api.get("/api/pricing")).json()
    models = (await api.get("/api/model-aliases")).json()

    await api.put("/api/pricing/models", json={**price, "inputPrice": 9.0})
    await api.put("/api/pricing/models", json={**price, "model": "m-2"})
    await api.put("/api/model-aliases", json={**aliases, "messagesModels": [{"value": "b"}]})
    await api.put("/api/loadbalance", json={"strategy": "random"})
    resp = await api.post(f"/api/config/rollback/{target['revision']}")
    assert resp.status_code == 200, resp.text

    assert (await api.get("/api/pricing")).json() == pricing
    assert (await api.get("/api/model-aliases")).json() == models
    assert gateway.rt.snapshot.strategy("messages") == "round-robin"
    # The new revision's state is the target's state again.
    now = (await api.get("/api/config/history/diff", params={"from": target["revision"]})).json()
    assert now["changes"] == [] and now["to"] == resp.json()["revision"]


async def test_rollback_refused_changes_nothing(api: httpx.AsyncClient, gateway: Running) -> None:
    first = await _channel(api, "a", KEY_1)
    await api.put(f"/api/channels/{first['id']}", json={"name": "b"})
    state = await db_state(gateway)
    history = await gateway.db.daos.config_history.count()

    stale = await api.post(
        f"/api/config/rollback/{first['revision']}", headers={"If-Match": f'"{first["revision"]}"'}
    )
    assert stale.status_code == 409 and stale.json()["code"] == "STALE_REVISION"
    for path, status in (
        ("/api/config/rollback/999999", 404),
        ("/api/config/rollback/-99999", 404),
        ("/api/config/rollback/1.5", 400),
        ("/api/config/rollback/abc", 400),
    ):
        resp = await api.post(path)
        assert resp.status_code == status, path
        assert resp.headers["content-type"] == "application/problem+json"
    assert await db_state(gateway) == state
    assert await gateway.db.daos.config_history.count() == history
    assert (await api.get("/api/config/backups")).json()["backups"] == []


async def test_negative_revisions_count_back_from_the_newest(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    await api.put("/api/aliases/dev-1", json={"alias": "alice"})
    await api.put("/api/aliases/dev-1", json={"alias": "bob"})
    newest = gateway.rt.snapshot.revision
    last = (await api.get("/api/config/history/diff", params={"from": -1})).json()
    assert (last["from"], last["to"]) == (newest - 1, newest)
    (change,) = last["changes"]
    assert change["fields"] == {"alias": {"old": "alice", "new": "bob"}}
    assert (await api.get("/api/config/history/-1")).json()["revision"] == newest - 1

    undo = await api.post("/api/config/rollback/-1")
    assert undo.status_code == 200, undo.text
    assert undo.json()["rolledBackTo"] == newest - 1
    assert [(a.user_id, a.alias) for a in await gateway.db.daos.user_aliases.list()] == [
        ("dev-1", "alice")
    ]


async def test_rollback_on_one_instance_reaches_the_other(
    engine: str,
    pair: tuple[Running, Running],  # noqa: F811 - the fixture
) -> None:
    a, b = pair
    async with admin_client(a.url) as api:
        created = await _channel(api, "c", KEY_1, modelMapping={"opus": "first"})
        await api.put(f"/api/channels/{created['id']}", json={"modelMapping": {"opus": "second"}})

        async def second() -> bool:
            channel = b.rt.snapshot.channels_by_uid.get(created["id"])
            return channel is not None and dict(channel.model_mapping) == {"opus": "second"}

        await _within(_budget(engine), second)
        resp = await api.post(f"/api/config/rollback/{created['revision']}")
        assert resp.status_code == 200, resp.text

    async def first() -> bool:
        channel = b.rt.snapshot.channels_by_uid[created["id"]]
        return dict(channel.model_mapping) == {"opus": "first"}

    await _within(_budget(engine), first)
    assert b.rt.snapshot.revision == resp.json()["revision"]
    assert b.rt.snapshot.channels_by_uid[created["id"]].api_keys == (KEY_1,)


@pytest.mark.gateway_env(CONFIG_HISTORY_REVISIONS="3", CONFIG_HISTORY_DAYS="30")
async def test_retention_prunes_old_revisions(api: httpx.AsyncClient, gateway: Running) -> None:
    for n in range(6):
        await api.put("/api/aliases/dev", json={"alias": f"name-{n}"})
    daos = gateway.db.daos
    assert await daos.config_history.count() >= 6
    await gateway.rt.reloader.maintain()
    newest = gateway.rt.snapshot.revision
    assert [r.revision for r in await daos.config_history.list(order_by="revision")] == [
        newest - 2,
        newest - 1,
        newest,
    ]
    # Too old: every row but the newest goes, whatever the count.
    for row in await daos.config_history.list():
        row.created_at = datetime.now(UTC) - timedelta(days=31)
        await daos.config_history.update(row)
    await gateway.rt.reloader.maintain()
    assert [r.revision for r in await daos.config_history.list()] == [newest]
    total = (await api.get("/api/config/history")).json()["total"]
    assert total == 1
