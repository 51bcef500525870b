"""Server-side backups in the database: list, create, restore, delete (both engines)."""

from __future__ import annotations

import httpx
import pytest

from tests.admin.conftest import Running, db_state

KEY = "sk-ant-api03-server-backup-0001"
OTHER = "sk-ant-api03-server-backup-0002"


async def _channel(api: httpx.AsyncClient, name: str, key: str) -> str:
    resp = await api.post(
        "/api/channels",
        json={
            "name": name,
            "serviceType": "claude",
            "baseUrl": "https://a.example",
            "apiKeys": [key],
        },
    )
    assert resp.status_code == 200, resp.text
    uid: str = resp.json()["id"]
    return uid


async def _backups(api: httpx.AsyncClient) -> list[dict]:
    resp = await api.get("/api/config/backups")
    assert resp.status_code == 200, resp.text
    items: list[dict] = resp.json()["backups"]
    return items


async def test_create_list_restore_delete(api: httpx.AsyncClient, gateway: Running) -> None:
    uid = await _channel(api, "main", KEY)
    await api.put("/api/aliases/dev-1", json={"alias": "alice"})
    made = await api.post("/api/config/backups")
    assert made.status_code == 201, made.text
    name = made.json()["filename"]
    assert name.startswith("manual_backup_") and name.endswith(".json")
    (listed,) = await _backups(api)
    assert listed["filename"] == name and listed["reason"] == "manual"
    assert listed["createdBy"] == "master" and listed["size"] == made.json()["size"] > 0
    assert listed["revision"] == gateway.rt.snapshot.revision
    assert KEY not in (await api.get("/api/config/backups")).text  # the list holds no contents
    doc = (await api.get(f"/api/config/backups/{name}")).json()
    assert doc["version"] == "1.0" and doc["config"]["upstream"][0]["apiKeys"] == [KEY]
    assert "apiKeys" not in doc  # client keys are never part of a server-side backup

    # Change the config, then restore the backup by name.
    await api.put(f"/api/channels/{uid}", json={"name": "renamed", "apiKeys": [OTHER]})
    await _channel(api, "extra", OTHER)
    await api.delete("/api/aliases/dev-1")
    before = gateway.rt.snapshot.revision
    resp = await api.post(f"/api/config/restore/{name}", headers={"If-Match": f'"{before}"'})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["filename"] == name and body["channels"] == 1
    assert body["revision"] == int(resp.headers["etag"].strip('"')) == before + 1
    snap = gateway.rt.snapshot
    assert [c.name for c in snap.channels_by_uid.values()] == ["main"]
    assert snap.channels_by_uid[uid].api_keys == (KEY,)
    assert [(a.user_id, a.alias) for a in await gateway.db.daos.user_aliases.list()] == [
        ("dev-1", "alice")
    ]
    # The config the restore replaced was backed up first.
    auto = [b for b in await _backups(api) if b["reason"] == "before_restore"]
    assert [b["filename"] for b in auto] == [body["backup"]]
    assert auto[0]["revision"] == before
    replaced = (await api.get(f"/api/config/backups/{body['backup']}")).json()
    assert sorted(c["name"] for c in replaced["config"]["upstream"]) == ["extra", "renamed"]
    # The restore is in the history like any write.
    history = (await api.get("/api/config/history", params={"limit": 1})).json()["items"][0]
    assert history["action"] == f"POST /api/config/restore/{name}"

    # A backup may be named; names are unique, and the list can be filtered by reason.
    named = await api.post("/api/config/backups", json={"name": "before-upgrade"})
    assert named.status_code == 201 and named.json()["filename"] == "before-upgrade.json"
    clash = await api.post("/api/config/backups", json={"name": "before-upgrade.json"})
    assert clash.status_code == 409 and clash.json()["code"] == "BACKUP_EXISTS"
    manual = (await api.get("/api/config/backups", params={"reason": "manual"})).json()
    assert [b["filename"] for b in manual["backups"]] == ["before-upgrade.json", name]

    deleted = await api.delete(f"/api/config/backups/{name}")
    assert deleted.status_code == 200 and deleted.json()["filename"] == name
    assert name not in [b["filename"] for b in await _backups(api)]
    again = await api.delete(f"/api/config/backups/{name}")
    assert again.status_code == 404 and again.json()["code"] == "BACKUP_NOT_FOUND"


async def test_bad_requests_change_nothing(api: httpx.AsyncClient, gateway: Running) -> None:
    await _channel(api, "main", KEY)
    name = (await api.post("/api/config/backups")).json()["filename"]
    await _channel(api, "second", OTHER)
    state = await db_state(gateway)
    listed = await _backups(api)
    history = await gateway.db.daos.config_history.count()

    stale = await api.post(f"/api/config/restore/{name}", headers={"If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["code"] == "STALE_REVISION"
    for method, path, status in (
        ("POST", "/api/config/restore/nope.json", 404),
        ("POST", "/api/config/restore/bad%20name%21.json", 400),
        ("GET", "/api/config/backups/not-a-backup", 400),
        ("DELETE", "/api/config/backups/missing.json", 404),
        ("GET", "/api/config/backups?reason=weekly", 400),
    ):
        resp = await api.request(method, path)
        assert resp.status_code == status, (path, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    for body, status in (
        ({"name": "../escape"}, 422),
        ({"name": ""}, 422),
        ({"name": 7}, 422),
        ({"label": "x"}, 422),
        ([], 400),
    ):
        resp = await api.post("/api/config/backups", json=body)
        assert resp.status_code == status, (body, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    assert await db_state(gateway) == state
    assert await _backups(api) == listed
    assert await gateway.db.daos.config_history.count() == history


@pytest.mark.gateway_env(CONFIG_BACKUPS_KEEP="2")
async def test_restore_of_a_body_backs_up_first_and_keeps_the_newest(
    api: httpx.AsyncClient,
) -> None:
    await _channel(api, "main", KEY)
    manual = (await api.post("/api/config/backups")).json()["filename"]
    document = (await api.get("/api/config/backup?includeKeys=true")).json()
    made = []
    for _ in range(3):
        resp = await api.post("/api/config/restore", json=document)
        assert resp.status_code == 200, resp.text
        made.append(
            next(b for b in await _backups(api) if b["reason"] == "before_restore")["filename"]
        )
    backups = await _backups(api)
    automatic = [b["filename"] for b in backups if b["reason"] == "before_restore"]
    assert automatic == made[:0:-1]  # the newest two, newest first
    assert manual in [b["filename"] for b in backups]  # manual backups are not pruned


async def test_preview_route_still_wins_over_a_backup_name(api: httpx.AsyncClient) -> None:
    await _channel(api, "main", KEY)
    document = (await api.get("/api/config/backup")).json()
    resp = await api.post("/api/config/restore/preview", json=document)
    assert resp.status_code == 200, resp.text
    assert resp.json()["channels"]["unchanged"] == 1
    assert await _backups(api) == []  # a preview writes nothing, not even a backup


async def test_restore_by_name_refuses_to_empty_a_pool(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    empty = (await api.post("/api/config/backups", json={"name": "empty"})).json()["filename"]
    await _channel(api, "main", KEY)
    state = await db_state(gateway)
    refused = await api.post(f"/api/config/restore/{empty}")
    assert refused.status_code == 422 and refused.json()["code"] == "RESTORE_EMPTIES_POOL"
    assert await db_state(gateway) == state
    assert [b["reason"] for b in await _backups(api)] == ["manual"]  # no automatic backup

    allowed = await api.post(f"/api/config/restore/{empty}", params={"allowEmptyPools": "true"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["channels"] == 0 and not gateway.rt.snapshot.channels_by_uid
