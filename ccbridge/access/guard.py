"""Auth-failure blocking and the /api rate limit (spec §3.2).

Failed authentications are counted per client address on /api and /v1;
at 5, 10 and 20 failures (configurable) the address is blocked for 1, 5
and 30 minutes on every path, except for requests that present a valid
key: a block keeps guessers out, never the owners of keys at that address
(a shared NAT, or the host's own agents). An /api success clears the count.
Everything is in memory and O(1) per request; the thresholds and the /api
limit come from the ``ratelimit`` setting, which the config snapshot carries
(no database read).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

from ccbridge.access.limiter import RateDecision, RateLimiter
from ccbridge.store.snapshot import RateLimitConfig, Snapshot

__all__ = ("BLOCKED_MESSAGE", "AccessGuard", "FailureBlocker")

_FORGET_AFTER: Final = 3600.0  # seconds without a failure before an address is forgotten
BLOCKED_MESSAGE: Final = "Too many failed authentication attempts; try again later"


class FailureBlocker:
    """Per-address failure counts and block deadlines."""

    __slots__ = ("_clock", "_entries", "_max_entries", "thresholds")

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, max_entries: int = 100_000
    ) -> None:
        self._clock = clock
        self._max_entries = max_entries
        # address -> (failures, blocked until, last failure)
        self._entries: dict[str, tuple[int, float, float]] = {}
        self.thresholds: tuple[tuple[int, float], ...] = ()

    def record(self, address: str) -> None:
        """Count one failed authentication of ``address``."""
        if not self.thresholds:
            return
        now = self._clock()
        count, until, _ = self._entries.get(address, (0, 0.0, now))
        count += 1
        for failures, seconds in self.thresholds:
            if count >= failures:
                until = max(until, now + seconds)
                break
        if address not in self._entries and len(self._entries) >= self._max_entries:
            self.sweep()
        self._entries[address] = (count, until, now)

    def __bool__(self) -> bool:
        """Return whether any address has failures on record."""
        return bool(self._entries)

    def clear(self, address: str) -> None:
        """Forget the failures of ``address`` (it authenticated)."""
        self._entries.pop(address, None)

    def blocked_for(self, address: str) -> int:
        """Return the seconds ``address`` stays blocked (0 = not blocked)."""
        entry = self._entries.get(address)
        if entry is None:
            return 0
        left = entry[1] - self._clock()
        return math.ceil(left) if left > 0 else 0

    def reset(self) -> None:
        """Forget every address: no failures, no blocks."""
        self._entries.clear()

    def sweep(self) -> int:
        """Drop addresses neither blocked nor failing lately; return how many."""
        now = self._clock()
        stale = [
            a
            for a, (_, until, last) in self._entries.items()
            if until <= now and now - last > _FORGET_AFTER
        ]
        for address in stale:
            del self._entries[address]
        return len(stale)


class AccessGuard:
    """Blocked addresses and the /api limit, shared by every path.

    The app refuses a blocked address before routing (:meth:`blocked_for`);
    the admin middleware calls :meth:`refresh` with the current config
    snapshot, then :meth:`admin_hit`, :meth:`record_failure` and
    :meth:`clear_failures`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.blocker = FailureBlocker(clock)
        self.limiter = RateLimiter()
        self.config = RateLimitConfig()
        self.blocker.thresholds = self.config.thresholds

    def blocked_for(self, address: str) -> int:
        """Return the seconds ``address`` stays blocked (0 = not blocked)."""
        if not self.blocker:  # the usual case: no failures on record at all
            return 0
        return self.blocker.blocked_for(address)

    def refresh(self, snapshot: Snapshot) -> None:
        """Use the ``ratelimit`` setting of ``snapshot`` if it changed."""
        if snapshot.ratelimit is not self.config:
            self.apply(snapshot.ratelimit)

    def apply(self, config: RateLimitConfig) -> None:
        """Use new limits from now on; switching blocking off lifts current blocks."""
        self.config = config
        self.blocker.thresholds = config.thresholds
        if not config.thresholds:
            self.blocker.reset()

    def admin_hit(self, address: str) -> RateDecision:
        """Count one /api request of ``address`` against the /api limit."""
        return self.limiter.hit(f"ip:{address}", self.config.portal_rpm)

    def record_failure(self, address: str) -> None:
        """Count a failed /api authentication of ``address``."""
        self.blocker.record(address)

    def clear_failures(self, address: str) -> None:
        """Forget failures of ``address`` after a good authentication."""
        self.blocker.clear(address)
