"""What a bulk copy runs besides the generated DAO statements.

The copy reuses the generated statements of each table (``Layout.statements``:
its SELECT, the SQLite insert that skips existing keys, the PostgreSQL COPY
and the stage that merges into a table whose keys may exist), reading their
COPY in binary. Only the index DDL is composed here, and it is taken
verbatim from ``generated/sql``.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

from ccbridge.db.base import split_statements
from ccbridge.db.migrate import generated_root
from generated.catalog import EXPECTED
from generated.dao import Stmt

__all__ = ("SYNC_COMMIT_OFF", "binary", "drop_index", "secondary_indexes")

_CREATE_INDEX: Final = re.compile(r"CREATE INDEX (\w+) ON (\w+)\s*\(")
# A crash may lose the last commits: the copy is idempotent and resumes.
SYNC_COMMIT_OFF: Final = "SET LOCAL synchronous_commit = off"


def binary(copy: Stmt) -> str:
    """A generated ``COPY … FROM STDIN``, reading PostgreSQL's binary format."""
    return copy.sql + " (FORMAT BINARY)"


def drop_index(name: str) -> Stmt:
    """Drop one index (both engines spell it alike)."""
    return Stmt("dbmigrate.drop_index", f"DROP INDEX IF EXISTS {name}", True)


@cache
def secondary_indexes(dialect: str, table: str) -> dict[str, Stmt]:
    """Return the CREATE statements of a table's non-unique indexes, by name.

    Unique indexes stay: inserts that skip existing keys rely on them.
    """
    expected = EXPECTED[dialect]["tables"][table]["indexes"]
    wanted = {name for name, (unique, *_) in expected.items() if not unique}
    text = (generated_root() / "sql" / dialect / "schema.sql").read_text(encoding="utf-8")
    found: dict[str, Stmt] = {}
    for statement in split_statements(text):
        match = _CREATE_INDEX.search(statement)
        if match and match[2] == table and match[1] in wanted:
            found[match[1]] = Stmt(f"{table}.create_index", statement, True)
    if found.keys() != wanted:
        raise RuntimeError(f"schema.sql lacks indexes of {table}: {sorted(wanted - found.keys())}")
    return found
