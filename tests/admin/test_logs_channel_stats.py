"""GET /api/logs/stats/channels: latency percentiles and failovers per channel."""

from __future__ import annotations

from datetime import timedelta

import httpx

from generated.rows import RequestLogsRow
from tests.admin.conftest import MASTER_KEY, Running
from tests.admin.test_logs_support import BASE, exact_percentile, log_row, write_rows
from tests.fakes.upstream import anthropic_error, messages_json_reply
from tests.proxy.conftest import UpstreamFactory
from tests.proxy.test_failover import FAILOVER_5XX


def _rows() -> list[RequestLogsRow]:
    """Alpha: 40 completed of varied duration, 3 failovers, 2 errors; beta: 10 completed."""
    rows, n = [], 0

    def add(at_s: int, **fields: object) -> None:
        nonlocal n
        rows.append(log_row(n, BASE - timedelta(seconds=at_s), **fields))
        n += 1

    for i in range(40):
        add(i, duration_ms=50 + (i * 37) % 900)
    for i in range(3):
        add(100 + i, status="failover", http_status=503, duration_ms=5)
    for i in range(2):
        add(200 + i, status="error", http_status=500, duration_ms=7)
    beta = {"channel_uid": "bbbb0002", "channel_name": "beta", "provider_name": "beta"}
    for i in range(10):
        add(300 + i, duration_ms=1000 + i * 10, **beta)
    add(5, status="pending", duration_ms=0)  # not counted: not an outcome yet
    add(7200, duration_ms=99_999)  # before the window
    return rows


async def test_percentiles_and_failovers_per_channel(
    gateway: Running, api: httpx.AsyncClient
) -> None:
    rows = _rows()
    await write_rows(gateway, rows)
    since = (BASE - timedelta(hours=1)).isoformat()
    resp = await api.get("/api/logs/stats/channels", params={"from": since})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["sampled"], body["complete"]) == (55, True)
    assert body["since"] == "2026-03-10T13:25:00Z"  # the whole window: from
    by_name = {c["channelName"]: c for c in body["channels"]}
    alpha_ms = [50 + (i * 37) % 900 for i in range(40)]
    beta_ms = [1000 + i * 10 for i in range(10)]
    assert by_name["alpha"] == {
        "channelUid": "aaaa0001",
        "channelName": "alpha",
        "attempts": 45,
        "completed": 40,
        "errors": 2,
        "failovers": 3,
        "p50LatencyMs": round(exact_percentile(alpha_ms, 50)),
        "p95LatencyMs": round(exact_percentile(alpha_ms, 95)),
    }
    assert (by_name["beta"]["attempts"], by_name["beta"]["failovers"]) == (10, 0)
    assert by_name["beta"]["p95LatencyMs"] == round(exact_percentile(beta_ms, 95))


async def test_a_bounded_read_says_what_it_covers(gateway: Running, api: httpx.AsyncClient) -> None:
    rows = _rows()
    await write_rows(gateway, rows)
    since = (BASE - timedelta(hours=1)).isoformat()
    body = (await api.get("/api/logs/stats/channels", params={"from": since, "limit": 20})).json()
    assert (body["sampled"], body["complete"]) == (20, False)
    # The newest 20 attempts: alpha's completed ones at BASE-0s … BASE-19s (not the pending one).
    assert body["since"] == (BASE - timedelta(seconds=19)).isoformat().replace("+00:00", "Z")
    (alpha,) = body["channels"]
    assert (alpha["attempts"], alpha["failovers"]) == (20, 0)
    for bad in ({"limit": "0"}, {"limit": "20001"}, {"from": "soon"}):
        resp = await api.get("/api/logs/stats/channels", params=bad)
        assert resp.status_code == 400, bad
        assert resp.json()["code"] == "INVALID_PARAMETER"


async def test_failovers_of_real_requests_count_against_the_channel_that_failed(
    gateway: Running, api: httpx.AsyncClient, upstreams: UpstreamFactory
) -> None:
    await gateway.set_failover(FAILOVER_5XX)
    bad = await upstreams(default=anthropic_error(503, "api_error", "down"))
    good = await upstreams(default=messages_json_reply(text="ok"))
    await gateway.add_channel("messages", "flaky", bad.url, ["sk-ant-flaky-000001"])
    await gateway.add_channel("messages", "steady", good.url, ["sk-ant-steady-00001"])
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        resp = await client.post(
            "/v1/messages",
            headers={"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"},
            json={"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": []},
        )
    await gateway.flush()
    body = (await api.get("/api/logs/stats/channels")).json()
    by_name = {c["channelName"]: c for c in body["channels"]}
    assert resp.status_code == 200, resp.text
    assert (by_name["flaky"]["failovers"], by_name["flaky"]["completed"]) == (1, 0)
    assert (by_name["steady"]["failovers"], by_name["steady"]["completed"]) == (0, 1)
