"""Read a legacy cc-bridge SQLite file, read-only, table by table.

NOTE(legacy): the one module with hand-written SQL outside
schema.yaml/generated: it reads a *foreign* schema (cc-bridge's Go
layouts, which changed over the years), so its statements cannot be
generated. Identifiers come only from names SQLite itself returns
(``sqlite_master``, ``PRAGMA table_info``) and are always quoted. The file
is opened with ``mode=ro``: nothing can write to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from ccbridge.legacy.errors import LegacyImportError

__all__ = ("LegacyDatabase",)

_TABLES: Final = "SELECT name FROM sqlite_master WHERE type = 'table'"


class LegacyDatabase:
    """A legacy SQLite file opened read-only.

    Every sqlite3 error becomes a LegacyImportError naming the file and
    the table being read. Calls may come from any one thread at a time
    (``asyncio.to_thread``), never from two at once.

    Args:
        path: The legacy database file.
        label: Name used in error messages (default: the file name).
    """

    def __init__(self, path: Path, label: str | None = None) -> None:
        self.path = path
        self.label = label or path.name
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        """Open the file read-only; fail if it is not a database."""
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._conn.execute(_TABLES).fetchall()
        except sqlite3.Error as ex:
            self.close()
            raise LegacyImportError(self.label, "", f"cannot read the database: {ex}") from None

    def close(self) -> None:
        """Close the file; a second call does nothing."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def tables(self) -> set[str]:
        """Return the names of the tables in the file."""
        return {name for (name,) in self._run("", _TABLES).fetchall()}

    def columns(self, table: str) -> list[str]:
        """Return the column names of ``table``, in table order."""
        rows = self._run(table, f"PRAGMA table_info({_quote(table)})").fetchall()
        return [row[1] for row in rows]

    def count(self, table: str) -> int:
        """Return the number of rows in ``table``."""
        return int(self._run(table, f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()[0])

    def batches(
        self, table: str, columns: Sequence[str], size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Yield the rows of ``table`` (those columns) in batches."""
        names = ", ".join(map(_quote, columns))
        cursor = self._run(table, f"SELECT {names} FROM {_quote(table)}")
        while True:
            try:
                batch = cursor.fetchmany(size)
            except sqlite3.Error as ex:
                raise LegacyImportError(self.label, table, f"cannot read: {ex}") from None
            if not batch:
                return
            yield batch

    def _run(self, table: str, sql: str) -> sqlite3.Cursor:
        if self._conn is None:
            raise LegacyImportError(self.label, table, "the database is not open")
        try:
            return self._conn.execute(sql)
        except sqlite3.Error as ex:
            raise LegacyImportError(self.label, table, f"cannot read: {ex}") from None

    def __enter__(self) -> LegacyDatabase:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
