"""The SQLite backend refuses a library older than the SQL it runs needs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ccbridge.db.sqlite import MIN_SQLITE_VERSION, SqliteDatabase
from ccbridge.errors import StorageError


async def test_old_sqlite_is_refused_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    db = SqliteDatabase(tmp_path / "x.db")
    with pytest.raises(StorageError) as caught:
        await db.open()
    assert str(caught.value) == (
        "connect: SQLite 3.35.0 or newer is needed (RETURNING, ALTER TABLE DROP COLUMN); "
        "this Python's sqlite3 module uses SQLite 3.34.1: "
        "use a Python built against a newer SQLite, or PostgreSQL"
    )
    assert not (tmp_path / "x.db").exists()  # refused before anything was created


async def test_this_sqlite_is_new_enough_and_drops_a_column(tmp_path: Path) -> None:
    assert sqlite3.sqlite_version_info >= MIN_SQLITE_VERSION
    async with SqliteDatabase(tmp_path / "x.db") as db:
        await db.ping()
    with sqlite3.connect(tmp_path / "x.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, gone TEXT)")
        conn.execute("ALTER TABLE t DROP COLUMN gone")
        assert [r[1] for r in conn.execute("PRAGMA table_info(t)")] == ["id"]
