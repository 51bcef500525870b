"""Domain errors of ccbridge.

None of these import falcon: the app maps them to HTTP responses in one
place (``create_app``), so the storage and proxy layers stay framework-free.
"""

from __future__ import annotations

from typing import Any

__all__ = (
    "DatabaseClosedError",
    "MigrationError",
    "SettingsError",
    "StaleRevision",
    "StorageError",
)


class StorageError(RuntimeError):
    """A database operation failed.

    The message names the statement (``request_logs.insert``), never the
    values bound to it: prompts and API keys pass through the storage layer.

    Attributes:
        name: Name of the statement or operation that failed.
        reason: Short description that is safe to log.
        kind: Portable category (``"unique_violation"``,
            ``"foreign_key_violation"``, ``"not_null_violation"``,
            ``"check_violation"``, ``"connection"``, ``"busy"``) or None.
        code: Driver code: a PostgreSQL SQLSTATE or an SQLite error name.
    """

    def __init__(
        self,
        name: str,
        reason: str,
        *,
        kind: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason
        self.kind = kind
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps its fields across processes (dbmigrate's parallel workers).
        return (type(self), (self.name, self.reason), {"kind": self.kind, "code": self.code})


class MigrationError(StorageError):
    """The schema cannot be brought to the version this code expects."""


class DatabaseClosedError(RuntimeError):
    """A database was used after ``close()``."""


class SettingsError(ValueError):
    """An environment setting is missing or malformed."""


class StaleRevision(Exception):
    """A config write was based on a revision that is no longer current.

    Attributes:
        expected: Revision the write was based on.
        current: Revision currently stored.
    """

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"config revision is {current}, write was based on {expected}")
        self.expected = expected
        self.current = current
