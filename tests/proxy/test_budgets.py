"""Client key budgets and expiry on a real gateway (both engines, the official SDKs).

Each request is priced to exactly one cent: 1000 input tokens at $10 per million.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from ccbridge.access.auth import hash_key
from ccbridge.store.budgets import EPOCH, period_start
from tests.admin.conftest import NO_API_LIMIT, admin_client, start_gateway
from tests.fakes.upstream import FakeUpstream, messages_json_reply, messages_sse_reply
from tests.proxy.conftest import (
    MASTER_KEY,
    Running,
    UpstreamFactory,
    claude_client,
    codex_client,
    http_client,
)
from tests.waiting import until

MODEL = "claude-budget-1"
PROMPT = [{"role": "user", "content": "hello"}]
CENT = dict(input_tokens=1000, output_tokens=0, cache_creation_input_tokens=0,
            cache_read_input_tokens=0)  # fmt: skip


async def _priced_channel(
    gateway: Running, upstreams: UpstreamFactory, **reply: Any
) -> FakeUpstream:
    up = await upstreams(default=messages_json_reply(model=MODEL, **(CENT | reply)))
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-a"])
    await gateway.add_price(MODEL, 10.0, 0.0)
    return up


async def _ask(gateway: Running, key: str) -> None:
    async with claude_client(gateway, key) as client:
        await client.messages.create(model=MODEL, max_tokens=8, messages=PROMPT)


async def _key_id(gateway: Running, plain: str) -> int:
    (row,) = await gateway.db.daos.api_keys.list(where={"key_hash": hash_key(plain)})
    return int(row.id)


async def _spend(gateway: Running, key_id: int) -> dict[str, int]:
    await gateway.flush()
    return {r.kind: r.amount for r in await gateway.db.daos.key_spend.list({"key_id": key_id})}


async def _refused_on_every_surface(gateway: Running, key: str, status: int, code: str) -> None:
    """Assert each API refuses the key in its own error shape."""
    with pytest.raises(anthropic.APIStatusError) as claude_err:
        await _ask(gateway, key)
    assert claude_err.value.status_code == status
    body = claude_err.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    kind = "billing_error" if status == 402 else "permission_error"
    assert (body["error"]["type"], body["error"]["code"]) == (kind, code)

    async with codex_client(gateway, key) as codex:
        with pytest.raises(openai.APIStatusError) as resp_err:
            await codex.responses.create(model=MODEL, input="hello")
        with pytest.raises(openai.APIStatusError) as chat_err:
            await codex.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]
    kind = "budget_exceeded" if status == 402 else "permission_error"
    for err in (resp_err.value, chat_err.value):
        assert err.status_code == status
        assert err.code == code and err.type == kind

    async with http_client() as http:
        resp = await http.post(
            f"{gateway.url}/v1beta/models/gemini-x:generateContent",
            json={"contents": [{"parts": [{"text": "hi"}]}]},
            headers={"x-goog-api-key": key},
        )
    assert resp.status_code == status
    error = resp.json()["error"]
    google = "FAILED_PRECONDITION" if status == 402 else "PERMISSION_DENIED"
    assert (error["code"], error["status"]) == (status, google)
    assert error["details"][0]["reason"] == code.upper()


async def test_spent_budget_is_refused_in_each_api_shape(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await _priced_channel(gateway, upstreams)
    key = await gateway.add_key("capped", budget_usd=0.02, budget_period="daily")
    key_id = await _key_id(gateway, key)

    await _ask(gateway, key)
    await _ask(gateway, key)
    assert await _spend(gateway, key_id) == {"usd": 20_000}  # micro-dollars

    await _refused_on_every_surface(gateway, key, 402, "budget_exceeded")
    assert len(up.requests) == 2  # refusals never reach an upstream
    assert await _spend(gateway, key_id) == {"usd": 20_000}
    await _ask(gateway, MASTER_KEY)  # the master key has no budget


async def test_streamed_answers_are_charged_when_they_end(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(default=messages_sse_reply(model=MODEL, **CENT))
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-a"])
    await gateway.add_price(MODEL, 10.0, 0.0)
    key = await gateway.add_key("streams", budget_usd=0.02, budget_period="weekly")
    key_id = await _key_id(gateway, key)

    async with claude_client(gateway, key) as client:
        for _ in range(2):
            async with client.messages.stream(model=MODEL, max_tokens=8, messages=PROMPT) as stream:
                await stream.get_final_message()
        with pytest.raises(anthropic.APIStatusError) as err:
            await client.messages.create(model=MODEL, max_tokens=8, messages=PROMPT, stream=True)

    assert err.value.status_code == 402
    assert "weekly spend budget of $0.02" in err.value.message
    assert await _spend(gateway, key_id) == {"usd": 20_000}
    assert len(up.requests) == 2


async def test_token_budget(gateway: Running, upstreams: UpstreamFactory) -> None:
    await _priced_channel(gateway, upstreams, input_tokens=60, output_tokens=0)
    key = await gateway.add_key("tokens", token_budget=100)  # period: total
    key_id = await _key_id(gateway, key)

    await _ask(gateway, key)  # 60
    await _ask(gateway, key)  # 120: the request that crosses is served whole
    with pytest.raises(anthropic.APIStatusError) as err:
        await _ask(gateway, key)

    assert err.value.status_code == 402
    assert "total token budget of 100" in err.value.message
    assert await _spend(gateway, key_id) == {"tokens": 120}
    (row,) = await gateway.db.daos.key_spend.list({"key_id": key_id})
    assert row.period_start == EPOCH


async def test_daily_budget_rolls_over_at_utc_midnight(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _priced_channel(gateway, upstreams)
    key = await gateway.add_key("daily", budget_usd=0.01, budget_period="daily")
    key_id = await _key_id(gateway, key)
    budgets = gateway.rt.budgets
    late = datetime.now(UTC).replace(hour=23, minute=59, second=59, microsecond=0)
    budgets.clock = lambda: late

    await _ask(gateway, key)
    with pytest.raises(anthropic.APIStatusError) as err:
        await _ask(gateway, key)
    assert err.value.status_code == 402
    tomorrow = late + timedelta(seconds=1)
    assert f"it resets at {tomorrow:%Y-%m-%dT%H:%M:%SZ}" in err.value.message

    budgets.clock = lambda: tomorrow  # a new UTC day: nothing written, the key serves again
    await _ask(gateway, key)
    await gateway.flush()
    rows = await gateway.db.daos.key_spend.list({"key_id": key_id}, order_by="period_start")
    assert [(r.period_start, r.amount) for r in rows] == [
        (period_start("daily", late), 10_000),
        (period_start("daily", tomorrow), 10_000),
    ]


async def test_expired_key_is_refused_and_a_future_expiry_serves(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await _priced_channel(gateway, upstreams)
    now = datetime.now(UTC)
    later = await gateway.add_key("later", expires_at=now + timedelta(hours=1))
    gone = await gateway.add_key("gone", expires_at=now - timedelta(seconds=1))

    await _ask(gateway, later)
    await _refused_on_every_surface(gateway, gone, 403, "key_expired")
    with pytest.raises(anthropic.PermissionDeniedError) as err:
        await _ask(gateway, gone)
    assert "expired at" in err.value.message
    assert len(up.requests) == 1


async def test_unpriced_model_is_marked_counted_and_warned_once(
    gateway: Running, upstreams: UpstreamFactory, caplog: pytest.LogCaptureFixture
) -> None:
    up = await upstreams(default=messages_json_reply(model="mystery-1", **CENT))
    await gateway.add_channel("messages", "a", up.url, ["sk-ant-a"])
    await gateway.add_price(MODEL, 10.0, 0.0)
    await gateway.set_setting("ratelimit", json.dumps(NO_API_LIMIT))

    with caplog.at_level(logging.WARNING, logger="ccbridge.relay"):
        async with claude_client(gateway) as client:
            for model in ("mystery-1", "mystery-1", MODEL):
                await client.messages.create(model=model, max_tokens=8, messages=PROMPT)

    rows = await gateway.logs()
    assert [(r.model, r.price_source, r.price) for r in rows] == [
        ("mystery-1", "unknown", 0.0),
        ("mystery-1", "unknown", 0.0),
        # Priced by the requested model, as the response model has no price.
        (MODEL, "pricing", pytest.approx(0.01)),
    ]
    warnings = [r.getMessage() for r in caplog.records if "has no price" in r.getMessage()]
    assert warnings == ["model 'mystery-1' has no price: its requests are logged at cost 0"]
    async with admin_client(gateway.url) as api:
        stats = (await api.get("/api/logs/stats")).json()
    assert (stats["unpricedRequests"], stats["unpricedModels"]) == (2, {"mystery-1": 2})


async def test_admin_round_trip_of_budget_fields(
    gateway: Running, upstreams: UpstreamFactory
) -> None:
    await _priced_channel(gateway, upstreams)
    await gateway.set_setting("ratelimit", json.dumps(NO_API_LIMIT))
    expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    async with admin_client(gateway.url) as api:
        created = await api.post(
            "/api/keys",
            json={
                "name": "ci",
                "expiresAt": expires.isoformat(),
                "budgetUsd": 0.05,
                "budgetPeriod": "monthly",
                "tokenBudget": 5000,
                "tokenBudgetPeriod": "weekly",
            },
        )
        assert created.status_code == 201, created.text
        view = created.json()
        now = datetime.now(UTC)
        assert view["expiresAt"] == expires.isoformat().replace("+00:00", "Z")
        assert (view["budgetUsd"], view["budgetPeriod"]) == (0.05, "monthly")
        assert (view["tokenBudget"], view["tokenBudgetPeriod"]) == (5000, "weekly")
        assert (view["spentUsd"], view["tokensUsed"], view["expired"]) == (0.0, 0, False)
        month = period_start("monthly", now)
        next_month = month.replace(year=month.year + 1, month=1) if month.month == 12 else (
            month.replace(month=month.month + 1))  # fmt: skip
        assert view["budgetResetsAt"] == f"{next_month:%Y-%m-%dT%H:%M:%SZ}"
        monday = period_start("weekly", now) + timedelta(weeks=1)
        assert view["tokenBudgetResetsAt"] == f"{monday:%Y-%m-%dT%H:%M:%SZ}"

        await gateway.reload()
        await _ask(gateway, view["key"])
        await _ask(gateway, view["key"])
        await gateway.flush()
        got = (await api.get(f"/api/keys/{view['id']}")).json()
        assert (got["spentUsd"], got["tokensUsed"]) == (0.02, 2000)
        listed = (await api.get("/api/keys")).json()["keys"]
        assert [k["spentUsd"] for k in listed if k["id"] == view["id"]] == [0.02]
        stats = (await api.get("/api/logs/stats")).json()["keyBudgets"]
        assert stats[str(view["id"])]["spentUsd"] == 0.02
        assert stats[str(view["id"])]["name"] == "ci"

        # Bad values are refused in the admin shape and change nothing.
        for bad in (
            {"budgetUsd": -1},
            {"budgetPeriod": "yearly"},
            {"tokenBudget": 1.5},
            {"expiresAt": "tomorrow"},
            {"expiresAt": "2030-01-01T00:00:00"},  # no offset
        ):
            resp = await api.put(f"/api/keys/{view['id']}", json=bad)
            assert resp.status_code in (400, 422), (bad, resp.text)
            assert resp.json()["code"], bad
        unchanged = (await api.get(f"/api/keys/{view['id']}")).json()
        assert {k: unchanged[k] for k in ("budgetUsd", "budgetPeriod", "tokenBudget")} == {
            "budgetUsd": 0.05,
            "budgetPeriod": "monthly",
            "tokenBudget": 5000,
        }

        # null clears a budget and the expiry.
        cleared = await api.put(
            f"/api/keys/{view['id']}",
            json={"budgetUsd": None, "expiresAt": None, "tokenBudget": 1000},
        )
        assert cleared.status_code == 200, cleared.text
        body = cleared.json()
        assert (body["budgetUsd"], body["spentUsd"], body["expiresAt"]) == (None, None, None)
        assert (body["tokenBudget"], body["tokensUsed"]) == (1000, 2000)

    await gateway.reload()
    with pytest.raises(anthropic.APIStatusError) as err:  # 2000 tokens of 1000 spent
        await _ask(gateway, view["key"])
    assert err.value.status_code == 402


@pytest.fixture
async def pair(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Running, Running]]:
    """Two gateways on one database (PostgreSQL: polling at a minute, so NOTIFY tells)."""
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    poll = "60" if engine == "postgres" else "1"
    a, close_a = await start_gateway(engine, tmp_path, dsn, CONFIG_POLL_INTERVAL=poll)
    b, close_b = await start_gateway(engine, tmp_path, dsn, CONFIG_POLL_INTERVAL=poll)
    try:
        yield a, b
    finally:
        await close_b()
        await close_a()


async def test_two_instances_spend_a_budget_to_the_cent(
    pair: tuple[Running, Running], upstreams: UpstreamFactory
) -> None:
    a, b = pair
    up = await _priced_channel(a, upstreams)
    key = await a.add_key("shared", budget_usd=0.05, budget_period="total")
    await b.reload()
    key_id = await _key_id(a, key)
    stored = b.rt.snapshot.keys_by_hash[hash_key(key)]

    for gateway in (a, b, a, b, a):  # five cents, alternating instances
        await _ask(gateway, key)
        await gateway.flush()
    # A charged the last cent; B learns it from the database (NOTIFY, else its poll).
    await until(lambda: b.rt.auth.spent(stored) is not None, timeout=5)

    for gateway in (a, b):
        with pytest.raises(anthropic.APIStatusError) as err:
            await _ask(gateway, key)
        assert err.value.status_code == 402
        assert json.dumps(err.value.body).count("budget_exceeded") == 1
    assert len(up.requests) == 5
    assert await _spend(a, key_id) == {"usd": 50_000}  # exactly $0.05
    async with admin_client(b.url) as api:
        view = (await api.get(f"/api/keys/{key_id}")).json()
    assert (view["spentUsd"], view["budgetResetsAt"]) == (0.05, None)


async def test_budget_seen_from_the_database_at_start(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, upstreams: UpstreamFactory
) -> None:
    """A restarted instance refuses a key spent before it started."""
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    first, close = await start_gateway(engine, tmp_path, dsn)
    await _priced_channel(first, upstreams)
    key = await first.add_key("spent", budget_usd=0.01)
    await _ask(first, key)
    await first.flush()
    await close()

    second, close = await start_gateway(engine, tmp_path, dsn)
    try:
        with pytest.raises(anthropic.APIStatusError) as err:
            await _ask(second, key)
        assert err.value.status_code == 402
    finally:
        await close()


def test_gemini_error_shape_without_code() -> None:
    from ccbridge.proxy.errors import gemini_body

    assert json.loads(gemini_body(429, "slow down")) == {
        "error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}
    }
