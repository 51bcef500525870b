"""Per-key endpoint/model/channel allowlists and the per-key RPM limit."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Final, NamedTuple

from ccbridge.proxy.mapping import split_model_suffix
from ccbridge.store.snapshot import Channel, ClientKey

__all__ = (
    "CHANNEL_NOT_ALLOWED",
    "ENDPOINT_NOT_ALLOWED",
    "MODEL_NOT_ALLOWED",
    "Denial",
    "KeyRateLimiter",
    "RateDecision",
    "channel_allowed",
    "check_endpoint",
    "check_model",
    "filter_channels",
    "model_allowed",
)

ENDPOINT_NOT_ALLOWED: Final = "ENDPOINT_NOT_ALLOWED"
MODEL_NOT_ALLOWED: Final = "MODEL_NOT_ALLOWED"
CHANNEL_NOT_ALLOWED: Final = "CHANNEL_NOT_ALLOWED"
_WINDOW_SECONDS: Final = 60
_GLOB_CHARS: Final = frozenset("*?[")
_ENDPOINT_PATHS: Final = {
    "messages": "/v1/messages",
    "responses": "/v1/responses",
    "chat": "/v1/chat/completions",
    "gemini": "/v1/gemini",
}


@dataclass(frozen=True, slots=True)
class Denial:
    """A 403 answer: machine code plus human message."""

    code: str
    message: str


def check_endpoint(key: ClientKey, endpoint: str) -> Denial | None:
    """Return a denial unless ``key`` may call ``endpoint``.

    Args:
        key: The authenticated client key.
        endpoint: One of messages, responses, gemini, chat,
            messages_current_channel.
    """
    allowed = key.allowed_endpoints
    if allowed is None or endpoint.lower() in allowed:
        return None
    path = _ENDPOINT_PATHS.get(endpoint, endpoint)
    return Denial(ENDPOINT_NOT_ALLOWED, f"Endpoint {path} not allowed for this API key")


def _pattern_matches(pattern: str, model: str) -> bool:
    if pattern == model:
        return True
    if pattern.endswith("*") and model.startswith(pattern[:-1]):
        return True
    # fnmatchcase caches compiled patterns, so repeated checks stay cheap.
    return not _GLOB_CHARS.isdisjoint(pattern) and fnmatchcase(model, pattern)


def _any_match(patterns: Iterable[str], model: str) -> bool:
    return any(_pattern_matches(p, model) for p in patterns)


def model_allowed(patterns: tuple[str, ...] | None, model: str) -> bool:
    """Return True when ``model`` matches one lower-cased pattern.

    A pattern matches case-insensitively as an exact name, a shell glob or
    a trailing-``*`` prefix. A ``base(suffix)`` model that matches nothing
    is retried as ``base``. ``None`` allows everything.
    """
    if patterns is None:
        return True
    lower = model.lower()
    if _any_match(patterns, lower):
        return True
    base, _, has_suffix = split_model_suffix(lower)
    return has_suffix and _any_match(patterns, base)


def check_model(key: ClientKey, model: str) -> Denial | None:
    """Return a denial unless ``key`` may use the client model name."""
    if model_allowed(key.allowed_models, model):
        return None
    return Denial(MODEL_NOT_ALLOWED, f"Model {model} not allowed for this API key")


def channel_allowed(key: ClientKey | None, pool: str, uid: str) -> bool:
    """Return True when ``key`` may be routed to channel ``uid``."""
    if key is None:
        return True
    allowed = key.channel_allowlist(pool)
    return allowed is None or uid in allowed


def filter_channels(
    key: ClientKey | None, pool: str, channels: Iterable[Channel]
) -> tuple[Channel, ...]:
    """Return the channels of ``pool`` that ``key`` may use."""
    allowed = key.channel_allowlist(pool) if key is not None else None
    if allowed is None:
        return tuple(channels)
    return tuple(c for c in channels if c.uid in allowed)


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


class KeyRateLimiter:
    """Fixed one-minute windows per key, aligned to wall-clock minutes.

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
