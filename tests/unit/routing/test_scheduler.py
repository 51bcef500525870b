from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from ccbridge.access.permissions import CHANNEL_NOT_ALLOWED
from ccbridge.routing.scheduler import (
    NO_CHANNELS,
    NO_CHANNELS_CONFIGURED,
    ChannelRpmLimiter,
    ChannelScheduler,
    CircuitBreaker,
    KeySelector,
    Plan,
    TraceAffinity,
)
from ccbridge.store.snapshot import Channel, ClientKey, FailoverConfig, Snapshot
from tests.unit.proxy.helpers import FakeClock, make_channel

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def snapshot(
    channels: list[Channel], strategy: str = "failover", *, failover_enabled: bool = False
) -> Snapshot:
    return Snapshot.build(
        channels={"messages": channels},
        load_balance={"messages": strategy},
        failover=FailoverConfig(enabled=failover_enabled),
    )


def scheduler(clock: FakeClock | None = None, seed: int = 7) -> ChannelScheduler:
    return ChannelScheduler(
        clock=clock or FakeClock(), wall_clock=lambda: NOW, rng=random.Random(seed)
    )


def order(plan: Plan) -> list[tuple[str, str]]:
    return [(c.channel.uid, c.reason) for c in plan.candidates]


def five_channels() -> list[Channel]:
    return [
        make_channel("a", priority=1),
        make_channel("b", priority=2),
        make_channel("c", priority=3),
        make_channel("d", priority=4),
        make_channel("e", priority=5, promotion_until=NOW + timedelta(hours=1)),
        make_channel("f", status="disabled"),
    ]


def test_promotion_affinity_suspension_and_round_robin() -> None:
    snap = snapshot(five_channels(), "round-robin")
    sched = scheduler()
    sched.affinity.remember("messages", "cli", "d")
    suspended = {"c": NOW + timedelta(minutes=10), "a": NOW - timedelta(seconds=1)}
    first = sched.plan(snap, "messages", client_id="cli", suspensions=suspended)
    assert order(first) == [
        ("e", "promotion"),
        ("d", "affinity"),
        ("a", "round_robin"),
        ("b", "round_robin"),
    ]
    skipped = {s.uid: s.reason for s in first.skipped}
    assert skipped == {"f": "disabled", "c": "suspended until 2025-01-01T12:10:00+00:00"}
    second = sched.plan(snap, "messages", client_id="cli", suspensions=suspended)
    # The healthy list [a, b, d, e] now starts at its second entry.
    assert order(second)[2:] == [("b", "round_robin"), ("a", "round_robin")]
    stranger = sched.plan(snap, "messages", client_id="someone-else", suspensions=suspended)
    assert order(stranger) == [
        ("e", "promotion"),
        ("d", "round_robin"),
        ("a", "round_robin"),
        ("b", "round_robin"),
    ]


def test_round_robin_rotation_without_promotion() -> None:
    snap = snapshot([make_channel(u, priority=i + 1) for i, u in enumerate("abc")], "round-robin")
    sched = scheduler()
    firsts = [sched.plan(snap, "messages").first.channel.uid for _ in range(4)]  # type: ignore[union-attr]
    assert firsts == ["a", "b", "c", "a"]


def test_failover_order_failed_set_breaker_and_fallback() -> None:
    snap = snapshot([make_channel(u, priority=i + 1) for i, u in enumerate("abc")])
    sched = scheduler()
    sched.breaker.record("a", False)  # 1 of 1 failed: unhealthy
    plan = sched.plan(snap, "messages")
    assert order(plan) == [("b", "priority_order"), ("c", "priority_order"), ("a", "fallback")]
    assert order(sched.plan(snap, "messages", failed={"b"})) == [
        ("c", "priority_order"),
        ("a", "fallback"),
    ]
    everything_failed = sched.plan(snap, "messages", failed={"a", "b", "c"})
    assert everything_failed.candidates == () and everything_failed.error == NO_CHANNELS
    assert "failed in this request" in everything_failed.details()
    # failover.enabled turns the circuit breaker off.
    enabled = snapshot(list(snap.pool("messages")), failover_enabled=True)
    assert [uid for uid, _ in order(sched.plan(enabled, "messages"))] == ["a", "b", "c"]


def test_fallback_sorted_by_failure_rate() -> None:
    snap = snapshot([make_channel(u, priority=i + 1) for i, u in enumerate("abc")])
    sched = scheduler()
    for uid, outcomes in {"a": [False], "b": [False, True], "c": [False, False, True]}.items():
        for ok in outcomes:
            sched.breaker.record(uid, ok)
    # Rates a=1.0, b=0.5, c=0.67: all unhealthy, so only the fallback remains.
    assert order(sched.plan(snap, "messages")) == [
        ("b", "fallback"),
        ("c", "fallback"),
        ("a", "fallback"),
    ]


def test_unserved_keyless_quota_and_status_are_skipped() -> None:
    channels = [
        make_channel("a", service_type="bedrock"),
        make_channel("b", api_keys=()),
        make_channel("c"),
        make_channel("d", status="suspended"),
        make_channel("e"),
    ]
    sched = scheduler()
    plan = sched.plan(snapshot(channels), "messages", quota_exhausted=lambda ch: ch.uid == "c")
    assert order(plan) == [("e", "priority_order")]
    assert {s.uid: s.reason for s in plan.skipped} == {
        "a": "service type 'bedrock' not served by messages pool",
        "b": "no keys",
        "c": "quota exhausted",
        "d": "status suspended",
    }


def test_messages_pool_serves_the_converted_types() -> None:
    kinds = ("claude", "openai", "openaiold", "openai_chat", "gemini", "responses", "composite")
    channels = [make_channel(kind, service_type=kind) for kind in kinds]
    plan = scheduler().plan(snapshot(channels), "messages")
    assert [uid for uid, _ in order(plan)] == list(kinds)
    assert not plan.skipped


def test_key_allowlist_filters_channels() -> None:
    snap = snapshot([make_channel("a"), make_channel("b")])
    sched = scheduler()
    only_b = ClientKey(id=1, name="k", allowed_channels={"messages": frozenset({"b"})})
    plan = sched.plan(snap, "messages", client_key=only_b)
    assert order(plan) == [("b", "priority_order")]
    assert [(s.uid, s.reason) for s in plan.skipped] == [("a", "not allowed for this key")]
    nothing = ClientKey(id=2, name="k", allowed_channels={"messages": frozenset({"zzz"})})
    denied = sched.plan(snap, "messages", client_key=nothing)
    assert (denied.candidates, denied.error) == ((), CHANNEL_NOT_ALLOWED)


def test_only_the_first_promoted_channel_counts() -> None:
    channels = [
        make_channel("p1", priority=1, promotion_until=NOW + timedelta(hours=1)),
        make_channel("p2", priority=2, promotion_until=NOW + timedelta(hours=1)),
        make_channel("x", priority=3, promotion_until=NOW - timedelta(seconds=1)),
    ]
    sched = scheduler()
    plan = sched.plan(snapshot(channels), "messages", suspensions={"p1": NOW + timedelta(hours=2)})
    assert order(plan) == [("p2", "priority_order"), ("x", "priority_order")]
    plain = sched.plan(snapshot(channels), "messages")
    assert order(plain)[0] == ("p1", "promotion")


def test_affinity_ignored_when_unhealthy_or_expired() -> None:
    clock = FakeClock()
    snap = snapshot([make_channel("a", priority=1), make_channel("b", priority=2)])
    sched = scheduler(clock)
    sched.record_success(snap.channels_by_uid["b"], "cli")
    assert order(sched.plan(snap, "messages", client_id="cli"))[0] == ("b", "affinity")
    sched.record_failure(snap.channels_by_uid["b"])  # 1 of 2 failed: rate 0.5, unhealthy
    assert order(sched.plan(snap, "messages", client_id="cli"))[0] == ("a", "priority_order")
    sched.breaker.reset("b")
    clock.advance(30 * 60 + 1)
    assert order(sched.plan(snap, "messages", client_id="cli"))[0] == ("a", "priority_order")


def test_random_strategy_uses_injected_rng() -> None:
    channels = [make_channel(u, priority=i + 1) for i, u in enumerate("abcde")]
    sched = scheduler(seed=3)
    plan = sched.plan(snapshot(channels, "random"), "messages")
    expected = list(channels)
    random.Random(3).shuffle(expected)
    assert [c.channel.uid for c in plan.candidates] == [c.uid for c in expected]
    assert {c.reason for c in plan.candidates} == {"random"}


def test_single_channel_mode() -> None:
    channels = [make_channel("a", status="disabled"), make_channel("b", status="suspended")]
    sched = scheduler()
    sched.breaker.record("b", False)
    plan = sched.plan(snapshot(channels), "messages", suspensions={"b": NOW + timedelta(hours=1)})
    assert order(plan) == [("b", "single_channel")] and not plan.multi_channel
    assert sched.plan(snapshot(channels), "messages", failed={"b"}).error == NO_CHANNELS
    keyless = sched.plan(snapshot([make_channel("k", api_keys=())]), "messages")
    assert keyless.error == NO_CHANNELS and keyless.details() == "K: no keys"
    empty = sched.plan(snapshot([]), "messages")
    assert (empty.candidates, empty.error) == ((), NO_CHANNELS_CONFIGURED)
    disabled = sched.plan(snapshot([make_channel("d", status="disabled")]), "messages")
    assert disabled.error == NO_CHANNELS_CONFIGURED and disabled.details() == "D: disabled"


def test_responses_pool_serves_its_types_only() -> None:
    snap = Snapshot.build(
        channels={
            "responses": [
                make_channel("r1", "responses"),
                make_channel("r2", "responses", service_type="openai-oauth"),
                make_channel("r3", "responses", service_type="composite"),
            ]
        }
    )
    plan = scheduler().plan(snap, "responses")
    assert order(plan) == [("r1", "priority_order"), ("r2", "priority_order")]


def test_circuit_breaker_window_and_breaking() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock)
    for _ in range(4):
        breaker.record("a", False)
    assert not breaker.is_healthy("a") and not breaker.is_broken("a")
    breaker.record("a", False)  # fifth sample at 100 %: broken
    assert breaker.is_broken("a")
    breaker.record("a", True)  # a success clears the mark, not the window
    assert not breaker.is_broken("a")
    assert breaker.failure_rate("a") == pytest.approx(5 / 6)
    for _ in range(9):
        breaker.record("a", True)  # window of 10 now holds 10 successes
    assert breaker.failure_rate("a") == 0.0 and breaker.is_healthy("a")
    for ok in (False,) * 4 + (True,) * 6:
        breaker.record("b", ok)
    assert breaker.failure_rate("b") == pytest.approx(0.4) and breaker.is_healthy("b")


def test_circuit_breaker_recovers_after_fifteen_minutes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock)
    for uid in ("a", "b"):
        for _ in range(5):
            breaker.record(uid, False)
    clock.advance(15 * 60)
    assert breaker.sweep() == () and breaker.is_broken("a")
    clock.advance(1)
    assert breaker.sweep() == ("a", "b")
    assert breaker.is_healthy("a") and breaker.failure_rate("b") == 0.0
    for _ in range(5):
        breaker.record("c", False)
    clock.advance(15 * 60 + 1)
    assert breaker.is_healthy("c")  # checked lazily without a sweep
    breaker.retain({"a"})
    breaker.record("a", False)
    breaker.reset("a")
    assert breaker.failure_rate("a") == 0.0


def test_trace_affinity_ttl_and_pools() -> None:
    clock = FakeClock()
    affinity = TraceAffinity(clock)
    affinity.remember("messages", "cli", "a")
    affinity.remember("messages", "", "ignored")
    assert affinity.get("responses", "cli") is None
    clock.advance(1800)
    assert affinity.get("messages", "cli") == "a"
    affinity.remember("messages", "cli", "b")  # refreshes
    clock.advance(1801)
    assert affinity.get("messages", "cli") is None
    affinity.remember("messages", "x", "a")
    affinity.remember("messages", "y", "b")
    affinity.forget_channel("a")
    assert affinity.get("messages", "x") is None and len(affinity) == 1
    clock.advance(1801)
    assert affinity.sweep() == 1 and len(affinity) == 0


def keyed(*keys: str, **fields: Any) -> Channel:
    return make_channel("k", api_keys=keys, **fields)


def test_key_selection_failover_and_failed_cache() -> None:
    clock = FakeClock()
    keys = KeySelector(clock)
    ch = keyed("k1", "k2", "k3")
    assert keys.select(ch, "failover") == "k1"
    assert keys.select(ch, "failover", tried={"k1"}) == "k2"
    keys.mark_failed("messages", "k1")
    assert keys.select(ch, "failover") == "k2"
    assert not keys.is_failed("responses", "k1")  # cache is per pool
    clock.advance(300)
    assert keys.select(ch, "failover") == "k1"  # five minutes later it is back
    for _ in range(4):
        keys.mark_failed("messages", "k1")
    clock.advance(301)
    assert keys.is_failed("messages", "k1")  # more than 3 failures: ten minutes
    clock.advance(300)
    assert not keys.is_failed("messages", "k1")
    assert keys.sweep() == 1


def test_key_selection_all_failed_uses_oldest_untried() -> None:
    clock = FakeClock()
    keys = KeySelector(clock)
    ch = keyed("k1", "k2", "k3")
    for key in ("k2", "k3", "k1"):
        keys.mark_failed("messages", key)
        clock.advance(1)
    assert keys.select(ch, "failover") == "k2"
    assert keys.select(ch, "failover", tried={"k2"}) == "k3"
    assert keys.select(ch, "failover", tried={"k1", "k2", "k3"}) is None
    fresh = KeySelector(clock)
    assert fresh.select(keyed("k1"), "failover", tried={"k1"}) is None
    assert fresh.select(keyed(), "failover") is None


def test_key_round_robin_is_shared_per_pool_and_overridable() -> None:
    keys = KeySelector(FakeClock(), random.Random(1))
    one, two = keyed("a1", "a2", "a3"), keyed("b1", "b2")
    picks = [keys.select(one, "round-robin"), keys.select(two, "round-robin")]
    picks += [keys.select(one, "round-robin"), keys.select(one, "round-robin")]
    assert picks == ["a1", "b2", "a3", "a1"]
    pinned = keyed("a1", "a2", key_load_balance="failover")
    assert [keys.select(pinned, "round-robin") for _ in range(3)] == ["a1"] * 3
    rand = keyed("a1", "a2", "a3", key_load_balance="random")
    assert {keys.select(rand, "failover") for _ in range(30)} == {"a1", "a2", "a3"}


def test_scheduler_select_key_uses_pool_strategy() -> None:
    snap = snapshot([keyed("k1", "k2")], "round-robin")
    sched = scheduler()
    ch = snap.channels_by_uid["k"]
    assert [sched.select_key(snap, ch) for _ in range(3)] == ["k1", "k2", "k1"]


class VirtualTime:
    """Virtual clock whose sleepers wake in time order when driven."""

    def __init__(self, now: float) -> None:
        self.now = now
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), future))
        await future

    async def drive(self, *aws: Awaitable[Any]) -> list[Any]:
        tasks = [asyncio.ensure_future(a) for a in aws]
        while not all(t.done() for t in tasks):
            for _ in range(10):
                await asyncio.sleep(0)
            if self._sleepers and not all(t.done() for t in tasks):
                wake, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                future.set_result(None)
        return [t.result() for t in tasks]


def limited(rpm: int, *, queue: bool = False, timeout: int = 60) -> Channel:
    return make_channel("q", rate_limit_rpm=rpm, queue_enabled=queue, queue_timeout=timeout)


def test_rpm_try_acquire_windows() -> None:
    clock = FakeClock(now=6_000.0)
    rpm = ChannelRpmLimiter(clock)
    assert [rpm.try_acquire("a", 2) for _ in range(3)] == [True, True, False]
    assert rpm.try_acquire("b", 2)
    assert rpm.try_acquire("a", 0)
    clock.advance(60)
    assert rpm.try_acquire("a", 2)


async def test_rpm_without_queue_rejects() -> None:
    vt = VirtualTime(6_000.0)
    rpm = ChannelRpmLimiter(vt, vt.sleep)
    ch = limited(1)
    assert await rpm.acquire(ch)
    assert not await rpm.acquire(ch)
    assert await rpm.acquire(limited(0))


async def test_rpm_queue_waits_for_next_window() -> None:
    vt = VirtualTime(6_000.0)
    rpm = ChannelRpmLimiter(vt, vt.sleep)
    ch = limited(1, queue=True, timeout=90)
    assert await rpm.acquire(ch)

    async def queued() -> tuple[bool, float]:
        ok = await rpm.acquire(ch)
        return ok, vt.now

    assert await vt.drive(queued()) == [(True, 6_060.0)]
    assert rpm.queued("q") == 0


async def test_rpm_queue_times_out() -> None:
    vt = VirtualTime(6_000.0)
    rpm = ChannelRpmLimiter(vt, vt.sleep)
    ch = limited(1, queue=True, timeout=30)
    assert await rpm.acquire(ch)

    async def queued() -> tuple[bool, float]:
        ok = await rpm.acquire(ch)
        return ok, vt.now

    assert await vt.drive(queued()) == [(False, 6_030.0)]


async def test_rpm_queue_depth_and_one_per_second_release() -> None:
    vt = VirtualTime(6_000.0)
    rpm = ChannelRpmLimiter(vt, vt.sleep)
    ch = limited(2, queue=True, timeout=120)
    assert await rpm.acquire(ch) and await rpm.acquire(ch)
    released: list[float] = []

    async def queued() -> bool:
        ok = await rpm.acquire(ch)
        released.append(vt.now)
        return ok

    first, second = asyncio.ensure_future(queued()), asyncio.ensure_future(queued())
    for _ in range(5):
        await asyncio.sleep(0)
    assert rpm.queued("q") == 2
    assert not await rpm.acquire(ch)  # queue depth is capped at rpm
    assert await vt.drive(first, second) == [True, True]
    assert released == [6_060.0, 6_061.0]
