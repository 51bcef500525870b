"""Auth-failure blocking and the /api rate limit (spec §3.2)."""

from __future__ import annotations

import json

import httpx

from ccbridge.proxy.blocking import FailureBlocker, RateLimitConfig
from tests.admin.conftest import MASTER_KEY, Running, admin_client


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
        proxy = await any_path.post("/v1/messages", json={}, headers={"x-api-key": MASTER_KEY})
        health = await any_path.get("/health")
    assert proxy.status_code == 429 and health.status_code == 429


async def test_proxy_auth_failures_are_not_counted(gateway: Running) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        for _ in range(8):
            resp = await http.post("/v1/messages", json={}, headers={"x-api-key": "nope"})
            assert resp.status_code == 401
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
