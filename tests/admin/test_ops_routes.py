"""The reference's remaining operator routes on real gateways, both engines.

/api/ping against fake upstreams over loopback; the debug-log routes and
the provider/channel histories against rows written by the gateway's own
writer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from generated.rows import RequestDebugLogsRow
from tests.admin.conftest import Running
from tests.admin.test_logs_support import log_row, write_rows
from tests.fakes.upstream import JsonReply
from tests.proxy.conftest import UpstreamFactory, dead_url


async def test_ping_measures_each_messages_channel(
    gateway: Running, api: httpx.AsyncClient, upstreams: UpstreamFactory
) -> None:
    slow = await upstreams(default=JsonReply({"error": "no route"}, status=404, delay=0.3))
    a = await gateway.add_channel("messages", "slow", slow.url, ["sk-ant-secret-a"])
    b = await gateway.add_channel("messages", "dead", dead_url(), ["sk-ant-secret-b"])
    resp = await api.get("/api/ping")
    assert resp.status_code == 200
    first, second = resp.json()
    assert (first["id"], first["channelId"], first["name"]) == (0, a.channel_id, "slow")
    assert (first["success"], first["status"]) == (True, "healthy")  # any answer counts
    assert 300 <= first["latency"] < 5000
    assert (second["id"], second["channelId"], second["status"]) == (1, b.channel_id, "error")
    assert second["success"] is False and second["error"]
    assert "sk-ant-secret" not in resp.text
    (head,) = [r for r in slow.requests if r.method == "HEAD"]
    assert head.header("x-api-key") is None and head.header("authorization") is None

    one = (await api.get("/api/ping/0")).json()
    assert (
        one["success"] is True
        and one["latency"] >= 300
        and set(one)
        == {
            "success",
            "latency",
            "status",
        }
    )
    by_id = (await api.get(f"/api/ping/{b.channel_id}")).json()
    assert by_id["success"] is False and by_id["status"] == "error"
    missing = await api.get("/api/ping/7")
    assert missing.status_code == 404 and missing.json()["code"] == "CHANNEL_NOT_FOUND"


async def _debug_rows(gateway: Running, count: int, *, bodies: int) -> list[str]:
    now = datetime.now(UTC)
    rows = [log_row(i, now - timedelta(minutes=i + 1)) for i in range(count)]
    await write_rows(gateway, rows)
    for i, row in enumerate(rows):
        body = b"req" if i < bodies else None
        await gateway.db.daos.request_debug_logs.insert(
            RequestDebugLogsRow(
                request_id=row.id,
                request_method="POST",
                request_path="/v1/messages",
                request_headers=b"h",
                response_headers=b"h",
                request_body=body,
                response_body=body,
            )
        )
    return [r.id for r in rows]


async def test_debug_stats_purge_headers_then_all(gateway: Running, api: httpx.AsyncClient) -> None:
    ids = await _debug_rows(gateway, 3, bodies=1)
    assert (await api.get("/api/logs/debug/stats")).json() == {"count": 3}
    stripped = await api.delete("/api/logs/debug/headers")
    assert stripped.status_code == 200
    assert stripped.json()["headersCleared"] == 3 and stripped.json()["deleted"] == 2
    (kept,) = await gateway.db.daos.request_debug_logs.list()
    assert kept.request_id == ids[0] and kept.request_body == b"req"
    assert kept.request_headers is None and kept.response_headers is None
    assert (await api.get("/api/logs/debug/stats")).json() == {"count": 1}
    purged = await api.delete("/api/logs/debug")
    assert purged.json() == {"message": "Debug logs purged", "deleted": 1}
    assert (await api.get("/api/logs/debug/stats")).json() == {"count": 0}
    assert len(await gateway.logs()) == 3  # the log rows themselves stay
    log_item = await api.get(f"/api/logs/{ids[0]}")
    assert log_item.status_code == 200


async def test_provider_history_series_and_baseline(
    gateway: Running, api: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [
        log_row(0, now - timedelta(minutes=10), provider_name="alpha", price=0.5),
        log_row(1, now - timedelta(minutes=20), provider_name="alpha", price=0.25),
        log_row(2, now - timedelta(minutes=5), provider_name="beta", price=1.0, status="error"),
        log_row(3, now - timedelta(minutes=7), provider_name="beta", status="failover"),
    ]
    earlier = now - timedelta(hours=2)
    if earlier > day:  # cost earlier today: the baseline of a 1h window
        rows.append(log_row(4, earlier, provider_name="gamma", price=2.0))
    await write_rows(gateway, rows)
    resp = await api.get("/api/logs/providers/stats/history", params={"duration": "1h"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    by_name = {p["provider"]: p for p in body["providers"]}
    expected = {"alpha", "beta"} | ({"gamma"} if earlier > day else set())
    assert set(by_name) == expected
    alpha, beta = by_name["alpha"], by_name["beta"]
    assert alpha["summary"]["totalRequests"] == 2
    assert abs(alpha["summary"]["totalCost"] - 0.75) < 1e-9
    assert beta["summary"]["totalRequests"] == 1 and beta["summary"]["totalFailure"] == 1
    stamps = [p["timestamp"] for p in alpha["dataPoints"]]
    assert stamps == [p["timestamp"] for p in beta["dataPoints"]]  # aligned buckets
    assert 60 <= len(stamps) <= 62  # one per minute, zeros included
    assert sum(p["requests"] for p in alpha["dataPoints"]) == 2
    assert body["summary"]["totalRequests"] == 3
    if earlier > day:
        assert by_name["gamma"]["baselineCost"] == 2.0
        assert by_name["gamma"]["summary"]["totalRequests"] == 0
    bad = await api.get("/api/logs/providers/stats/history", params={"duration": "2h"})
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_PARAMETER"


async def test_channel_history_by_index_or_id(gateway: Running, api: httpx.AsyncClient) -> None:
    mine = await gateway.add_channel("messages", "mine", dead_url(), ["sk-ant-x"])
    other = await gateway.add_channel("messages", "other", dead_url(), ["sk-ant-y"])
    now = datetime.now(UTC)
    rows = [
        log_row(0, now - timedelta(minutes=3), channel_uid=mine.channel_id, price=0.5),
        log_row(1, now - timedelta(minutes=4), channel_uid=mine.channel_id, price=0.5),
        log_row(2, now - timedelta(minutes=5), channel_uid=other.channel_id, price=9.0),
    ]
    await write_rows(gateway, rows)
    for ident in ("0", mine.channel_id):
        resp = await api.get(f"/api/logs/channels/{ident}/stats/history")
        assert resp.status_code == 200, resp.text
        summary = resp.json()["summary"]
        assert summary["totalRequests"] == 2 and abs(summary["totalCost"] - 1.0) < 1e-9
    theirs = (await api.get("/api/logs/channels/1/stats/history")).json()["summary"]
    assert theirs["totalRequests"] == 1
    missing = await api.get("/api/logs/channels/9/stats/history")
    assert missing.status_code == 404 and missing.json()["code"] == "CHANNEL_NOT_FOUND"
    period = await api.get("/api/logs/channels/0/stats/history", params={"duration": "period"})
    assert period.status_code == 400
