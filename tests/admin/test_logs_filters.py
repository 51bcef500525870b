"""GET /api/logs filters that read along their own index, and a row's failover chain."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import httpx

from generated.rows import RequestLogsRow
from tests.admin.conftest import Running
from tests.admin.test_logs_support import BASE, ask, log_row, sdk, write_rows
from tests.fakes.upstream import anthropic_error, messages_json_reply
from tests.proxy.conftest import UpstreamFactory

FAILOVER_5XX = [{"errorCodes": "500,502,503,504,529", "actionChain": [{"action": "failover"}]}]

# Query parameter → row attribute, for the reference filter below.
_ATTRS = {
    "httpStatus": "http_status",
    "clientId": "client_id",
    "apiKeyId": "api_key_id",
    "sessionId": "session_id",
    "model": "model",
}


def _mixed_rows() -> list[RequestLogsRow]:
    """Rows whose status, client, key, session and model vary on different cycles."""
    rows = []
    for n in range(90):
        rows.append(
            log_row(
                n,
                BASE - timedelta(seconds=n // 2),  # pairs share a time: the id breaks ties
                http_status=(200, 200, 429, 500, 200)[n % 5],
                client_id=("client-a", "client-b", None)[n % 3],
                api_key_id=(0, 7, 9, None)[n % 4],
                session_id=("s1", "s2")[n % 2],
                model=("m1", "m2", "m3")[n // 30],
            )
        )
    return rows


def _expected(rows: list[RequestLogsRow], params: dict[str, Any]) -> list[str]:
    kept = [r for r in rows if all(getattr(r, _ATTRS[k]) == v for k, v in params.items())]
    return [r.id for r in sorted(kept, key=lambda r: (r.initial_time, r.id), reverse=True)]


async def _all_pages(api: httpx.AsyncClient, params: dict[str, Any]) -> tuple[list[str], int]:
    """Follow the cursor through pages of 7; return the ids and the first page's total."""
    seen: list[str] = []
    cursor, total = None, -1
    while True:
        query = {**params, "limit": 7, **({"cursor": cursor} if cursor else {})}
        resp = await api.get("/api/logs", params=query)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        total = page["total"] if total < 0 else total
        seen += [r["id"] for r in page["requests"]]
        cursor = page["nextCursor"]
        if not page["hasMore"]:
            return seen, total


async def test_every_filter_combination_matches_a_plain_filter(
    gateway: Running, api: httpx.AsyncClient
) -> None:
    rows = _mixed_rows()
    await write_rows(gateway, rows)
    choices: dict[str, list[Any]] = {
        "httpStatus": [None, 200, 500, 418],
        "clientId": [None, "client-b", "nobody"],
        "apiKeyId": [None, 0, 9, 12345],
        "sessionId": [None, "s1"],
        "model": [None, "m2"],
    }
    checked = 0
    for values in itertools.product(*choices.values()):
        params = {k: v for k, v in zip(choices, values, strict=True) if v is not None}
        expected = _expected(rows, params)
        seen, total = await _all_pages(api, params)
        assert (seen, total) == (expected, len(expected)), params
        checked += bool(expected)
    assert checked > 40  # most combinations match some rows


async def test_key_filter_rejects_what_no_key_id_can_be(api: httpx.AsyncClient) -> None:
    for bad in ("-1", "seven", "9223372036854775808"):
        resp = await api.get("/api/logs", params={"apiKeyId": bad})
        assert resp.status_code == 400, bad
        assert resp.json()["code"] == "INVALID_PARAMETER"
        assert "apiKeyId" in resp.json()["error"]


async def test_row_detail_holds_its_failover_chain(
    gateway: Running, api: httpx.AsyncClient, upstreams: UpstreamFactory
) -> None:
    await gateway.set_failover(FAILOVER_5XX)
    bad = await upstreams(default=anthropic_error(503, "api_error", "down"))
    good = await upstreams(default=messages_json_reply(text="ok"))
    await gateway.add_channel("messages", "first", bad.url, ["sk-ant-chain-first"])
    await gateway.add_channel("messages", "second", good.url, ["sk-ant-chain-second"])
    async with sdk(gateway) as client:
        await ask(client, who=("c1", "s1"))
        await ask(client, who=("c1", "s1"))
    rows = await gateway.logs()
    # The second request skips the channel that just failed (its breaker counts it).
    assert [r.status for r in rows] == ["failover", "completed", "completed"]
    first, served, later = rows
    assert first.request_id and first.request_id == served.request_id != later.request_id

    for row in (first, served):
        body = (await api.get(f"/api/logs/{row.id}")).json()
        assert body["id"] == row.id and body["requestId"] == first.request_id
        assert [a["id"] for a in body["chain"]] == [first.id, served.id]
        assert [a["providerName"] for a in body["chain"]] == ["first", "second"]
        assert [a["httpStatus"] for a in body["chain"]] == [503, 200]
    alone = (await api.get(f"/api/logs/{later.id}")).json()
    assert [a["id"] for a in alone["chain"]] == [later.id]


async def test_a_row_without_request_id_is_its_own_chain(
    gateway: Running, api: httpx.AsyncClient
) -> None:
    alone, other = log_row(1, BASE), log_row(2, BASE - timedelta(seconds=1))
    await write_rows(gateway, [alone, other])
    body = (await api.get(f"/api/logs/{alone.id}")).json()
    assert [a["id"] for a in body["chain"]] == [alone.id]
    assert "requestId" not in body
    missing = await api.get("/api/logs/req_none")
    assert missing.status_code == 404


async def test_key_filter_over_real_requests(
    gateway: Running, api: httpx.AsyncClient, upstreams: UpstreamFactory
) -> None:
    good = await upstreams(default=messages_json_reply(text="ok"))
    await gateway.add_channel("messages", "only", good.url, ["sk-ant-keyfilter"])
    created = (await api.post("/api/keys", json={"name": "filtered"})).json()
    async with sdk(gateway) as master, sdk(gateway, created["key"]) as client:
        await ask(master)
        await ask(client)
        await ask(client)
    rows = await gateway.logs()
    key_id = created["id"]
    by_key = (await api.get("/api/logs", params={"apiKeyId": key_id})).json()
    assert [r["id"] for r in by_key["requests"]] == [rows[2].id, rows[1].id]
    assert {r["apiKeyId"] for r in by_key["requests"]} == {key_id}
    by_master = (await api.get("/api/logs", params={"apiKeyId": 0})).json()
    assert [r["id"] for r in by_master["requests"]] == [rows[0].id]
    both = await api.get("/api/logs", params={"apiKeyId": key_id, "httpStatus": 200})
    assert both.json()["total"] == 2
