"""Auth-failure blocking and the /api rate limit (spec §3.2).

Failed authentications are counted per client address on /api; at 5, 10
and 20 failures (configurable) the address is blocked for 1, 5 and 30
minutes on every path. A success clears the count. Everything is in memory
and O(1) per request; the thresholds and the /api limit come from the
``ratelimit`` setting, re-read when the config revision moves.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import falcon
import falcon.asgi

from ccbridge.proxy.permissions import KeyRateLimiter, RateDecision

if TYPE_CHECKING:
    from ccbridge.runtime import Runtime

__all__ = (
    "DEFAULT_RATELIMIT",
    "RATELIMIT_SETTING",
    "AccessGuard",
    "FailureBlocker",
    "RateLimitConfig",
)

RATELIMIT_SETTING: Final = "ratelimit"
DEFAULT_RATELIMIT: Final[Mapping[str, Any]] = {
    "api": {"enabled": True, "requestsPerMinute": 100},
    "portal": {"enabled": True, "requestsPerMinute": 60},
    "authFailure": {
        "enabled": True,
        "thresholds": [
            {"failures": 5, "blockMinutes": 1},
            {"failures": 10, "blockMinutes": 5},
            {"failures": 20, "blockMinutes": 30},
        ],
    },
}
_FORGET_AFTER: Final = 3600.0  # seconds without a failure before an address is forgotten


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """The parts of the ``ratelimit`` setting this module applies.

    Attributes:
        portal_rpm: Requests per minute per address on /api (0 = off).
        thresholds: (failures, block seconds), most failures first;
            empty when auth-failure blocking is off.
    """

    portal_rpm: int
    thresholds: tuple[tuple[int, float], ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> RateLimitConfig:
        """Return the config of a stored ``ratelimit`` object (lenient).

        Sections missing from ``raw`` take their defaults.
        """
        raw = {**DEFAULT_RATELIMIT, **raw}
        portal = raw.get("portal") if isinstance(raw.get("portal"), dict) else {}
        rpm = portal.get("requestsPerMinute") if portal.get("enabled") else 0
        auth = raw.get("authFailure") if isinstance(raw.get("authFailure"), dict) else {}
        steps = auth.get("thresholds") if auth.get("enabled") else ()
        thresholds = sorted(
            (
                (int(t["failures"]), float(t["blockMinutes"]) * 60)
                for t in steps or ()
                if isinstance(t, dict)
                and _positive(t.get("failures"))
                and _positive(t.get("blockMinutes"))
            ),
            reverse=True,
        )
        return cls(int(rpm) if _positive(rpm) else 0, tuple(thresholds))


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


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
    """Falcon middleware: refuse blocked addresses on every path.

    The admin middleware calls :meth:`admin_hit`, :meth:`record_failure`
    and :meth:`clear_failures`; :meth:`refresh` re-reads the
    ``ratelimit`` setting after a config change.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.blocker = FailureBlocker(clock)
        self.limiter = KeyRateLimiter()
        self.config = RateLimitConfig.parse(DEFAULT_RATELIMIT)
        self.blocker.thresholds = self.config.thresholds
        self._revision: int | None = None

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Answer 429 at once for a blocked client address."""
        if not self.blocker:  # the usual case: skip resolving the address
            return
        seconds = self.blocker.blocked_for(req.remote_addr or "")
        if not seconds:
            return
        detail = "Too many failed authentication attempts; try again later"
        resp.status = 429
        resp.content_type = "application/problem+json"
        resp.set_header("Retry-After", str(seconds))
        resp.data = json.dumps(
            {
                "type": "about:blank",
                "title": "Too Many Requests",
                "status": 429,
                "detail": detail,
                "error": detail,
                "code": "AUTH_BLOCKED",
            }
        ).encode()
        resp.complete = True

    async def refresh(self, rt: Runtime) -> None:
        """Re-read the ``ratelimit`` setting if the config revision moved."""
        revision = rt.snapshot.revision
        if revision == self._revision:
            return
        self._revision = revision
        row = await rt.db.daos.settings.get(RATELIMIT_SETTING)
        try:
            raw = json.loads(row.value) if row is not None else DEFAULT_RATELIMIT
        except ValueError:
            raw = DEFAULT_RATELIMIT
        self.apply(RateLimitConfig.parse(raw if isinstance(raw, dict) else DEFAULT_RATELIMIT))

    def apply(self, config: RateLimitConfig) -> None:
        """Use new limits from now on."""
        self.config = config
        self.blocker.thresholds = config.thresholds

    def admin_hit(self, address: str) -> RateDecision:
        """Count one /api request of ``address`` against the /api limit."""
        return self.limiter.hit(f"ip:{address}", self.config.portal_rpm)

    def record_failure(self, address: str) -> None:
        """Count a failed /api authentication of ``address``."""
        self.blocker.record(address)

    def clear_failures(self, address: str) -> None:
        """Forget failures of ``address`` after a good authentication."""
        self.blocker.clear(address)
