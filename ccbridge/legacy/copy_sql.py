"""The statements of a bulk copy, composed from the generated schema.

NOTE(legacy): hand-joined SQL, like ``legacy_sql``: the generated DAOs
page with LIMIT/OFFSET, bind rows as dataclasses and COPY in text, which
costs more than the copy itself. Every identifier comes from the
generated code (``<Table>Dao.COLUMNS``, ``schema.sql``), never from
input; the index DDL is taken verbatim from ``generated/sql``.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

from ccbridge.db.base import split_statements
from ccbridge.db.migrate import generated_root
from ccbridge.legacy.table_layout import Layout
from generated.catalog import EXPECTED
from generated.dao import Stmt

__all__ = (
    "SYNC_COMMIT_OFF",
    "copy_in",
    "drop_index",
    "insert_ignoring",
    "secondary_indexes",
    "select_all",
    "stage",
    "stage_name",
)

_CREATE_INDEX: Final = re.compile(r"CREATE INDEX (\w+) ON (\w+)\s*\(")
# A crash may lose the last commits: the copy is idempotent and resumes.
SYNC_COMMIT_OFF: Final = "SET LOCAL synchronous_commit = off"


def select_all(layout: Layout) -> str:
    """Every row, in no particular order (the checksum ignores order)."""
    return f"SELECT {', '.join(layout.columns)} FROM {layout.table}"


def copy_in(layout: Layout, *, into: str | None = None, binary: bool = True) -> str:
    """COPY into the table (or ``into``, its stage), binary or text."""
    columns = ", ".join(layout.columns)
    return f"COPY {into or layout.table} ({columns}) FROM STDIN" + (
        " (FORMAT BINARY)" if binary else ""
    )


def stage_name(layout: Layout) -> str:
    """The temporary table that stages rows whose keys may exist."""
    return f"_stage_{layout.table}"


def stage(layout: Layout) -> tuple[str, str, str]:
    """Create the stage; insert from it skipping existing keys; drop it."""
    name, columns = stage_name(layout), ", ".join(layout.columns)
    create = (
        f"CREATE TEMPORARY TABLE {name} (LIKE {layout.table} INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    merge = (
        f"INSERT INTO {layout.table} ({columns}) SELECT {columns} FROM {name} "
        "ON CONFLICT DO NOTHING"
    )
    return create, merge, f"DROP TABLE {name}"


def insert_ignoring(layout: Layout) -> Stmt:
    """SQLite: insert rows, skipping those whose key exists."""
    marks = ", ".join("?" for _ in layout.columns)
    sql = (
        f"INSERT INTO {layout.table} ({', '.join(layout.columns)}) VALUES ({marks}) "
        "ON CONFLICT DO NOTHING"
    )
    return Stmt(f"{layout.table}.insert_ignoring", sql, True)


def drop_index(name: str) -> Stmt:
    """Drop one index (both engines spell it alike)."""
    return Stmt("dbmigrate.drop_index", f"DROP INDEX IF EXISTS {name}", True)


@cache
def secondary_indexes(dialect: str, table: str) -> dict[str, Stmt]:
    """Return the CREATE statements of a table's non-unique indexes, by name.

    Unique indexes stay: inserts that skip existing keys rely on them.
    """
    expected = EXPECTED[dialect]["tables"][table]["indexes"]
    wanted = {name for name, (unique, _) in expected.items() if not unique}
    text = (generated_root() / "sql" / dialect / "schema.sql").read_text(encoding="utf-8")
    found: dict[str, Stmt] = {}
    for statement in split_statements(text):
        match = _CREATE_INDEX.search(statement)
        if match and match[2] == table and match[1] in wanted:
            found[match[1]] = Stmt(f"{table}.create_index", statement, True)
    if found.keys() != wanted:
        raise RuntimeError(f"schema.sql lacks indexes of {table}: {sorted(wanted - found.keys())}")
    return found
