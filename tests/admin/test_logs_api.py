"""GET /api/logs (filters, cursor), /:id, /:id/debug, DELETE and cleanup."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime, timedelta

import anthropic
import httpx

from ccbridge.store.logmaint import expire_debug_logs
from ccbridge.store.snapshot import DebugLogConfig
from generated.rows import RequestDebugLogsRow
from tests.admin.conftest import MASTER_KEY, Running
from tests.admin.test_logs_support import BASE, approx_equal, ask, log_row, sdk, write_rows
from tests.fakes.upstream import anthropic_error, messages_json_reply
from tests.proxy.conftest import UpstreamFactory

ANT_KEY = "sk-ant-logs-api-000001"
PROMPT = {"role": "user", "content": "hello"}


async def _ids(api: httpx.AsyncClient, **params: object) -> list[str]:
    resp = await api.get("/api/logs", params={"limit": 1000, **params})
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["requests"]]


async def test_filters_over_real_requests(
    gateway: Running, api: httpx.AsyncClient, upstreams: UpstreamFactory
) -> None:
    alpha = await upstreams(default=messages_json_reply(input_tokens=10, output_tokens=5))
    beta = await upstreams(default=anthropic_error(400, "invalid_request_error", "bad"))
    await gateway.add_channel("messages", "alpha", alpha.url, [ANT_KEY], priority=1)
    await gateway.add_channel(
        "messages", "beta", beta.url, [ANT_KEY], priority=2, status="disabled"
    )
    async with sdk(gateway) as client:
        await ask(client, model="claude-sonnet-4-5", who=("c1", "s1"))
        await ask(client, model="claude-haiku-4-5", who=("c2", "s2"))
    channels = {c.name: c for c in await gateway.db.daos.channels.list()}
    await gateway.update_channel(channels["alpha"], status="disabled")
    await gateway.update_channel(channels["beta"], status="active")
    async with sdk(gateway) as client:
        try:
            await ask(client, who=("c3", "s3"))
        except anthropic.BadRequestError:
            pass
    rows = await gateway.logs()
    assert [r.status for r in rows] == ["completed", "completed", "error"]
    first, second, failed = (r.id for r in rows)

    assert await _ids(api) == [failed, second, first]
    assert await _ids(api, model="claude-haiku-4-5") == [second]
    assert await _ids(api, clientId="c1") == [first]
    assert await _ids(api, clientId="c3") == [failed]
    assert await _ids(api, sessionId="s2") == [second]
    assert await _ids(api, channel="beta") == [failed]
    assert await _ids(api, channel="alpha") == [second, first]
    assert await _ids(api, provider="claude") == [failed, second, first]
    assert await _ids(api, httpStatus=400) == [failed]
    assert await _ids(api, endpoint="/v1/messages") == [failed, second, first]
    assert await _ids(api, endpoint="/v1/responses") == []
    mid = rows[1].initial_time.isoformat()
    assert await _ids(api, **{"from": mid}) == [failed, second]
    assert await _ids(api, to=mid) == [second, first]  # inclusive, as in the reference

    body = (await api.get("/api/logs", params={"limit": 2})).json()
    assert (body["total"], body["totalExact"], body["hasMore"]) == (3, True, True)
    one = body["requests"][0]
    assert one["id"] == failed and one["httpStatus"] == 400 and one["hasDebugData"] is False
    assert (one["clientId"], one["sessionId"], one["providerName"]) == ("c3", "s3", "beta")

    single = (await api.get(f"/api/logs/{second}")).json()
    assert single["id"] == second and single["model"] == "claude-haiku-4-5"
    assert (single["inputTokens"], single["outputTokens"], single["totalTokens"]) == (10, 5, 15)
    missing = await api.get("/api/logs/req_nope")
    assert missing.status_code == 404 and missing.json()["code"] == "LOG_NOT_FOUND"
    bad = await api.get("/api/logs", params={"from": "yesterday"})
    assert bad.status_code == 400


async def test_cursor_pages_have_no_gaps_or_duplicates_while_rows_arrive(
    gateway: Running, api: httpx.AsyncClient
) -> None:
    # 300 rows, several sharing one initial_time, so the id tiebreak matters.
    rows = [log_row(i, BASE - timedelta(seconds=i // 3)) for i in range(300)]
    await write_rows(gateway, rows)
    expected = [r.id for r in sorted(rows, key=lambda r: (r.initial_time, r.id), reverse=True)]

    stop = asyncio.Event()

    async def keep_writing() -> None:
        n = 1000
        while not stop.is_set():
            # Newer rows, and older ones that land behind the cursor.
            await write_rows(
                gateway,
                [
                    log_row(n, datetime.now(UTC)),
                    log_row(n + 1, BASE - timedelta(seconds=50, microseconds=n)),
                ],
            )
            n += 2

    writer = asyncio.create_task(keep_writing())
    seen: list[str] = []
    cursor = None
    try:
        params: dict[str, object] = {"limit": 37, "to": BASE.isoformat()}
        while True:
            query = {**params, "cursor": cursor} if cursor else params
            page = (await api.get("/api/logs", params=query)).json()
            seen += [r["id"] for r in page["requests"]]
            cursor = page["nextCursor"]
            if not page["hasMore"]:
                assert cursor is None
                break
    finally:
        stop.set()
        await writer
    assert len(seen) == len(set(seen))
    original = set(expected)
    assert [i for i in seen if i in original] == expected  # every row once, in order
    bad = await api.get("/api/logs", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_CURSOR"


async def test_offset_still_pages(gateway: Running, api: httpx.AsyncClient) -> None:
    rows = [log_row(i, BASE - timedelta(seconds=i)) for i in range(25)]
    await write_rows(gateway, rows)
    pages = []
    for offset in (0, 10, 20):
        body = (await api.get("/api/logs", params={"limit": 10, "offset": offset})).json()
        pages += [r["id"] for r in body["requests"]]
    assert pages == [r.id for r in rows]
    assert body["hasMore"] is False


async def test_debug_data_is_unpacked_and_masked(
    gateway: Running, api: httpx.AsyncClient, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(default=messages_json_reply())
    await gateway.add_channel("messages", "one", up.url, [ANT_KEY])
    await gateway.set_setting("debug_log", json.dumps({"enabled": True}))
    prompt = {"role": "user", "content": "hello debug"}
    headers = {
        "x-api-key": MASTER_KEY,
        "cookie": "short=1",
        "Proxy-Authorization": "Basic abcdefghijklmnop",
    }
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(
            f"{gateway.url}/v1/messages",
            json={"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [prompt]},
            headers=headers,
        )
    assert resp.status_code == 200
    (row,) = await gateway.logs()
    listed = (await api.get("/api/logs")).json()["requests"][0]
    assert listed["hasDebugData"] is True
    body = (await api.get(f"/api/logs/{row.id}/debug")).json()
    headers = {k.lower(): v for k, v in body["requestHeaders"].items()}
    assert headers["x-api-key"] == f"{MASTER_KEY[:8]}...{MASTER_KEY[-4:]}"
    assert headers["cookie"] == "***"  # 7 characters: too short to show any
    assert headers["proxy-authorization"] == "Basic ab...mnop"
    assert json.loads(body["requestBody"])["messages"][0]["content"] == "hello debug"
    assert json.loads(body["responseBody"])["type"] == "message"
    assert body["responseStatus"] == 200 and body["requestMethod"] == "POST"
    assert body["requestPath"] == "/v1/messages"
    assert "x-api-key" in body["requestRemovedHeaders"]
    # Masked when stored: the key never rests in the database.
    stored = await gateway.db.daos.request_debug_logs.get(row.id)
    assert MASTER_KEY not in gzip.decompress(stored.request_headers).decode()
    missing = await api.get("/api/logs/req_nope/debug")
    assert missing.status_code == 404


async def test_debug_view_masks_keys_in_every_credential_header(
    gateway: Running, api: httpx.AsyncClient, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(default=messages_json_reply())
    await gateway.add_channel("messages", "one", up.url, [ANT_KEY])
    await gateway.set_setting("debug_log", json.dumps({"enabled": True}))
    plain = (await api.post("/api/keys", json={"name": "gemini-style"})).json()["key"]
    proxy_key = "pk-0123456789abcdefghij"
    headers = {"x-goog-api-key": plain, "x-proxy-key": proxy_key}
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(
            f"{gateway.url}/v1/messages",
            json={"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [PROMPT]},
            headers=headers,
        )
    assert resp.status_code == 200
    (row,) = await gateway.logs()
    debug = await api.get(f"/api/logs/{row.id}/debug")

    assert plain not in debug.text and proxy_key not in debug.text
    shown = {k.lower(): v for k, v in debug.json()["requestHeaders"].items()}
    assert shown["x-goog-api-key"] == f"{plain[:8]}...{plain[-4:]}"
    assert shown["x-proxy-key"] == "pk-01234...ghij"


async def test_debug_retention_strips_bodies_then_deletes(gateway: Running) -> None:
    now = datetime.now(UTC)
    rows = [log_row(i, now - timedelta(hours=h)) for i, h in enumerate((1, 30, 200))]
    await write_rows(gateway, rows)
    daos = gateway.db.daos
    for row, hours in zip(rows, (1, 30, 200), strict=True):
        await daos.request_debug_logs.insert(
            RequestDebugLogsRow(
                request_id=row.id,
                request_method="POST",
                request_path="/v1/messages",
                request_body=b"req",
                response_body=b"resp",
                created_at=now - timedelta(hours=hours),
            )
        )
    forever = DebugLogConfig(full_retention_hours=24, header_retention_forever=True)
    done = await expire_debug_logs(daos, forever, now)
    assert (done.stripped, done.deleted) == (2, 0)
    week = DebugLogConfig(full_retention_hours=24, header_retention_hours=168)
    done = await expire_debug_logs(daos, week, now)
    assert (done.stripped, done.deleted) == (0, 1)
    kept = {d.request_id: d for d in await daos.request_debug_logs.list()}
    assert set(kept) == {rows[0].id, rows[1].id}
    assert kept[rows[0].id].request_body == b"req"
    assert kept[rows[1].id].request_body is None and kept[rows[1].id].response_body is None


async def test_cleanup_keeps_rows_with_debug_data_and_stats_follow(
    gateway: Running, api: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    old = [log_row(i, now - timedelta(days=40, minutes=i)) for i in range(5)]
    recent = [log_row(100 + i, now - timedelta(days=10, minutes=i)) for i in range(3)]
    await write_rows(gateway, old + recent)
    await gateway.db.daos.request_debug_logs.insert(
        RequestDebugLogsRow(
            request_id=old[0].id, request_method="POST", request_path="/v1/messages"
        )
    )
    for days in ("", "7", "abc"):
        resp = await api.post("/api/logs/cleanup", params={"days": days} if days else None)
        assert resp.status_code == 400, days
    resp = await api.post("/api/logs/cleanup", params={"days": 30})
    assert resp.json() == {"message": "Cleanup completed", "deletedCount": 4, "retentionDays": 30}
    left = await _ids(api)
    assert sorted(left) == sorted([old[0].id] + [r.id for r in recent])
    stats = (await api.get("/api/logs/stats")).json()
    raw = (await api.get("/api/logs/stats", params={"source": "raw"})).json()
    assert stats["totalRequests"] == 4
    approx_equal(stats, raw)


async def test_delete_clears_rows_debug_and_stats(gateway: Running, api: httpx.AsyncClient) -> None:
    rows = [log_row(i, BASE - timedelta(minutes=i)) for i in range(4)]
    await write_rows(gateway, rows)
    await gateway.db.daos.request_debug_logs.insert(
        RequestDebugLogsRow(request_id=rows[0].id, request_method="POST", request_path="/x")
    )
    assert (await api.get("/api/logs/stats")).json()["totalRequests"] == 4
    resp = await api.delete("/api/logs")
    assert resp.json() == {"message": "All logs cleared", "deletedCount": 4}
    assert await _ids(api) == []
    assert (await api.get("/api/logs/stats")).json()["totalRequests"] == 0
    daos = gateway.db.daos
    assert await daos.request_debug_logs.count() == 0
    for dao in (
        daos.request_log_rollups,
        daos.request_log_session_rollups,
        daos.request_log_latency,
    ):
        assert await dao.count() == 0
