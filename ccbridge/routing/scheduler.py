"""Channel order, circuit breaker, affinity, keys and channel RPM.

All state is in memory and keyed by stable channel uid (never by index),
so reordering or deleting channels cannot attach history to the wrong
channel. Every class takes its clock as a parameter so tests never sleep.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from ccbridge import metrics
from ccbridge.access.limiter import RateLimiter
from ccbridge.access.permissions import CHANNEL_NOT_ALLOWED, filter_channels
from ccbridge.store.snapshot import EMPTY_MAPPING, Channel, ClientKey, Snapshot

__all__ = (
    "AFFINITY_TTL_SECONDS",
    "NO_CHANNELS",
    "NO_CHANNELS_CONFIGURED",
    "SERVED_SERVICE_TYPES",
    "Candidate",
    "ChannelRpmLimiter",
    "ChannelScheduler",
    "CircuitBreaker",
    "KeySelector",
    "Plan",
    "Skip",
    "TraceAffinity",
)

AFFINITY_TTL_SECONDS: Final = 30 * 60
NO_CHANNELS: Final = "NO_CHANNELS"
# The pool has no enabled channel at all: an operator's setup, not an outage.
NO_CHANNELS_CONFIGURED: Final = "NO_CHANNELS_CONFIGURED"
# Pool -> upstream service types this gateway can relay: passthrough for the
# client's own API, the others through the protocol converters (proxy/adapters.py).
SERVED_SERVICE_TYPES: Final[Mapping[str, frozenset[str]]] = {
    "messages": frozenset(
        {
            "claude",
            "openai",
            "openaiold",
            "openai_chat",
            "gemini",
            "responses",
            "openai-oauth",
            "composite",
        }
    ),
    "responses": frozenset(
        {"responses", "openai-oauth", "claude", "openai", "openaiold", "openai_chat", "gemini"}
    ),
    "chat": frozenset({"claude", "gemini", "openai", "openaiold", "openai_chat"}),
    "gemini": frozenset({"gemini"}),
}

Clock = Callable[[], float]
WallClock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
QuotaCheck = Callable[[Channel], bool]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Window:
    """The last outcomes of one channel."""

    __slots__ = ("broken_at", "failures", "results")

    def __init__(self, size: int) -> None:
        self.results: deque[bool] = deque(maxlen=size)
        self.failures = 0
        self.broken_at: float | None = None

    def push(self, success: bool) -> None:
        """Add an outcome, keeping the failure count in step."""
        results = self.results
        if len(results) == results.maxlen and not results[0]:
            self.failures -= 1
        results.append(success)
        if not success:
            self.failures += 1

    def rate(self) -> float:
        """Return the failure share of the window."""
        return self.failures / len(self.results) if self.results else 0.0

    def clear(self) -> None:
        """Forget all outcomes and the broken mark."""
        self.results.clear()
        self.failures = 0
        self.broken_at = None


class CircuitBreaker:
    """Failure rate over each channel's last outcomes (reference §3.5).

    Healthy means fewer than ``threshold`` failures among the last
    ``window`` outcomes (no minimum sample). A channel is marked broken at
    ``window // 2`` samples with a rate at or above the threshold; any
    success clears the mark, and ``recovery_seconds`` after breaking the
    window is wiped.
    """

    __slots__ = ("_clock", "_recovery", "_size", "_threshold", "_windows")

    def __init__(
        self,
        clock: Clock = time.monotonic,
        *,
        window: int = 10,
        threshold: float = 0.5,
        recovery_seconds: float = 15 * 60,
    ) -> None:
        self._clock = clock
        self._size = window
        self._threshold = threshold
        self._recovery = recovery_seconds
        self._windows: dict[str, _Window] = {}

    def record(self, uid: str, success: bool) -> None:
        """Add one outcome of channel ``uid``."""
        window = self._windows.get(uid)
        if window is None:
            window = self._windows[uid] = _Window(self._size)
        window.push(success)
        if success:
            window.broken_at = None
        elif window.broken_at is None and self._trips(window):
            window.broken_at = self._clock()
            metrics.breaker_opened(uid)

    def _trips(self, window: _Window) -> bool:
        return len(window.results) >= self._size // 2 and window.rate() >= self._threshold

    def _current(self, uid: str) -> _Window | None:
        window = self._windows.get(uid)
        if window is not None and window.broken_at is not None:
            if self._clock() - window.broken_at > self._recovery:
                window.clear()
        return window

    def failure_rate(self, uid: str) -> float:
        """Return the failure share of the recorded window (0 if none)."""
        window = self._current(uid)
        return window.rate() if window is not None else 0.0

    def is_healthy(self, uid: str) -> bool:
        """Return True while the failure rate is below the threshold."""
        return self.failure_rate(uid) < self._threshold

    def is_broken(self, uid: str) -> bool:
        """Return True while the channel is marked broken."""
        window = self._current(uid)
        return window is not None and window.broken_at is not None

    def sweep(self) -> tuple[str, ...]:
        """Wipe windows broken for longer than the recovery time."""
        now = self._clock()
        recovered = tuple(
            uid
            for uid, window in self._windows.items()
            if window.broken_at is not None and now - window.broken_at > self._recovery
        )
        for uid in recovered:
            self._windows[uid].clear()
        return recovered

    def reset(self, uid: str) -> None:
        """Forget channel ``uid`` (the resume endpoint)."""
        self._windows.pop(uid, None)

    def retain(self, uids: Collection[str]) -> None:
        """Drop state of channels that no longer exist."""
        for uid in [u for u in self._windows if u not in uids]:
            del self._windows[uid]


class TraceAffinity:
    """Last successful channel per (pool, client id), with a TTL."""

    __slots__ = ("_clock", "_entries", "_max_entries", "_ttl")

    def __init__(
        self,
        clock: Clock = time.monotonic,
        *,
        ttl_seconds: float = AFFINITY_TTL_SECONDS,
        max_entries: int = 100_000,
    ) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._entries: dict[tuple[str, str], tuple[str, float]] = {}

    def get(self, pool: str, client_id: str) -> str | None:
        """Return the preferred channel uid, or None when unknown/expired."""
        if not client_id:
            return None
        entry = self._entries.get((pool, client_id))
        if entry is None:
            return None
        if self._clock() - entry[1] > self._ttl:
            del self._entries[(pool, client_id)]
            return None
        return entry[0]

    def remember(self, pool: str, client_id: str, uid: str) -> None:
        """Prefer ``uid`` for this client (refreshes the TTL)."""
        if not client_id:
            return
        if len(self._entries) >= self._max_entries:
            self.sweep()
        self._entries[(pool, client_id)] = (uid, self._clock())

    def forget_channel(self, uid: str) -> None:
        """Drop every preference pointing at ``uid``."""
        for pair in [p for p, (u, _) in self._entries.items() if u == uid]:
            del self._entries[pair]

    def sweep(self) -> int:
        """Drop expired entries; return how many."""
        cutoff = self._clock() - self._ttl
        stale = [p for p, (_, seen) in self._entries.items() if seen < cutoff]
        for pair in stale:
            del self._entries[pair]
        return len(stale)

    def __len__(self) -> int:
        return len(self._entries)


class KeySelector:
    """Upstream key choice with a process-wide failed-key cache (§3.6).

    A failed key cools down ``recovery_seconds`` (twice that after more
    than ``max_failures`` failures). The strategy is the channel's
    ``key_load_balance`` or the pool's; round-robin uses one counter per
    pool. With every key cooling down, the oldest-failed key not yet tried
    in this request is offered.
    """

    __slots__ = ("_clock", "_counters", "_failed", "_max_failures", "_recovery", "_rng")

    def __init__(
        self,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        *,
        recovery_seconds: float = 5 * 60,
        max_failures: int = 3,
    ) -> None:
        self._clock = clock
        self._rng = rng or random.Random()
        self._recovery = recovery_seconds
        self._max_failures = max_failures
        self._failed: dict[tuple[str, str], tuple[float, int]] = {}
        self._counters: dict[str, int] = {}

    def mark_failed(self, pool: str, key: str) -> None:
        """Record a failure of ``key`` in ``pool``."""
        _, count = self._failed.get((pool, key), (0.0, 0))
        self._failed[(pool, key)] = (self._clock(), count + 1)

    def _cooldown(self, count: int) -> float:
        return self._recovery * 2 if count > self._max_failures else self._recovery

    def is_failed(self, pool: str, key: str) -> bool:
        """Return True while ``key`` is cooling down."""
        entry = self._failed.get((pool, key))
        if entry is None:
            return False
        return self._clock() - entry[0] < self._cooldown(entry[1])

    def forget(self, pool: str, key: str) -> None:
        """Clear the failure record of ``key``."""
        self._failed.pop((pool, key), None)

    def sweep(self) -> int:
        """Drop records whose cooldown ended; return how many."""
        now = self._clock()
        stale = [k for k, (at, n) in self._failed.items() if now - at > self._cooldown(n)]
        for item in stale:
            del self._failed[item]
        return len(stale)

    def select(
        self, channel: Channel, pool_strategy: str, tried: Collection[str] = ()
    ) -> str | None:
        """Return the key to use next, or None when none is left."""
        keys = channel.api_keys
        pool = channel.pool
        usable = [k for k in keys if k not in tried and not self.is_failed(pool, k)]
        if not usable:
            return self._oldest_failed(channel, tried)
        strategy = channel.key_load_balance or pool_strategy
        if strategy == "round-robin" and len(usable) > 1:
            turn = self._counters.get(pool, 0)
            self._counters[pool] = turn + 1
            return usable[turn % len(usable)]
        if strategy == "random" and len(usable) > 1:
            return self._rng.choice(usable)
        return usable[0]

    def _oldest_failed(self, channel: Channel, tried: Collection[str]) -> str | None:
        best: tuple[float, str] | None = None
        for key in channel.api_keys:
            entry = self._failed.get((channel.pool, key))
            if key in tried or entry is None:
                continue
            if best is None or entry[0] < best[0]:
                best = (entry[0], key)
        return best[1] if best is not None else None


class ChannelRpmLimiter:
    """Per-channel requests-per-minute windows with an optional queue.

    Windows are fixed minutes of ``clock``. Over the limit a request is
    refused, or with ``queue_enabled`` waits (at most ``rpm`` waiters, up
    to ``queue_timeout`` seconds); queued requests are released at most one
    per ``release_interval`` as window capacity frees.
    """

    __slots__ = ("_clock", "_interval", "_release_at", "_sleep", "_waiting", "_windows")

    def __init__(
        self,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        *,
        release_interval: float = 1.0,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._interval = release_interval
        self._windows = RateLimiter(lambda: self._clock())
        self._waiting: dict[str, int] = {}
        self._release_at: dict[str, float] = {}

    def try_acquire(self, uid: str, rpm: int) -> bool:
        """Take one slot of the current minute; False when full."""
        return self._windows.hit(uid, rpm).allowed

    def sweep(self) -> int:
        """Drop the windows of past minutes; return how many."""
        return self._windows.sweep()

    def queued(self, uid: str) -> int:
        """Return how many requests wait for channel ``uid``."""
        return self._waiting.get(uid, 0)

    async def acquire(self, channel: Channel) -> bool:
        """Return True once the channel may be called, False if refused."""
        uid, rpm = channel.uid, channel.rate_limit_rpm
        if rpm <= 0:
            return True
        if not self.queued(uid) and self.try_acquire(uid, rpm):
            return True
        if not channel.queue_enabled or self.queued(uid) >= rpm:
            return False
        timeout = channel.queue_timeout if channel.queue_timeout > 0 else 60
        self._waiting[uid] = self.queued(uid) + 1
        try:
            return await self._wait(uid, rpm, self._clock() + timeout)
        finally:
            self._waiting[uid] -= 1

    async def _wait(self, uid: str, rpm: int, deadline: float) -> bool:
        while True:
            now = self._clock()
            if now >= deadline:
                return False
            release_at = self._release_at.get(uid, 0.0)
            if now >= release_at and self.try_acquire(uid, rpm):
                self._release_at[uid] = now + self._interval
                return True
            ready = release_at if now < release_at else (now // 60 + 1) * 60
            await self._sleep(min(ready, deadline) - now)


# PERF(proxy): Candidate, Skip and Plan are made per request; a frozen dataclass's __init__
# costs about 4x a plain one.
@dataclass(slots=True)
class Candidate:
    """A channel to try, with why it was chosen."""

    channel: Channel
    reason: str


@dataclass(slots=True)
class Skip:
    """A channel left out of the plan, with why."""

    uid: str
    name: str
    reason: str


@dataclass(slots=True)
class Plan:
    """Ordered channels to try for one request of a pool.

    Attributes:
        candidates: Channels in the order to try them.
        skipped: Channels left out and the reason for each.
        error: When empty: ``NO_CHANNELS_CONFIGURED`` (no enabled channel in
            the pool), ``CHANNEL_NOT_ALLOWED`` (none for this key) or
            ``NO_CHANNELS`` (every channel failed, suspended or unusable).
        multi_channel: False in single-channel mode (key failover only).
    """

    candidates: tuple[Candidate, ...]
    skipped: tuple[Skip, ...] = ()
    error: str | None = None
    multi_channel: bool = True

    @property
    def first(self) -> Candidate | None:
        """Return the channel to try now, if any."""
        return self.candidates[0] if self.candidates else None

    def details(self) -> str:
        """Return the skip reasons as one line for error bodies."""
        return "; ".join(f"{s.name}: {s.reason}" for s in self.skipped)


class _Checks:
    """Eligibility checks of one plan() call."""

    __slots__ = ("breaker", "failed", "now", "quota", "served", "suspensions")

    def __init__(
        self,
        *,
        now: datetime,
        failed: Collection[str],
        suspensions: Mapping[str, datetime],
        quota: QuotaCheck | None,
        served: frozenset[str],
        breaker: CircuitBreaker | None,
    ) -> None:
        self.now = now
        self.failed = failed
        self.suspensions = suspensions
        self.quota = quota
        self.served = served
        self.breaker = breaker

    def blocker(self, ch: Channel, *, health: bool) -> str | None:
        """Return the first reason ``ch`` is not usable, or None."""
        if ch.uid in self.failed:
            return "failed in this request"
        if not ch.is_active:
            return f"status {ch.status}"
        reason = _unservable(ch, self.served)
        if reason is not None:
            return reason
        until = self.suspensions.get(ch.uid)
        if until is not None and until > self.now:
            return f"suspended until {until.isoformat()}"
        if self.quota is not None and self.quota(ch):
            return "quota exhausted"
        if health and self.breaker is not None and not self.breaker.is_healthy(ch.uid):
            return f"unhealthy (failure rate {self.breaker.failure_rate(ch.uid):.0%})"
        return None


class ChannelScheduler:
    """Channel order for a request plus the state it depends on (§3.5).

    Order: the promoted channel, the client's affinity channel, healthy
    channels by pool strategy, then the rest by lowest failure rate. Only
    channels whose service type the pool serves are considered.
    """

    __slots__ = ("affinity", "breaker", "keys", "rpm", "_rng", "_rr", "_served", "_wall")

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        wall_clock: WallClock = _utcnow,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        served: Mapping[str, frozenset[str]] = SERVED_SERVICE_TYPES,
    ) -> None:
        self._rng = rng or random.Random()
        self._wall = wall_clock
        self._served = served
        self._rr: dict[str, int] = {}
        self.breaker = CircuitBreaker(clock)
        self.affinity = TraceAffinity(clock)
        self.keys = KeySelector(clock, self._rng)
        self.rpm = ChannelRpmLimiter(clock, sleep)

    def plan(
        self,
        snapshot: Snapshot,
        pool: str,
        *,
        client_key: ClientKey | None = None,
        client_id: str = "",
        failed: Collection[str] = frozenset(),
        suspensions: Mapping[str, datetime] = EMPTY_MAPPING,
        quota_exhausted: QuotaCheck | None = None,
    ) -> Plan:
        """Return the channels of ``pool`` to try, best first.

        Args:
            snapshot: Current config.
            pool: messages, responses, gemini or chat.
            client_key: The caller's key (its channel allowlist applies).
            client_id: Client id for trace affinity.
            failed: Uids that already failed in this request.
            suspensions: Uid -> suspended-until (aware datetimes).
            quota_exhausted: Optional predicate marking channels out of quota.
        """
        live = snapshot.by_priority[pool]
        allowed = filter_channels(client_key, pool, live)
        skipped = _outside(snapshot.pool(pool), allowed)
        if not live:
            return Plan((), skipped, NO_CHANNELS_CONFIGURED, multi_channel=False)
        if not allowed:
            return Plan((), skipped, CHANNEL_NOT_ALLOWED, multi_channel=len(live) > 1)
        served = self._served.get(pool, frozenset())
        if len(live) == 1:
            return _single(allowed[0], served, failed, skipped, quota_exhausted)
        checks = _Checks(
            now=self._wall(),
            failed=failed,
            suspensions=suspensions,
            quota=quota_exhausted,
            served=served,
            breaker=None if snapshot.failover.enabled else self.breaker,
        )
        ordered = self._ordered(snapshot, pool, allowed, checks, client_id)
        chosen = {c.channel.uid for c in ordered}
        skipped += tuple(
            Skip(c.uid, c.name, checks.blocker(c, health=True) or "not selected")
            for c in allowed
            if c.uid not in chosen
        )
        return Plan(ordered, skipped, None if ordered else NO_CHANNELS)

    def _ordered(
        self,
        snapshot: Snapshot,
        pool: str,
        allowed: tuple[Channel, ...],
        checks: _Checks,
        client_id: str,
    ) -> tuple[Candidate, ...]:
        out: list[Candidate] = []
        seen: set[str] = set()

        def take(channels: Iterable[Channel], reason: str) -> None:
            """Append channels not chosen yet."""
            for ch in channels:
                if ch.uid not in seen:
                    seen.add(ch.uid)
                    out.append(Candidate(ch, reason))

        healthy = [c for c in allowed if checks.blocker(c, health=True) is None]
        # Only the first promoted channel counts; if it is unusable, none does.
        promoted = next((c for c in allowed if c.is_active and c.in_promotion(checks.now)), None)
        if promoted is not None:
            take((c for c in healthy if c.uid == promoted.uid), "promotion")
        preferred = self.affinity.get(pool, client_id)
        take((c for c in healthy if c.uid == preferred), "affinity")
        strategy = snapshot.strategy(pool)
        take(self._by_strategy(pool, healthy, strategy), _STRATEGY_REASON[strategy])
        rest = [c for c in allowed if checks.blocker(c, health=False) is None]
        take(sorted(rest, key=lambda c: self.breaker.failure_rate(c.uid)), "fallback")
        return tuple(out)

    def _by_strategy(self, pool: str, channels: list[Channel], strategy: str) -> list[Channel]:
        if len(channels) <= 1:
            return channels
        if strategy == "round-robin":
            turn = self._rr.get(pool, 0)
            self._rr[pool] = turn + 1
            start = turn % len(channels)
            return channels[start:] + channels[:start]
        if strategy == "random":
            shuffled = list(channels)
            self._rng.shuffle(shuffled)
            return shuffled
        return channels

    def select_key(
        self, snapshot: Snapshot, channel: Channel, tried: Collection[str] = ()
    ) -> str | None:
        """Return the next key of ``channel`` not in ``tried``.

        An ``openai-oauth`` channel without keys has one: its access token.
        """
        if not channel.api_keys and channel.service_type == "openai-oauth":
            tokens = channel.oauth_tokens
            token = tokens.access_token.strip() if tokens is not None else ""
            return token if token and token not in tried else None
        return self.keys.select(channel, snapshot.strategy(channel.pool), tried)

    def record_success(self, channel: Channel, client_id: str = "") -> None:
        """Record a good answer: breaker outcome and trace affinity."""
        self.breaker.record(channel.uid, True)
        self.affinity.remember(channel.pool, client_id, channel.uid)

    def record_failure(self, channel: Channel) -> None:
        """Record a failed attempt in the circuit breaker."""
        self.breaker.record(channel.uid, False)

    def sweep(self) -> None:
        """Run the periodic clean-up of all in-memory state."""
        self.breaker.sweep()
        self.affinity.sweep()
        self.keys.sweep()
        self.rpm.sweep()

    def retain(self, snapshot: Snapshot) -> None:
        """Drop breaker state of channels missing from ``snapshot``."""
        self.breaker.retain(snapshot.channels_by_uid.keys())


_STRATEGY_REASON: Final = {
    "failover": "priority_order",
    "round-robin": "round_robin",
    "random": "random",
}


def _outside(pool_channels: tuple[Channel, ...], allowed: tuple[Channel, ...]) -> tuple[Skip, ...]:
    if len(allowed) == len(pool_channels):  # allowed is a subset: nothing outside
        return ()
    inside = {c.uid for c in allowed}
    return tuple(
        Skip(c.uid, c.name, "disabled" if c.is_disabled else "not allowed for this key")
        for c in pool_channels
        if c.uid not in inside
    )


def _unservable(ch: Channel, served: frozenset[str]) -> str | None:
    if ch.service_type not in served:
        return f"service type {ch.service_type!r} not served by {ch.pool} pool"
    if not ch.has_credentials:
        return "no keys"
    return None


def _single(
    channel: Channel,
    served: frozenset[str],
    failed: Collection[str],
    skipped: tuple[Skip, ...],
    quota: QuotaCheck | None,
) -> Plan:
    # Single-channel mode: only key failover, no health or suspension checks;
    # a spent quota is a limit the operator set, so it holds here too.
    reason = _unservable(channel, served)
    if reason is None and channel.uid in failed:
        reason = "failed in this request"
    if reason is None and quota is not None and quota(channel):
        reason = "quota exhausted"
    if reason is not None:
        skip = Skip(channel.uid, channel.name, reason)
        return Plan((), (*skipped, skip), NO_CHANNELS, multi_channel=False)
    return Plan((Candidate(channel, "single_channel"),), skipped, None, multi_channel=False)
