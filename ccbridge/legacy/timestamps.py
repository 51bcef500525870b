"""Parse every timestamp spelling cc-bridge (Go) ever stored.

Legacy SQLite text appears as RFC 3339 (nano), Go's ``time.String()``
(``2006-01-02 15:04:05.999999999 -0700 MST`` with an optional ``m=+…``
monotonic suffix), ``YYYY-MM-DD HH:MM:SS[.f][-07[:00]]`` or ``…Z``
(reference §1.5). Results are aware UTC datetimes, truncated to
microseconds; text without an offset is UTC (SQLite's CURRENT_TIMESTAMP).
Go's zero time (``0001-01-01 …``) means "unset" and parses to None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

__all__ = ("parse_timestamp", "parse_timestamps")

# Go time.String() and other spellings fromisoformat() rejects.
_PATTERN: Final = re.compile(
    r"""
    (?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})
    (?:[T\ ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?
    \s*(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>\d{2})(?::?(?P<om>\d{2}))?)?
    (?:\s+(?:[A-Za-z]{2,6}|[+-]\d{2,4}))?      # zone abbreviation: UTC, CST, +08
    (?:\s+m=[+-]?\d+(?:\.\d+)?)?               # monotonic clock reading
    """,
    re.VERBOSE,
)
_ZERO_DATE: Final = "0001-01-01"


def parse_timestamp(value: Any) -> datetime | None:
    """Return a legacy timestamp as an aware UTC datetime.

    Args:
        value: Text in any legacy spelling, an (aware or naive-UTC)
            datetime, Unix seconds as a number, or None/empty.

    Returns:
        The instant in UTC, or None for None, empty text and Go's zero
        time.

    Raises:
        ValueError: The value is not a timestamp.
    """
    if type(value) is not str:
        return _parse_other(value)
    text = value.strip()
    if not text or text.startswith(_ZERO_DATE):
        return None
    if text.count(" ") >= 2:
        parsed = _parse_go(text)
    else:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = _parse_pattern(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_timestamps(values: Sequence[Any]) -> list[datetime | None]:
    """Parse a column of timestamps; raise ValueError on the first bad one.

    PERF(legacy): RFC 3339 and modernc's ``…+08:00`` text go straight to
    ``fromisoformat``; everything else takes :func:`parse_timestamp`.
    """
    out: list[datetime | None] = []
    append = out.append
    fromiso = datetime.fromisoformat
    for v in values:
        if v is None:
            append(None)
            continue
        if type(v) is str and v[:4] != "0001" and v.count(" ") < 2:
            try:
                parsed = fromiso(v)
            except ValueError:
                append(parse_timestamp(v))
                continue
            tz = parsed.tzinfo
            if tz is None:
                append(parsed.replace(tzinfo=UTC))
            else:
                append(parsed if tz is UTC else parsed.astimezone(UTC))
        else:
            append(parse_timestamp(v))
    return out


def _parse_other(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool):
        raise ValueError("expected a timestamp, got a boolean")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, bytes):
        return parse_timestamp(value.decode("utf-8", "replace"))
    if isinstance(value, str):
        return parse_timestamp(str(value))
    raise ValueError(f"expected a timestamp, got {type(value).__name__}")


def _parse_go(text: str) -> datetime:
    """Parse Go's time.String(): date, clock, numeric offset, zone, m=."""
    parts = text.split()
    if parts[2][:1] in "+-":
        try:
            return datetime.fromisoformat(f"{parts[0]} {parts[1]}{parts[2]}")
        except ValueError:
            pass
    return _parse_pattern(text)


def _parse_pattern(text: str) -> datetime:
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ValueError("not a recognised timestamp")
    g = match.groupdict()
    fraction = (g["f"] or "")[:6].ljust(6, "0")
    parsed = datetime(
        int(g["y"]),
        int(g["mo"]),
        int(g["d"]),
        int(g["h"] or 0),
        int(g["mi"] or 0),
        int(g["s"] or 0),
        int(fraction),
    )
    if g["sign"]:
        offset = timedelta(hours=int(g["oh"]), minutes=int(g["om"] or 0))
        return parsed.replace(tzinfo=timezone(-offset if g["sign"] == "-" else offset))
    return parsed.replace(tzinfo=UTC)
