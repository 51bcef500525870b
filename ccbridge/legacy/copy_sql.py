"""What a bulk copy runs besides the generated DAO statements.

The copy reuses the generated statements of each table (``Layout.statements``:
its SELECT, the SQLite insert that skips existing keys, the PostgreSQL COPY
and the stage that merges into a table whose keys may exist), reading their
COPY in binary, and the generated DDL of its indexes (``INDEX_DDL``).
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from generated.catalog import EXPECTED, INDEX_DDL
from generated.dao import Stmt

__all__ = ("IndexDdl", "binary", "secondary_indexes")


class IndexDdl(NamedTuple):
    """The statements that create and drop one index."""

    create: Stmt
    drop: Stmt


def binary(copy: Stmt) -> str:
    """A generated ``COPY … FROM STDIN``, reading PostgreSQL's binary format."""
    return copy.sql + " (FORMAT BINARY)"


@cache
def secondary_indexes(dialect: str, table: str) -> dict[str, IndexDdl]:
    """Return the DDL of a table's non-unique indexes, by name.

    Unique indexes stay: inserts that skip existing keys rely on them.
    """
    unique = {name: spec[0] for name, spec in EXPECTED[dialect]["tables"][table]["indexes"].items()}
    return {
        name: IndexDdl(
            Stmt(f"{table}.create_index", create, True), Stmt(f"{table}.drop_index", drop, True)
        )
        for name, (create, drop) in INDEX_DDL[dialect][table].items()
        if not unique[name]
    }
