"""Query strings of the /api/logs routes: filters, time bounds, cursors.

Times are RFC3339; ``to`` is inclusive, as in the reference, and becomes
the exclusive bound one microsecond later (the storage resolution). A
cursor is an opaque token for the (initial_time, id) of the last row of a
page; the next page holds the rows strictly before it in that order.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, TypedDict

import falcon.asgi

from ccbridge.admin.common import AdminError
from ccbridge.store.rollup import EPOCH, FAR_FUTURE

__all__ = (
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Equality",
    "LogFilter",
    "Scope",
    "decode_cursor",
    "encode_cursor",
    "go_duration",
    "int_param",
    "key_param",
    "log_filter",
    "scope",
    "text_param",
    "time_param",
)

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
_TICK: Final = timedelta(microseconds=1)
_INT_MAX: Final = 2**31 - 1  # a database INTEGER
_BIGINT_MAX: Final = 2**63 - 1
_CURSOR_PREFIX: Final = "v1:"
_GO_DURATION: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


@dataclass(frozen=True, slots=True)
class Scope:
    """The rows stats are computed over: a time range and three filters.

    ``since`` is inclusive and ``until`` exclusive; None is unbounded.
    """

    since: datetime | None = None
    until: datetime | None = None
    endpoint: str | None = None
    client_id: str | None = None
    session_id: str | None = None


class Equality(TypedDict):
    """The equality filters of the log queries (None = any)."""

    provider: str | None
    channel: str | None
    model: str | None
    endpoint: str | None
    client_id: str | None
    session_id: str | None
    http_status: int | None
    api_key_id: int | None


@dataclass(frozen=True, slots=True)
class LogFilter:
    """The filters of the log list (None = any); since/until as in `Scope`."""

    since: datetime
    until: datetime
    provider: str | None = None
    channel: str | None = None
    model: str | None = None
    endpoint: str | None = None
    client_id: str | None = None
    session_id: str | None = None
    http_status: int | None = None
    api_key_id: int | None = None

    def equality(self) -> Equality:
        """Return the equality filters as query parameters."""
        return {
            "provider": self.provider,
            "channel": self.channel,
            "model": self.model,
            "endpoint": self.endpoint,
            "client_id": self.client_id,
            "session_id": self.session_id,
            "http_status": self.http_status,
            "api_key_id": self.api_key_id,
        }

    def lead(self) -> str:
        """Return the filter whose index the queries read along ("" = the time index).

        The likely rarest first: a session, an HTTP status, a client, a key.
        """
        for name in ("session_id", "http_status", "client_id", "api_key_id"):
            if getattr(self, name) is not None:
                return name
        return ""


def text_param(req: falcon.asgi.Request, name: str) -> str | None:
    """Return a query parameter, None when absent or empty."""
    value = req.get_param(name)
    return value if value else None


def int_param(
    req: falcon.asgi.Request, name: str, *, low: int | None = None, high: int = _INT_MAX
) -> int | None:
    """Return an integer query parameter (400 when malformed or out of [low, high])."""
    raw = text_param(req, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise AdminError(400, f"{name} must be an integer", "INVALID_PARAMETER") from None
    if (low is not None and value < low) or value > high:
        bounds = f"between {low} and {high}" if low is not None else f"at most {high}"
        raise AdminError(400, f"{name} must be {bounds}", "INVALID_PARAMETER")
    return value


def key_param(req: falcon.asgi.Request) -> int | None:
    """Return the apiKeyId filter: a client key's id as the logs store it, 0 the master key."""
    return int_param(req, "apiKeyId", low=0, high=_BIGINT_MAX)


def time_param(req: falcon.asgi.Request, name: str) -> datetime | None:
    """Return an RFC3339 query parameter as an aware UTC time (400 when malformed)."""
    raw = text_param(req, name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace(" ", "+"))
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        value + _TICK  # noqa: B018 - an inclusive bound must have a next microsecond
    except (ValueError, OverflowError):
        raise AdminError(400, f"{name} must be an RFC3339 timestamp", "INVALID_PARAMETER") from None
    return value


def scope(req: falcon.asgi.Request) -> Scope:
    """Return the stats scope of from, to, endpoint, clientId and sessionId."""
    end = time_param(req, "to")
    return Scope(
        since=time_param(req, "from"),
        until=None if end is None else end + _TICK,
        endpoint=text_param(req, "endpoint"),
        client_id=text_param(req, "clientId"),
        session_id=text_param(req, "sessionId"),
    )


def log_filter(req: falcon.asgi.Request) -> LogFilter:
    """Return the log-list filters of a request."""
    window = scope(req)
    return LogFilter(
        since=window.since or EPOCH,
        until=window.until or FAR_FUTURE,
        provider=text_param(req, "provider"),
        channel=text_param(req, "channel"),
        model=text_param(req, "model"),
        endpoint=window.endpoint,
        client_id=window.client_id,
        session_id=window.session_id,
        http_status=int_param(req, "httpStatus", low=0, high=999),
        api_key_id=key_param(req),
    )


def encode_cursor(initial_time: datetime, log_id: str) -> str:
    """Return the opaque cursor of a row's place in the list order."""
    micros = (initial_time - EPOCH) // _TICK
    raw = f"{_CURSOR_PREFIX}{micros}:{log_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, str]:
    """Return the (initial_time, id) a cursor stands for (400 when invalid)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError(raw)
        micros, log_id = raw[len(_CURSOR_PREFIX) :].split(":", 1)
        return EPOCH + int(micros) * _TICK, log_id
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise AdminError(400, "cursor is not one this server issued", "INVALID_CURSOR") from None


def go_duration(text: str | None) -> timedelta | None:
    """Return a Go duration string ("30m", "1h30m", "90s") as a timedelta.

    None when absent, malformed or not positive (callers use a default).
    """
    if not text:
        return None
    pos, seconds = 0, 0.0
    for match in _GO_DURATION.finditer(text):
        if match.start() != pos:
            return None
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or seconds <= 0:
        return None
    return timedelta(seconds=seconds)
