"""Read a legacy JSON file field by field, knowing where each value is.

Every accessor checks the type Go's ``encoding/json`` would have required
and fails with a :class:`LegacyImportError` naming the file and the JSON
path. Like Go, a missing field and ``null`` both mean the zero value.
Messages never quote values (they may be keys).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from ccbridge.legacy.errors import LegacyImportError
from ccbridge.legacy.timestamps import parse_timestamp

__all__ = ("Node", "load_json")


def load_json(file: str, data: bytes) -> Node:
    """Parse a whole JSON document; return its root node.

    Raises:
        LegacyImportError: The bytes are not UTF-8 JSON (truncated or
            malformed); the message gives line and column.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as ex:
        raise LegacyImportError(file, "", f"not UTF-8 text (byte {ex.start})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as ex:
        reason = f"invalid JSON at line {ex.lineno} column {ex.colno}: {ex.msg}"
        raise LegacyImportError(file, "", reason) from None
    return Node(file, "$", value)


@dataclass(frozen=True, slots=True)
class Node:
    """A JSON value with the file and path it came from."""

    file: str
    path: str
    value: Any

    def fail(self, reason: str) -> NoReturn:
        """Raise the import error for this value."""
        raise LegacyImportError(self.file, self.path, reason)

    @property
    def absent(self) -> bool:
        """True for a missing field or null."""
        return self.value is None

    def field(self, key: str) -> Node:
        """Return the member ``key`` of this object (absent if missing)."""
        members = self.object()
        return Node(self.file, f"{self.path}.{key}", members.get(key))

    def has(self, key: str) -> bool:
        """Return whether this object has a non-null member ``key``."""
        return self.object().get(key) is not None

    def object(self) -> dict[str, Any]:
        """Return this object's members ({} when absent)."""
        if self.value is None:
            return {}
        if not isinstance(self.value, dict):
            self.fail("expected an object")
        return self.value

    def members(self) -> Iterator[tuple[str, Node]]:
        """Yield (key, node) for each member of this object."""
        for key, value in self.object().items():
            yield key, Node(self.file, f"{self.path}.{key}", value)

    def items(self) -> list[Node]:
        """Return the elements of this list ([] when absent)."""
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            self.fail("expected a list")
        return [Node(self.file, f"{self.path}[{i}]", v) for i, v in enumerate(self.value)]

    def string(self, default: str = "") -> str:
        """Return this string (``default`` when absent)."""
        if self.value is None:
            return default
        if not isinstance(self.value, str):
            self.fail("expected a string")
        return self.value

    def integer(self, default: int = 0) -> int:
        """Return this whole number (``default`` when absent)."""
        value = self.value
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail("expected an integer")
        if isinstance(value, float) and not value.is_integer():
            self.fail("expected an integer")
        return int(value)

    def number(self, default: float = 0.0) -> float:
        """Return this number as a float (``default`` when absent)."""
        value = self.value
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail("expected a number")
        return float(value)

    def optional_number(self) -> float | None:
        """Return this number, or None when absent."""
        return None if self.value is None else self.number()

    def boolean(self, default: bool = False) -> bool:
        """Return this boolean (``default`` when absent)."""
        if self.value is None:
            return default
        if not isinstance(self.value, bool):
            self.fail("expected true or false")
        return self.value

    def strings(self) -> list[str]:
        """Return this list of strings ([] when absent)."""
        value = self.value
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail("expected a list of strings")
        return list(value)

    def string_map(self) -> dict[str, str]:
        """Return this object of string values ({} when absent)."""
        value = self.value
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.fail("expected an object of strings")
        return dict(value)

    def timestamp(self) -> datetime | None:
        """Return this RFC 3339 time in UTC (None when absent or zero)."""
        if self.value is None:
            return None
        if not isinstance(self.value, str):
            self.fail("expected an RFC 3339 time string")
        try:
            return parse_timestamp(self.value)
        except ValueError:
            self.fail("expected an RFC 3339 time string")
