"""The one fixed-window rate limiter: client keys, /api addresses, channels.

Windows are whole minutes of a clock (wall-clock minutes by default, so
X-RateLimit-Reset is a real time); each identity holds ``(window, count)``
and a check is O(1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Final, NamedTuple

__all__ = ("RateDecision", "RateLimiter")

_WINDOW_SECONDS: Final = 60


# PERF(proxy): made on every /v1 request; a NamedTuple is built several
# times faster than a frozen dataclass.
class RateDecision(NamedTuple):
    """Outcome of one rate-limit check, ready for response headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: int
    reset_seconds: int

    @property
    def retry_after(self) -> int:
        """Return the Retry-After value for a rejected request."""
        return max(self.reset_seconds, 1)

    def headers(self) -> dict[str, str]:
        """Return X-RateLimit-* (and Retry-After when rejected) headers."""
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class RateLimiter:
    """Fixed one-minute windows per identity, aligned to the clock's minutes.

    Each identity holds ``(window number, count)``; a check is O(1). Stale
    identities are dropped by :meth:`sweep` (call it periodically) and
    opportunistically when the table grows past ``max_entries``.
    """

    __slots__ = ("_clock", "_max_entries", "_windows")

    def __init__(
        self, clock: Callable[[], float] = time.time, *, max_entries: int = 100_000
    ) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._windows: dict[Hashable, tuple[int, int]] = {}

    def hit(self, identity: Hashable, limit: int) -> RateDecision:
        """Count one request of ``identity`` against ``limit`` per minute.

        A limit of 0 or less means unlimited. Rejected requests are not
        counted.
        """
        now = self._clock()
        window = int(now // _WINDOW_SECONDS)
        reset_at = (window + 1) * _WINDOW_SECONDS
        reset_seconds = max(math.ceil(reset_at - now), 0)
        if limit <= 0:
            return RateDecision(True, 0, 0, reset_at, reset_seconds)
        seen_window, count = self._windows.get(identity, (window, 0))
        if seen_window != window:
            count = 0
        if count >= limit:
            return RateDecision(False, limit, 0, reset_at, reset_seconds)
        if len(self._windows) >= self._max_entries:
            self.sweep()
        self._windows[identity] = (window, count + 1)
        return RateDecision(True, limit, limit - count - 1, reset_at, reset_seconds)

    def sweep(self) -> int:
        """Drop identities whose window has ended; return how many."""
        current = int(self._clock() // _WINDOW_SECONDS)
        stale = [k for k, (w, _) in self._windows.items() if w != current]
        for identity in stale:
            del self._windows[identity]
        return len(stale)

    def reset(self, identity: Hashable | None = None) -> None:
        """Forget one identity, or all when None."""
        if identity is None:
            self._windows.clear()
        else:
            self._windows.pop(identity, None)
