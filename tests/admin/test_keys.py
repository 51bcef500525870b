"""Client API keys (spec §3.2, §4): hashes only, shown once, revoke is final."""

from __future__ import annotations

import re

import httpx

from ccbridge.access.auth import hash_key
from tests.admin.conftest import Running, admin_client, db_state


async def _create(api: httpx.AsyncClient, **fields: object) -> dict:
    resp = await api.post("/api/keys", json={"name": "laptop", **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_create_stores_only_the_hash_and_shows_the_key_once(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    created = await _create(api, description="dev box", rateLimitRpm=30)
    key = created["key"]
    assert re.fullmatch(r"sk-[A-Za-z0-9]{48}", key)
    assert created["keyPrefix"] == key[:8] + "..."
    (row,) = await gateway.db.daos.api_keys.list()
    assert row.key_hash == hash_key(key)
    assert key not in repr(row)
    for path in ("/api/keys", f"/api/keys/{created['id']}", "/api/config/backup?includeKeys=true"):
        assert key not in (await api.get(path)).text
    assert "key" not in (await api.get(f"/api/keys/{created['id']}")).json()


async def test_list_pages_and_filters(api: httpx.AsyncClient) -> None:
    ids = [(await _create(api, name=f"k{i}"))["id"] for i in range(5)]
    await api.post(f"/api/keys/{ids[0]}/disable")
    page = (await api.get("/api/keys?limit=2&offset=1")).json()
    assert [k["id"] for k in page["keys"]] == ids[1:3]
    assert (page["total"], page["hasMore"]) == (5, True)
    last = (await api.get("/api/keys?limit=2&offset=4")).json()
    assert last["hasMore"] is False
    disabled = (await api.get("/api/keys?status=disabled")).json()
    assert [k["id"] for k in disabled["keys"]] == [ids[0]] and disabled["total"] == 1
    assert (await api.get("/api/keys?status=bogus")).status_code == 422
    assert (await api.get("/api/keys?limit=abc")).status_code == 400
    assert (await api.get("/api/keys?limit=0")).status_code == 422


async def test_admin_keys_manage_and_plain_keys_are_refused(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    admin = (await _create(api, name="ops", isAdmin=True))["key"]
    plain = (await _create(api, name="dev"))["key"]
    async with admin_client(gateway.url, admin) as as_admin:
        assert (await as_admin.get("/api/keys")).status_code == 200
    async with admin_client(gateway.url, plain) as as_plain:
        resp = await as_plain.get("/api/keys")
    assert resp.status_code == 403 and resp.json()["code"] == "ADMIN_REQUIRED"


async def test_current_channel_is_open_to_keys_allowed_it(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    allowed = (await _create(api, allowedEndpoints=["messages_current_channel"]))["key"]
    other = (await _create(api, name="other", allowedEndpoints=["messages"]))["key"]
    async with admin_client(gateway.url, allowed) as client:
        assert (await client.get("/api/messages/channels/current")).status_code == 200
        assert (await client.get("/api/channels")).status_code == 403
    async with admin_client(gateway.url, other) as client:
        resp = await client.get("/api/messages/channels/current")
    assert resp.status_code == 403 and resp.json()["code"] == "ENDPOINT_NOT_ALLOWED"


async def test_rotate_disable_enable_revoke(api: httpx.AsyncClient, gateway: Running) -> None:
    created = await _create(api)
    kid, old = created["id"], created["key"]
    rotated = await api.post(f"/api/keys/{kid}/rotate")
    assert rotated.status_code == 200
    new = rotated.json()["key"]
    assert new != old
    snap = gateway.rt.snapshot
    assert hash_key(new) in snap.keys_by_hash and hash_key(old) not in snap.keys_by_hash

    assert (await api.post(f"/api/keys/{kid}/disable")).json()["status"] == "disabled"
    assert hash_key(new) not in gateway.rt.snapshot.keys_by_hash
    assert (await api.post(f"/api/keys/{kid}/enable")).json()["status"] == "active"
    assert (await api.post(f"/api/keys/{kid}/revoke")).json()["status"] == "revoked"
    assert hash_key(new) not in gateway.rt.snapshot.keys_by_hash

    before = await db_state(gateway)
    for action in ("enable", "disable", "rotate"):
        resp = await api.post(f"/api/keys/{kid}/{action}")
        assert resp.status_code == 409 and resp.json()["code"] == "KEY_REVOKED"
    resp = await api.put(f"/api/keys/{kid}", json={"status": "active"})
    assert resp.status_code == 409
    assert await db_state(gateway) == before


async def test_update_validates_and_delete(api: httpx.AsyncClient, gateway: Running) -> None:
    kid = (await _create(api))["id"]
    resp = await api.put(
        f"/api/keys/{kid}",
        json={"name": "renamed", "allowedModels": ["claude-*"], "allowedChannelsMsg": []},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert (body["name"], body["allowedModels"], body["allowedChannelsMsg"]) == (
        "renamed",
        ["claude-*"],
        None,
    )
    before = await db_state(gateway)
    for bad in (
        {"rateLimitRpm": 10_001},
        {"allowedEndpoints": ["admin"]},
        {"isAdmin": "yes"},
        {"secret": 1},
        {"name": ""},
    ):
        assert (await api.put(f"/api/keys/{kid}", json=bad)).status_code == 422, bad
    assert (await api.put("/api/keys/999", json={"name": "x"})).status_code == 404
    assert (await api.delete("/api/keys/abc")).status_code == 404
    assert await db_state(gateway) == before
    assert (await api.delete(f"/api/keys/{kid}")).status_code == 200
    assert await gateway.db.daos.api_keys.count() == 0
