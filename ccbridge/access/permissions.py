"""Per-key endpoint, model and channel allowlists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Final

from ccbridge.store.mapping import split_model_suffix
from ccbridge.store.snapshot import Channel, ClientKey

__all__ = (
    "CHANNEL_NOT_ALLOWED",
    "ENDPOINT_NOT_ALLOWED",
    "MODEL_NOT_ALLOWED",
    "Denial",
    "channel_allowed",
    "check_endpoint",
    "check_model",
    "filter_channels",
    "model_allowed",
)

ENDPOINT_NOT_ALLOWED: Final = "ENDPOINT_NOT_ALLOWED"
MODEL_NOT_ALLOWED: Final = "MODEL_NOT_ALLOWED"
CHANNEL_NOT_ALLOWED: Final = "CHANNEL_NOT_ALLOWED"
_GLOB_CHARS: Final = frozenset("*?[")
_ENDPOINT_PATHS: Final = {
    "messages": "/v1/messages",
    "responses": "/v1/responses",
    "chat": "/v1/chat/completions",
    "gemini": "/v1/gemini",
}


@dataclass(frozen=True, slots=True)
class Denial:
    """A refusal of a key: machine code, human message, HTTP status."""

    code: str
    message: str
    status: int = 403


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
