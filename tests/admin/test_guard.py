"""Auth-failure blocking and the /api rate limit (spec §3.2)."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from ccbridge.access.guard import AccessGuard, FailureBlocker
from ccbridge.store.snapshot import RateLimitConfig, Snapshot
from tests.admin.conftest import MASTER_KEY, Running, admin_client
from tests.proxy.conftest import claude_client, codex_client

BLOCKED = "Too many failed authentication attempts; try again later"


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_blocker_thresholds_escalate_and_expire() -> None:
    clock = Clock()
    blocker = FailureBlocker(clock)
    blocker.thresholds = RateLimitConfig.parse(
        {
            "authFailure": {
                "enabled": True,
                "thresholds": [
                    {"failures": 5, "blockMinutes": 1},
                    {"failures": 10, "blockMinutes": 5},
                    {"failures": 20, "blockMinutes": 30},
                ],
            }
        }
    ).thresholds
    for _ in range(4):
        blocker.record("1.2.3.4")
    assert blocker.blocked_for("1.2.3.4") == 0
    blocker.record("1.2.3.4")
    assert blocker.blocked_for("1.2.3.4") == 60
    for _ in range(5):
        blocker.record("1.2.3.4")
    assert blocker.blocked_for("1.2.3.4") == 300
    for _ in range(10):
        blocker.record("1.2.3.4")
    assert blocker.blocked_for("1.2.3.4") == 1800
    assert blocker.blocked_for("5.6.7.8") == 0
    clock.now += 1801
    assert blocker.blocked_for("1.2.3.4") == 0
    blocker.clear("1.2.3.4")
    clock.now += 7200
    assert blocker.sweep() == 0


def test_disabled_blocking_records_nothing() -> None:
    blocker = FailureBlocker(Clock())
    blocker.thresholds = RateLimitConfig.parse({"authFailure": {"enabled": False}}).thresholds
    for _ in range(50):
        blocker.record("1.2.3.4")
    assert blocker.blocked_for("1.2.3.4") == 0


def test_switching_blocking_off_lifts_current_blocks() -> None:
    guard = AccessGuard()
    for _ in range(5):
        guard.record_failure("1.2.3.4")
    assert guard.blocked_for("1.2.3.4") > 0
    off = RateLimitConfig.parse({"authFailure": {"enabled": False}})
    guard.refresh(Snapshot.build(revision=8, ratelimit=off))
    assert guard.blocked_for("1.2.3.4") == 0


def test_guard_takes_its_limits_from_the_snapshot() -> None:
    guard = AccessGuard()
    assert guard.config == RateLimitConfig()
    limits = RateLimitConfig.parse(
        {
            "portal": {"enabled": True, "requestsPerMinute": 2},
            "authFailure": {"enabled": True, "thresholds": [{"failures": 3, "blockMinutes": 2}]},
        }
    )
    guard.refresh(Snapshot.build(revision=7, ratelimit=limits))  # no database to read
    assert guard.config is limits
    assert guard.blocker.thresholds == ((3, 120.0),)
    assert [guard.admin_hit("1.2.3.4").allowed for _ in range(3)] == [True, True, False]


async def test_failed_admin_logins_block_the_address_on_every_path(gateway: Running) -> None:
    async with admin_client(gateway.url, "wrong-key") as bad:
        for _ in range(4):
            assert (await bad.get("/api/channels")).status_code == 401
        # A success clears the count.
        async with admin_client(gateway.url) as good:
            assert (await good.get("/api/channels")).status_code == 200
        for _ in range(5):
            assert (await bad.get("/api/channels")).status_code == 401
        blocked = await bad.get("/api/channels")
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "AUTH_BLOCKED"
    assert 0 < int(blocked.headers["retry-after"]) <= 60
    async with httpx.AsyncClient(base_url=gateway.url) as any_path:
        guess = await any_path.post("/v1/messages", json={}, headers={"x-api-key": "nope"})
        proxy = await any_path.post("/v1/messages", json={}, headers={"x-api-key": MASTER_KEY})
        health = await any_path.get("/health")
    assert guess.status_code == 429 and health.status_code == 429
    assert proxy.status_code == 400  # a valid key is never blocked: its request is judged


async def test_proxy_auth_failures_are_counted_but_never_block_a_valid_key(
    gateway: Running,
) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        statuses = [
            (await http.post("/v1/messages", json={}, headers={"x-api-key": "nope"})).status_code
            for _ in range(8)
        ]
    assert statuses == [401] * 5 + [429] * 3
    async with admin_client(gateway.url) as good:
        assert (await good.get("/api/channels")).status_code == 200


async def test_api_rate_limit_comes_from_the_setting(gateway: Running) -> None:
    limits = {"portal": {"enabled": True, "requestsPerMinute": 3}}
    await gateway.set_setting("ratelimit", json.dumps(limits))
    async with admin_client(gateway.url) as api:
        statuses = [(await api.get("/api/pricing")).status_code for _ in range(5)]
        # 3 per window; a window boundary can let one more through.
        assert statuses[:3] == [200, 200, 200] and statuses.count(429) >= 1
        limited = [r for r in [await api.get("/api/pricing")] if r.status_code == 429]
    if limited:
        assert limited[0].headers["retry-after"]
    async with httpx.AsyncClient(base_url=gateway.url) as http:  # /v1 is not limited by it
        resp = await http.get("/v1/models", headers={"x-api-key": MASTER_KEY})
    assert resp.status_code == 200


GUESS = "sk-guessed-key-0000000000"  # a blocked address without a valid key


async def test_blocked_address_gets_each_endpoints_error_format(gateway: Running) -> None:
    async with admin_client(gateway.url, "wrong-key") as bad:
        for _ in range(5):
            assert (await bad.get("/api/channels")).status_code == 401
        admin = await bad.get("/api/channels")
    with pytest.raises(anthropic.RateLimitError) as claude_info:
        async with claude_client(gateway, key=GUESS) as claude:
            await claude.messages.create(
                model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )
    with pytest.raises(openai.RateLimitError) as codex_info:
        async with codex_client(gateway, key=GUESS) as codex:
            await codex.responses.create(model="gpt-5-codex", input="hi")
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        models = await http.get("/v1/models", headers={"x-api-key": GUESS})

    assert admin.status_code == 429
    assert admin.headers["content-type"] == "application/problem+json"
    assert admin.json()["code"] == "AUTH_BLOCKED"
    claude_error = {"type": "rate_limit_error", "message": BLOCKED, "code": "AUTH_BLOCKED"}
    assert claude_info.value.body == {"type": "error", "error": claude_error}
    assert claude_info.value.response.headers["content-type"] == "application/json"
    assert 0 < int(claude_info.value.response.headers["retry-after"]) <= 60
    codex_error = {"message": BLOCKED, "type": "rate_limit_error", "param": None}
    assert codex_info.value.body == {**codex_error, "code": "AUTH_BLOCKED"}
    assert 0 < int(codex_info.value.response.headers["retry-after"]) <= 60
    assert models.status_code == 429
    assert models.json() == {"type": "error", "error": claude_error}
