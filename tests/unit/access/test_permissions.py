from __future__ import annotations

import pytest

from ccbridge.access.limiter import RateLimiter
from ccbridge.access.permissions import (
    CHANNEL_NOT_ALLOWED,
    ENDPOINT_NOT_ALLOWED,
    MODEL_NOT_ALLOWED,
    Denial,
    channel_allowed,
    check_endpoint,
    check_model,
    filter_channels,
    model_allowed,
)
from ccbridge.store.snapshot import INVALID_PARSE_SENTINEL, ClientKey
from tests.unit.proxy.helpers import FakeClock, make_channel


def test_endpoint_allowlist_is_case_insensitive() -> None:
    key = ClientKey(id=1, name="k", allowed_endpoints=frozenset({"Messages"}))
    assert check_endpoint(key, "messages") is None
    assert check_endpoint(key, "MESSAGES") is None
    assert check_endpoint(key, "responses") == Denial(
        ENDPOINT_NOT_ALLOWED, "Endpoint /v1/responses not allowed for this API key"
    )
    assert check_endpoint(ClientKey(id=2, name="open"), "chat") is None


@pytest.mark.parametrize(
    ("patterns", "model", "allowed"),
    [
        (("claude-sonnet-4-5",), "Claude-Sonnet-4-5", True),
        (("claude-sonnet-*",), "claude-sonnet-4-5-20250929", True),
        (("claude-*-4-5",), "claude-opus-4-5", True),
        (("claude-*-4-5",), "claude-opus-4-1", False),
        (("gpt-5.?",), "gpt-5.1", True),
        (("gpt-5.[12]",), "gpt-5.3", False),
        (("gpt-5.1",), "gpt-5.1-codex", False),
        # A (suffix) model retries with its base name.
        (("gpt-5.1",), "gpt-5.1(high)", True),
        (("o3*",), "O3(xhigh)", True),
        (("gpt-5.1(high)",), "gpt-5.1(high)", True),
        (("gpt-5.1(high)",), "gpt-5.1(low)", False),
        # Bracketed names still match exactly even though [..] is glob syntax.
        (("claude-opus-4-6[1m]",), "claude-opus-4-6[1m]", True),
        (("*",), "", True),
        (("claude-*",), "", False),
    ],
)
def test_model_allowlist(patterns: tuple[str, ...], model: str, allowed: bool) -> None:
    key = ClientKey(id=1, name="k", allowed_models=patterns)
    assert model_allowed(key.allowed_models, model) is allowed
    denial = check_model(key, model)
    assert (denial is None) is allowed
    if denial is not None:
        assert denial.code == MODEL_NOT_ALLOWED
        assert denial.message == f"Model {model} not allowed for this API key"


def test_unrestricted_models() -> None:
    assert model_allowed(None, "anything")
    assert check_model(ClientKey(id=1, name="k"), "x") is None


def test_channel_allowlist_by_stable_id() -> None:
    a, b = make_channel("a"), make_channel("b", index=1)
    key = ClientKey(id=1, name="k", allowed_channels={"messages": frozenset({"b"})})
    assert filter_channels(key, "messages", (a, b)) == (b,)
    assert channel_allowed(key, "messages", "b")
    assert not channel_allowed(key, "messages", "a")
    # Other pools are unrestricted; no key means no restriction.
    assert channel_allowed(key, "responses", "r")
    assert filter_channels(None, "messages", (a, b)) == (a, b)
    broken = ClientKey(
        id=2, name="broken", allowed_channels={"messages": frozenset({INVALID_PARSE_SENTINEL})}
    )
    assert filter_channels(broken, "messages", (a, b)) == ()
    assert CHANNEL_NOT_ALLOWED == "CHANNEL_NOT_ALLOWED"


def test_rate_limiter_fixed_minute_windows() -> None:
    clock = FakeClock(now=6_000.0)  # exactly a minute boundary
    limiter = RateLimiter(clock)
    first = limiter.hit("key:alice", 2)
    assert (first.allowed, first.limit, first.remaining) == (True, 2, 1)
    assert (first.reset_at, first.reset_seconds) == (6_060, 60)
    clock.advance(20.5)
    second = limiter.hit("key:alice", 2)
    assert (second.allowed, second.remaining, second.reset_seconds) == (True, 0, 40)
    third = limiter.hit("key:alice", 2)
    assert not third.allowed and third.retry_after == 40
    assert third.headers() == {
        "X-RateLimit-Limit": "2",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "6060",
        "Retry-After": "40",
    }
    # Other identities have their own window.
    assert limiter.hit("key:bob", 2).allowed
    clock.advance(40)  # next minute starts
    fresh = limiter.hit("key:alice", 2)
    assert (fresh.allowed, fresh.remaining, fresh.reset_at) == (True, 1, 6_120)
    assert "Retry-After" not in fresh.headers()


def test_rate_limiter_unlimited_and_sweep() -> None:
    clock = FakeClock(now=600.0)
    limiter = RateLimiter(clock, max_entries=2)
    assert all(limiter.hit("ip:1", 0).allowed for _ in range(1000))
    limiter.hit("a", 5)
    limiter.hit("b", 5)
    clock.advance(60)
    limiter.hit("c", 5)  # table full: stale entries are swept first
    assert limiter.sweep() == 0
    assert limiter.hit("a", 5).remaining == 4
    limiter.reset("a")
    assert limiter.hit("a", 1).allowed
    limiter.reset()
    assert limiter.hit("a", 1).allowed
