"""/api/logs/stats, /stats/daily, /stats/history, /sessions/active and rollups."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ccbridge.proxy.record import LogRecord
from ccbridge.store import rollupdb
from ccbridge.store.rollup import DAY, LATENCY_EDGES_MS, floor_time, latency_bin
from generated.rows import RequestLogsRow
from tests.admin.conftest import Running
from tests.admin.test_logs_support import (
    BASE,
    approx_equal,
    drain,
    exact_percentile,
    log_row,
    with_status,
    write_rows,
)

MINUTE = timedelta(minutes=1)


async def _stats(api: httpx.AsyncClient, path: str = "/api/logs/stats", **params: Any) -> Any:
    resp = await api.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _hand_rows() -> list[RequestLogsRow]:
    return [
        log_row(1, BASE, model="m-a", api_key_id=0, client_id="c1", session_id="s1",
                input_tokens=100, output_tokens=50, cache_creation_input_tokens=10,
                cache_read_input_tokens=20, price=0.01, duration_ms=1000),
        log_row(2, BASE + MINUTE, model="m-b", api_key_id=7, client_id="c1", session_id="s2",
                input_tokens=200, output_tokens=100, price=0.02, duration_ms=3000),
        log_row(3, BASE + 2 * MINUTE, status="error", http_status=500, provider_name="beta",
                channel_name="beta", channel_uid="bbbb0002", model="m-a", api_key_id=7,
                client_id="c2", session_id="s3", endpoint="/v1/responses", input_tokens=0,
                output_tokens=0, price=0.0, duration_ms=200),
        log_row(8, BASE + 3 * MINUTE, provider="openai", provider_name=None, channel_name=None,
                channel_uid=None, model="m-c", api_key_id=None, client_id=None, session_id=" ",
                input_tokens=30, output_tokens=20, price=0.005, duration_ms=0),
        # Never counted: not finished.
        log_row(4, BASE + 4 * MINUTE, status="pending", duration_ms=0),
        log_row(5, BASE + 5 * MINUTE, status="failover", http_status=529),
        log_row(6, BASE + 6 * MINUTE, status="timeout"),
        log_row(7, BASE + 7 * MINUTE, status="retry_wait", http_status=429),
    ]  # fmt: skip


def _group(count: int, success: int, failure: int, tokens: tuple[int, int, int, int],
           cost: float, latency: float) -> dict[str, Any]:  # fmt: skip
    return {
        "count": count,
        "success": success,
        "failure": failure,
        "inputTokens": tokens[0],
        "outputTokens": tokens[1],
        "cacheCreationInputTokens": tokens[2],
        "cacheReadInputTokens": tokens[3],
        "cost": cost,
        "avgLatencyMs": latency,
    }


async def test_stats_match_hand_computed_values(gateway: Running, api: httpx.AsyncClient) -> None:
    await write_rows(gateway, _hand_rows())
    row1 = _group(1, 1, 0, (100, 50, 10, 20), 0.01, 1000.0)
    row2 = _group(1, 1, 0, (200, 100, 0, 0), 0.02, 3000.0)
    row3 = _group(1, 0, 1, (0, 0, 0, 0), 0.0, 200.0)
    row8 = _group(1, 1, 0, (30, 20, 0, 0), 0.005, 0.0)
    expected = {
        "totalRequests": 4,
        "totalSuccess": 3,
        "totalFailure": 1,
        "totalTokens": {
            "inputTokens": 330,
            "outputTokens": 170,
            "cacheCreationInputTokens": 10,
            "cacheReadInputTokens": 20,
            "totalTokens": 500,
        },
        "totalCost": 0.035,
        "avgLatencyMs": 1400.0,  # rows with a duration only
        # Ranks 0..2 of [200, 1000, 3000]: rank 1.9 lies in 1000's bin [800, 1100).
        "p95LatencyMs": 1100,
        "tps": 170 / 4.2,
        "byProvider": {
            "alpha": _group(2, 2, 0, (300, 150, 10, 20), 0.03, 2000.0),
            "beta": row3,
            "openai": row8,
        },
        "byModel": {"m-a": _group(2, 1, 1, (100, 50, 10, 20), 0.01, 600.0), "m-b": row2,
                    "m-c": row8},
        "byClient": {"c1": _group(2, 2, 0, (300, 150, 10, 20), 0.03, 2000.0), "c2": row3,
                     "<unknown>": row8},
        "bySession": {"s1": row1, "s2": row2, "s3": row3, "<unknown>": row8},
        "byApiKey": {"master": row1, "7": _group(2, 1, 1, (200, 100, 0, 0), 0.02, 1600.0),
                     "<unknown>": row8},
        "timeRange": {"from": "2026-03-10T14:25:00Z", "to": "2026-03-10T14:28:00Z"},
    }  # fmt: skip
    approx_equal(await _stats(api), expected)
    approx_equal(await _stats(api, source="raw"), expected)

    only_c1 = await _stats(api, clientId="c1")
    assert (only_c1["totalRequests"], only_c1["totalCost"]) == (2, pytest.approx(0.03))
    assert list(only_c1["byModel"]) == ["m-a", "m-b"]
    messages = await _stats(api, endpoint="/v1/messages")
    assert messages["totalFailure"] == 0 and "beta" not in messages["byProvider"]
    assert (await _stats(api, sessionId="s3"))["totalRequests"] == 1
    later = await _stats(api, **{"from": (BASE + timedelta(seconds=30)).isoformat()})
    assert later["totalRequests"] == 3 and "s1" not in later["bySession"]
    inclusive_to = await _stats(api, to=(BASE + MINUTE).isoformat())
    assert inclusive_to["totalRequests"] == 2
    empty = await _stats(api, **{"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"})
    assert empty["totalRequests"] == 0 and empty["timeRange"] == {"from": None, "to": None}


def _random_rows(count: int, seed: int) -> list[RequestLogsRow]:
    rnd = random.Random(seed)
    start = BASE - timedelta(days=2, hours=5)
    rows = []
    for n in range(count):
        at = start + timedelta(seconds=rnd.uniform(0, 3 * 86400), microseconds=n)
        status = rnd.choices(
            ["completed", "error", "pending", "failover", "timeout", "retry_wait"],
            [70, 12, 5, 5, 4, 4],
        )[0]
        channel = rnd.choice([("alpha", "aaaa0001"), ("beta", "bbbb0002"), (None, None)])
        tokens = rnd.randint(0, 5000), rnd.randint(0, 900)
        rows.append(
            log_row(
                n,
                at,
                status=status,
                provider=rnd.choice(["claude", "openai"]),
                provider_name=channel[0],
                channel_uid=channel[1],
                model=rnd.choice(["m-a", "m-b", "m-c"]),
                endpoint=rnd.choice(["/v1/messages", "/v1/responses", None]),
                client_id=rnd.choice(["c1", "c2", "", None]),
                session_id=rnd.choice(["s1", "s2", "s3", "s4", None]),
                api_key_id=rnd.choice([None, 0, 3, 9]),
                input_tokens=tokens[0],
                output_tokens=tokens[1],
                cache_read_input_tokens=rnd.randint(0, 20000),
                cache_creation_input_tokens=rnd.randint(0, 2000),
                price=round(rnd.uniform(0, 0.2), 6),
                duration_ms=int(rnd.lognormvariate(8, 1.2)) if rnd.random() > 0.05 else 0,
            )
        )
    return rows


WINDOWS: list[dict[str, str]] = [
    {},
    {"from": "2026-03-08T10:17:31Z", "to": "2026-03-10T07:44:02.5Z"},  # cuts days and hours
    {"from": "2026-03-09T13:05:00Z", "to": "2026-03-09T13:55:00Z"},  # inside one hour
    {"from": "2026-03-09T00:00:00Z", "to": "2026-03-10T00:00:00Z"},  # one whole day (+ 1 µs)
    {"from": "2026-03-09T06:00:00Z"},
    {"to": "2026-03-09T18:30:00Z"},
]
FILTERS: list[dict[str, str]] = [
    {},
    {"endpoint": "/v1/responses"},
    {"clientId": "c2"},
    {"sessionId": "s3"},
    {"clientId": "c1", "endpoint": "/v1/messages"},
]


async def test_rollup_stats_equal_raw_recomputation(
    gateway: Running, api: httpx.AsyncClient
) -> None:
    rows = _random_rows(1500, seed=7)
    await write_rows(gateway, rows, batch=97)  # many flushes, pending rows among them
    for window in WINDOWS:
        for filters in FILTERS:
            params = {**window, **filters}
            fast = await _stats(api, **params)
            approx_equal(fast, await _stats(api, source="raw", **params), str(params))
            daily = await _stats(api, "/api/logs/stats/daily", days=3650, **params)
            raw_daily = await _stats(
                api, "/api/logs/stats/daily", days=3650, source="raw", **params
            )
            approx_equal(daily, raw_daily, f"daily {params}")
            assert sum(p["requests"] for p in daily["dataPoints"]) == fast["totalRequests"]
    finished = [r for r in rows if r.status in ("completed", "error")]
    assert (await _stats(api))["totalRequests"] == len(finished)
    for duration, start in (
        ("period", "2026-03-07T11:11:11Z"),
        ("period", "2026-03-01T00:30:00Z"),
        ("24h", "2026-03-07T11:11:11Z"),
        ("6h", "2026-03-07T11:11:11Z"),
    ):
        window = {"from": start, "to": "2026-03-10T09:00:00Z"}
        history = await _stats(api, "/api/logs/stats/history", duration=duration, **window)
        raw = await _stats(
            api, "/api/logs/stats/history", duration=duration, source="raw", **window
        )
        approx_equal(history, raw, duration)


async def test_writer_rollups_equal_a_rebuild(gateway: Running, api: httpx.AsyncClient) -> None:
    await write_rows(gateway, _random_rows(700, seed=11), batch=50)
    daos = gateway.db.daos

    async def tables() -> list[list[Any]]:
        out = []
        for dao in (daos.request_log_rollups, daos.request_log_session_rollups):
            rows = [r for r in await dao.list() if r.requests]
            out.append(sorted((replace(r, cost=round(r.cost, 9)) for r in rows), key=repr))
        out.append(
            sorted((r for r in await daos.request_log_latency.list() if r.requests), key=repr)
        )
        return out

    by_writer = await tables()
    resp = await api.post("/api/logs/rollups/rebuild")
    assert resp.status_code == 200 and resp.json()["countedRows"] > 0
    assert await tables() == by_writer


async def test_a_row_is_counted_once(gateway: Running, api: httpx.AsyncClient) -> None:
    x = log_row(1, BASE, status="pending", duration_ms=0)
    y = log_row(2, BASE + MINUTE)
    z = log_row(3, BASE + 2 * MINUTE, input_tokens=100, output_tokens=100, price=0.5)
    await write_rows(gateway, [x, z])
    await write_rows(gateway, [with_status(x, "completed", duration_ms=1200), y])
    await write_rows(gateway, [with_status(x, "completed", duration_ms=1200), y])  # again
    # A correction of a final row moves its numbers instead of adding them.
    await write_rows(gateway, [with_status(z, "error", input_tokens=10, output_tokens=0, price=0)])
    stats = await _stats(api)
    assert (stats["totalRequests"], stats["totalSuccess"], stats["totalFailure"]) == (3, 2, 1)
    assert stats["totalTokens"]["inputTokens"] == 100 + 100 + 10
    assert stats["totalCost"] == pytest.approx(0.02)

    # Pending, settled as interrupted (its instance looked dead), then finished
    # after all: counted once.
    w = log_row(4, BASE + 3 * MINUTE, status="pending", duration_ms=0)
    await write_rows(gateway, [w])
    now = datetime.now(UTC)
    settled = await gateway.db.daos.request_logs.settle_interrupted(
        cutoff=now + timedelta(minutes=1), now=now
    )
    assert settled == 1
    assert (await _stats(api))["totalRequests"] == 3
    await write_rows(gateway, [with_status(w, "completed", duration_ms=700)])
    assert (await _stats(api))["totalRequests"] == 4

    # A row written around the writer (the legacy import) counts after a rebuild, once.
    legacy = log_row(5, BASE + 4 * MINUTE)
    await gateway.db.daos.request_logs.insert(legacy)
    assert (await _stats(api))["totalRequests"] == 4
    assert (await _stats(api, source="raw"))["totalRequests"] == 5
    await api.post("/api/logs/rollups/rebuild")
    assert (await _stats(api))["totalRequests"] == 5
    await write_rows(gateway, [legacy])  # flushed again unchanged: still once
    approx_equal(await _stats(api), await _stats(api, source="raw"))


async def test_proxy_records_are_counted_once_without_reading_back(
    gateway: Running, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy record is flushed pending, then final, then again unchanged; the
    # writer knows what it stored, so it reads nothing back and counts it once.
    record = LogRecord(
        model="claude-sonnet-4-5",
        stream=False,
        endpoint="/v1/messages",
        client_id="c",
        session_id="s",
        api_key_id=None,
    )
    writer = gateway.rt.writer
    seen: list[tuple[list[str], list[str]]] = []
    writer.events.publish = lambda created, updated: seen.append((created, updated))
    reads = 0
    dao_class = type(gateway.db.daos.request_logs)
    prior_states = dao_class.prior_states

    async def counting(self: Any, **kw: Any) -> Any:
        nonlocal reads
        reads += 1
        return await prior_states(self, **kw)

    monkeypatch.setattr(dao_class, "prior_states", counting)
    for step in range(3):
        if step == 1:
            record.input_tokens, record.output_tokens = 40, 2
            record.finish("completed", 200)
        writer.log(record)
        await drain(gateway)
    stats = await _stats(api)
    assert (stats["totalRequests"], stats["totalTokens"]["inputTokens"]) == (1, 40)
    approx_equal(stats, await _stats(api, source="raw"))
    assert seen == [([record.id], []), ([], [record.id]), ([], [record.id])]
    assert record.written == await gateway.db.daos.request_logs.get(record.id)
    assert reads == 0


async def test_missing_rollups_are_rebuilt_at_start(
    gateway: Running, api: httpx.AsyncClient
) -> None:
    await write_rows(gateway, [log_row(i, BASE + i * MINUTE) for i in range(5)])
    for dao in (gateway.db.daos.request_log_rollups, gateway.db.daos.request_log_latency):
        await dao.clear()  # as after an import into a database from before the rollups
    assert (await _stats(api))["totalRequests"] == 0
    assert await rollupdb.rebuild_if_missing(gateway.db) is True
    assert await rollupdb.rebuild_if_missing(gateway.db) is False
    assert (await _stats(api))["totalRequests"] == 5


async def test_p95_from_the_histogram_is_within_its_bin(
    gateway: Running, api: httpx.AsyncClient
) -> None:
    rnd = random.Random(3)
    durations = [int(rnd.lognormvariate(8.5, 0.9)) + 1 for _ in range(2000)]
    rows = [log_row(i, BASE + timedelta(seconds=i), duration_ms=d) for i, d in enumerate(durations)]
    await write_rows(gateway, rows, batch=500)
    stats = await _stats(api)
    exact = exact_percentile(durations, 95)
    b = latency_bin(int(exact))
    low, high = (LATENCY_EDGES_MS[b - 1] if b else 0), LATENCY_EDGES_MS[b]
    assert low <= stats["p95LatencyMs"] <= high
    assert abs(stats["p95LatencyMs"] - exact) / exact < 0.2
    assert stats["avgLatencyMs"] == pytest.approx(sum(durations) / len(durations))


async def test_daily_and_history_shapes(gateway: Running, api: httpx.AsyncClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        log_row(1, now - timedelta(minutes=3), duration_ms=400),
        log_row(2, now - timedelta(minutes=2), status="error", duration_ms=900),
        log_row(3, now - timedelta(days=1, minutes=1), duration_ms=100),
    ]
    await write_rows(gateway, rows)
    daily = await _stats(api, "/api/logs/stats/daily", days=2)
    first_day = floor_time(now, DAY) - timedelta(days=1)
    expected: dict[str, int] = {}
    for row in rows:
        if row.initial_time >= first_day:
            day = row.initial_time.date().isoformat()
            expected[day] = expected.get(day, 0) + 1
    assert {p["date"]: p["requests"] for p in daily["dataPoints"]} == expected
    today = daily["dataPoints"][-1]
    assert set(today) == {
        "date", "requests", "success", "failure", "inputTokens", "outputTokens",
        "cacheCreationInputTokens", "cacheReadInputTokens", "cost", "avgDurationMs",
    }  # fmt: skip
    history = await _stats(api, "/api/logs/stats/history", duration="1h")
    points = history["dataPoints"]
    assert [p["requests"] for p in points] == [1, 1]
    assert datetime.fromisoformat(points[1]["timestamp"]) - datetime.fromisoformat(
        points[0]["timestamp"]
    ) == timedelta(minutes=1)
    summary = history["summary"]
    assert summary["duration"] == "1h" and summary["totalRequests"] == 2
    assert summary["totalFailure"] == 1 and summary["avgSuccessRate"] == 50.0
    assert summary["p50DurationMs"] > 0
    bad = await api.get("/api/logs/stats/history", params={"duration": "2h"})
    assert bad.status_code == 400
    # `from` alone runs to now (a query parameter cannot need another in the document).
    half = await api.get(
        "/api/logs/stats/history", params={"duration": "1h", "from": now.isoformat()}
    )
    assert half.status_code == 200, half.text


async def test_active_sessions(gateway: Running, api: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    rows = [
        log_row(1, now - timedelta(hours=3), session_id="old-and-new", input_tokens=7),
        log_row(2, now - timedelta(minutes=5), session_id="old-and-new", input_tokens=3),
        log_row(3, now - timedelta(minutes=50), session_id="idle"),
        log_row(4, now - timedelta(minutes=1), session_id="pending-only", status="pending"),
        log_row(5, now - timedelta(minutes=2), session_id="codex", provider="openai",
                status="error"),
    ]  # fmt: skip
    await write_rows(gateway, rows)
    sessions = await _stats(api, "/api/logs/sessions/active")
    assert [s["sessionId"] for s in sessions] == ["codex", "old-and-new"]
    both = sessions[1]
    assert (both["count"], both["inputTokens"], both["type"]) == (2, 10, "claude")
    assert sessions[0]["type"] == ""  # no completed request to take the type from
    wide = await _stats(api, "/api/logs/sessions/active", threshold="1h30m")
    assert [s["sessionId"] for s in wide] == ["codex", "old-and-new", "idle"]
    default = await _stats(api, "/api/logs/sessions/active", threshold="nonsense")
    assert len(default) == 2
