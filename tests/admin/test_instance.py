"""POST /admin/config/reload and GET /admin/dev/info on real gateways."""

from __future__ import annotations

import httpx
import pytest

from generated.tables.channels import ChannelsRow
from tests.admin.conftest import MASTER_KEY, Running, admin_client

RELOAD = "/admin/config/reload"
DEV_INFO = "/admin/dev/info"


@pytest.mark.gateway_env(CONFIG_POLL_INTERVAL="3600")
async def test_reload_adopts_a_change_the_poll_has_not_seen(gateway: Running) -> None:
    row = ChannelsRow(
        channel_id="c0ffee01",
        channel_type="messages",
        name="written-elsewhere",
        service_type="claude",
        base_url="http://127.0.0.1:9",
        api_keys=["sk-upstream-secret-1"],
    )
    async with gateway.db.transaction() as tx:  # as another instance would, minus NOTIFY
        await tx.channels.insert(row)
        bumped = await tx.settings.bump_revision()
    assert bumped is not None and bumped.value is not None
    revision = int(bumped.value)
    assert gateway.rt.snapshot.revision != revision
    assert gateway.rt.snapshot.pool("messages") == ()
    async with admin_client(gateway.url) as api:
        resp = await api.post(RELOAD)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "success"
    assert body["revision"] == revision and resp.headers["ETag"] == f'"{revision}"'
    assert body["config"]["upstreamCount"] == 1
    assert body["config"]["loadBalance"] == "failover"
    assert gateway.rt.snapshot.revision == revision
    assert [c.name for c in gateway.rt.snapshot.pool("messages")] == ["written-elsewhere"]
    assert "sk-upstream-secret-1" not in resp.text


async def test_reload_at_the_same_revision_reloads_and_counts(gateway: Running) -> None:
    before = gateway.rt.reloader.reloads
    async with admin_client(gateway.url) as api:
        resp = await api.post(RELOAD)
    assert resp.status_code == 200
    assert resp.json()["revision"] == gateway.rt.snapshot.revision
    assert gateway.rt.reloader.reloads == before + 1


async def test_admin_routes_need_an_admin_key(gateway: Running) -> None:
    user_key = await gateway.add_key("plain user")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as anonymous:
        for method, path in (("POST", RELOAD), ("GET", DEV_INFO)):
            resp = await anonymous.request(method, path)
            assert resp.status_code == 401, path
            assert resp.json()["code"] == "UNAUTHORIZED"
    async with admin_client(gateway.url, user_key) as user:
        for method, path in (("POST", RELOAD), ("GET", DEV_INFO)):
            resp = await user.request(method, path)
            assert resp.status_code == 403, path
    admin_key = await gateway.add_key("admin", is_admin=True)
    async with admin_client(gateway.url, admin_key) as admin:
        assert (await admin.post(RELOAD)).status_code == 200


async def test_dev_info_summarises_without_secrets(gateway: Running) -> None:
    await gateway.add_channel("responses", "r1", "http://127.0.0.1:9", ["sk-upstream-secret-2"])
    async with admin_client(gateway.url) as api:
        resp = await api.get(DEV_INFO)
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "development"
    assert body["config"]["responsesUpstreamCount"] == 1
    assert body["config"]["upstreamCount"] == 0
    assert body["environment"]["env"] == "development"
    assert body["environment"]["port"] == gateway.rt.settings.port
    assert MASTER_KEY not in resp.text and "sk-upstream-secret-2" not in resp.text


@pytest.mark.gateway_env(ENV="production")
async def test_dev_info_is_absent_in_production(gateway: Running) -> None:
    async with admin_client(gateway.url) as api:
        assert (await api.get(DEV_INFO)).status_code == 404
        assert (await api.post(RELOAD)).status_code == 200
