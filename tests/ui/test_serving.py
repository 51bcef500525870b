"""How the UI's files are served, and the restore preview it relies on."""

from __future__ import annotations

import gzip
import re

import httpx
import pytest

from tests.proxy.conftest import MASTER_KEY, Running

ADMIN = {"x-api-key": MASTER_KEY}


async def test_the_page_names_hashed_files_cached_for_a_year(gateway: Running) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in page.text and " style=" not in page.text  # nothing inline

        urls = re.findall(r'(?:src|href)="(/ui/[0-9a-f]{16}/[^"]+)"', page.text)
        assert {u.rsplit("/", 1)[-1] for u in urls} >= {"app.js", "app.css", "preact.js"}
        app = await client.get(next(u for u in urls if u.endswith("/app.js")))
        assert app.status_code == 200
        assert app.headers["content-type"] == "text/javascript; charset=utf-8"
        assert app.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert app.headers["content-encoding"] == "gzip"  # httpx asks for it
        assert "render(" in app.text
        raw = await client.get(urls[-1], headers={"accept-encoding": "identity"})
        assert "content-encoding" not in raw.headers

        build = urls[0].split("/")[2]
        assert (await client.get(f"/ui/{'0' * 16}/app.js")).status_code == 404  # other build
        assert (await client.get(f"/ui/{build}/nope.js")).status_code == 404
        assert (await client.get(f"/ui/{build}/../settings.py")).status_code == 404


async def test_the_gzip_form_is_the_file(gateway: Running) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        page = await client.get("/")
        url = re.search(r'src="(/ui/[^"]+/app\.js)"', page.text)
        assert url is not None
        plain = await client.get(url.group(1), headers={"accept-encoding": "identity"})
        stream = client.build_request("GET", url.group(1), headers={"accept-encoding": "gzip"})
        packed = await client.send(stream, stream=True)
        body = b"".join([chunk async for chunk in packed.aiter_raw()])
        assert gzip.decompress(body) == plain.content
        assert len(body) < len(plain.content) / 2


@pytest.mark.gateway_env(ENABLE_WEB_UI="false")
async def test_with_the_ui_off_its_paths_are_not_found(gateway: Running) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/ui/0123456789abcdef/app.js")).status_code == 404
        assert (await client.get("/api/channels", headers=ADMIN)).status_code == 200


async def test_restore_preview_validates_and_writes_nothing(gateway: Running) -> None:
    await gateway.add_channel("messages", "keep", "http://127.0.0.1:9", ["sk-ant-0123456789abc"])
    async with httpx.AsyncClient(base_url=gateway.url, headers=ADMIN) as client:
        backup = (await client.get("/api/config/backup")).json()
        before = (await client.get("/api/channels")).headers["etag"]
        backup["config"]["upstream"][0]["name"] = "renamed"
        backup["config"]["loadBalance"] = "random"
        resp = await client.post("/api/config/restore/preview", json=backup)
        assert resp.status_code == 200, resp.text
        assert resp.headers["etag"] == before
        changes = resp.json()
        assert changes["channels"]["changed"] == [
            {
                "pool": "messages",
                "id": changes["channels"]["changed"][0]["id"],
                "name": "renamed",
                "fields": ["name"],
            }
        ]
        assert {s["key"] for s in changes["settings"] if s["changed"]} == {"messages_load_balance"}
        assert "sk-ant" not in resp.text
        assert (await client.get("/api/channels")).json()["channels"][0]["name"] == "keep"

        bad = await client.post("/api/config/restore/preview", json={"config": {"bogus": 1}})
        assert bad.status_code == 422
        assert bad.json()["code"] == "UNKNOWN_FIELD"
        doc = (await client.get("/api/openapi.json")).json()
        assert "post" in doc["paths"]["/api/config/restore/preview"]


async def test_dashboard_channels_answers_every_pool_in_one_call(gateway: Running) -> None:
    await gateway.add_channel("messages", "m1", "http://127.0.0.1:9", ["sk-ant-0123456789abc"])
    await gateway.add_channel(
        "responses",
        "r1",
        "http://127.0.0.1:9",
        ["sk-0123456789abcdef"],
        quota_type="requests",
        quota_limit=10.0,
    )
    async with httpx.AsyncClient(base_url=gateway.url, headers=ADMIN) as client:
        resp = await client.get("/api/dashboard/channels")
        assert resp.status_code == 200, resp.text
        assert resp.headers["etag"]
        channels = {c["name"]: c for c in resp.json()["channels"]}
        assert {n: c["pool"] for n, c in channels.items()} == {"m1": "messages", "r1": "responses"}
        assert channels["m1"]["broken"] is False and channels["m1"]["suspendedUntil"] is None
        assert channels["r1"]["quota"]["limit"] == 10.0
        assert "sk-" not in resp.text
        doc = (await client.get("/api/openapi.json")).json()
        assert "get" in doc["paths"]["/api/dashboard/channels"]
