"""Field validators for admin request bodies.

Each validator takes the field name and the raw JSON value and returns the
value to store, or raises a 422 AdminError naming the field. Strings are
refused when they hold NUL or unpaired surrogates, which neither database
can store; numbers must be finite and within the stated range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from ccbridge.admin.common import AdminError

__all__ = (
    "MAX_INT",
    "Field",
    "boolean",
    "check_fields",
    "choice",
    "integer",
    "invalid",
    "number",
    "text",
    "text_list",
    "text_map",
    "timestamp",
    "url",
)

MAX_INT: Final = 2_000_000_000  # fits a 32-bit INTEGER column on both engines
MAX_TEXT: Final = 10_000

Field = Callable[[str, Any], Any]


def invalid(name: str, message: str) -> AdminError:
    """Return the 422 error for a bad field."""
    return AdminError(422, f"'{name}' {message}", "INVALID_FIELD", field=name)


def text(
    name: str, value: Any, *, max_len: int = MAX_TEXT, required: bool = False, strip: bool = True
) -> str:
    """Return a storable string (stripped unless strip=False)."""
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if "\x00" in value:
        raise invalid(name, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(name, "must be valid Unicode text") from None
    out: str = value.strip() if strip else value
    if required and not out:
        raise invalid(name, "must not be empty")
    if len(out) > max_len:
        raise invalid(name, f"must be at most {max_len} characters")
    return out


def url(name: str, value: Any) -> str:
    """Return an http(s) URL, or "" for none."""
    link = text(name, value, max_len=2048)
    if link and not link.lower().startswith(("http://", "https://")):
        raise invalid(name, "must be an http:// or https:// URL")
    if any(c.isspace() for c in link):
        raise invalid(name, "must not contain spaces")
    return link


def boolean(name: str, value: Any) -> bool:
    """Return a JSON boolean."""
    if not isinstance(value, bool):
        raise invalid(name, "must be a boolean")
    return value


def integer(name: str, value: Any, lo: int = 0, hi: int = MAX_INT) -> int:
    """Return an integer within [lo, hi] (a whole float is accepted)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name, "must be an integer")
    if not lo <= value <= hi:
        raise invalid(name, f"must be between {lo} and {hi}")
    return value


def number(name: str, value: Any, lo: float = 0.0, hi: float = 1e12) -> float:
    """Return a finite number within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(name, "must be a number")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise invalid(name, f"must be between {lo:g} and {hi:g}")
    return float(value)


def choice(name: str, value: Any, options: Collection[str]) -> str:
    """Return one of ``options``."""
    picked = text(name, value)
    if picked not in options:
        raise invalid(name, f"must be one of {', '.join(sorted(repr(o) for o in options))}")
    return picked


def text_list(
    name: str, value: Any, *, max_items: int = 1000, max_len: int = 1000, unique: bool = False
) -> list[str]:
    """Return a list of non-empty strings."""
    if not isinstance(value, list):
        raise invalid(name, "must be a list of strings")
    if len(value) > max_items:
        raise invalid(name, f"must have at most {max_items} entries")
    items = [text(f"{name}[{i}]", v, max_len=max_len, required=True) for i, v in enumerate(value)]
    if unique and len(set(items)) != len(items):
        raise invalid(name, "must not repeat an entry")
    return items


def text_map(name: str, value: Any, *, max_items: int = 1000) -> dict[str, str]:
    """Return an object of string to string."""
    if not isinstance(value, dict):
        raise invalid(name, "must be an object of strings")
    if len(value) > max_items:
        raise invalid(name, f"must have at most {max_items} entries")
    return {
        text(f"{name} key", k, max_len=500, required=True): text(f"{name}.{k}", v, max_len=500)
        for k, v in value.items()
    }


def timestamp(name: str, value: Any) -> datetime | None:
    """Return an aware UTC datetime from RFC 3339 text, or None."""
    if value is None or value == "":
        return None
    raw = text(name, value, max_len=64)
    try:
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            raise ValueError("no UTC offset")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid(name, "must be an RFC 3339 date-time with an offset") from None


def check_fields(data: Mapping[str, Any], fields: Mapping[str, Field]) -> dict[str, Any]:
    """Validate every present field; refuse fields not in ``fields``.

    Returns:
        Field name -> validated value, for the fields present (a JSON null
        is passed to its validator, which may accept it).
    """
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise AdminError(
            422, f"unknown field(s): {', '.join(unknown)}", "UNKNOWN_FIELD", fields=unknown
        )
    return {name: fields[name](name, value) for name, value in data.items()}
