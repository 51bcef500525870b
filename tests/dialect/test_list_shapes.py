"""Every statement `list`, `count` and `delete_where` can build, run on both engines.

The DAO runtime joins codegen-fixed fragments: a prefix, at most one filter
(``= ?`` or ``IS NULL`` on one column), an order (one column, then the rest of
the key, ascending or descending) and a page clause (none, LIMIT, OFFSET, both).
That space is finite, so it is enumerated whole, for every table: each
statement runs on the migrated database of each engine. The SQLite batched
upserts (a codegen-fixed VALUES row repeated) are compiled too.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import product
from typing import Any

import psycopg
import pytest

import generated.rows
from ccbridge.daoruntime import Stmt, Table
from ccbridge.db.base import Database
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.db.sqlite import SqliteDatabase
from generated.dao import Daos

# One value per Python type of a row field, for the filter's parameter.
SAMPLES: dict[str, Any] = {
    "int": 7,
    "float": 1.5,
    "str": "x",
    "bool": True,
    "datetime": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "bytes": b"x",
    "Any": {"k": 1},
}
PAGES = ((None, 0), (5, 0), (None, 2), (5, 2))


class _Dialect:
    """An executor stand-in: enough to build a DAO and ask it for statements."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect


def tables(dialect: str) -> list[Table[Any]]:
    """Return a DAO of every table, bound to nothing."""
    daos = Daos(_Dialect(dialect))  # type: ignore[arg-type]
    found = [getattr(daos, name) for name in Daos.__slots__ if name != "executor"]
    return [dao for dao in found if isinstance(dao, Table)]


def filters(dao: Table[Any]) -> list[dict[str, Any] | None]:
    """Return no filter, then each column equal to a value and each column NULL."""
    kinds = {f.name: str(f.type).split("|")[0].strip() for f in dataclasses.fields(row_type(dao))}
    out: list[dict[str, Any] | None] = [None]
    out += [{c: SAMPLES[kinds[c]]} for c in dao.COLUMNS]
    out += [{c: None} for c in dao.COLUMNS]
    return out


def row_type(dao: Table[Any]) -> Any:
    """Return the row dataclass a DAO decodes to."""
    pascal = "".join(part.capitalize() for part in dao.TABLE.split("_"))
    return getattr(generated.rows, pascal + "Row")


def shapes(dao: Table[Any]) -> Iterator[tuple[str, Stmt, tuple[Any, ...]]]:
    """Yield (what, statement, parameters) for every shape of one table."""
    where = filters(dao)
    for w, column, desc, (limit, offset) in product(where, dao.COLUMNS, (False, True), PAGES):
        stmt, params = dao.list_statement(w, column, desc, limit, offset)
        yield f"list({w}, {column!r}, desc={desc}, {limit}, {offset})", stmt, params
    for w in where:
        stmt, params = dao.count_statement(w)
        yield f"count({w})", stmt, params
        if w:
            stmt, params = dao.delete_where_statement(w)
            yield f"delete_where({w})", stmt, params


def test_the_shape_space_is_what_the_docs_say() -> None:
    # Per table of n columns: (2n + 1) filters x 2n orders x 4 pages lists, 2n + 1 counts
    # and 2n deletes; every one is a distinct statement text or parameter list.
    for dao in tables("sqlite"):
        n = len(dao.COLUMNS)
        found = list(shapes(dao))
        assert len(found) == (2 * n + 1) * 2 * n * 4 + (2 * n + 1) + 2 * n
        assert all(s.sql.startswith(f"-- name: {s.name} :") for _, s, _ in found)
        assert len({(s.sql, len(p)) for _, s, p in found}) == len(found)


def test_one_filter_column_and_orders_that_end_with_the_key() -> None:
    (settings,) = [d for d in tables("sqlite") if d.TABLE == "settings"]
    with pytest.raises(ValueError, match="filter on one column"):
        settings.list_statement({"key": "a", "value": "b"})
    with pytest.raises(ValueError, match="has no column 'nope'"):
        settings.count_statement({"nope": 1})
    with pytest.raises(ValueError, match="has no column 'nope'"):
        settings.list_statement(order_by="nope")
    with pytest.raises(ValueError, match="then the key"):
        settings.list_statement(order_by=("category", "value"))
    stmt, params = settings.list_statement(
        {"category": "a"}, ("category", "key"), True, limit=3, offset=1
    )
    assert stmt.sql.endswith(
        "FROM settings WHERE category = ? ORDER BY category DESC, key DESC LIMIT ? OFFSET ?"
    )
    assert params == ("a", 3, 1)
    # SQLite needs a LIMIT before an OFFSET.
    assert settings.list_statement(offset=4)[0].sql.endswith(" ORDER BY key LIMIT -1 OFFSET ?")


async def test_every_shape_runs(db: Database) -> None:
    todo = [shape for dao in tables(db.dialect) for shape in shapes(dao)]
    if isinstance(db, SqliteDatabase):
        batches = [
            (f"{dao.TABLE} upsert batch on {key}", batch.stmt(f"{dao.TABLE}.upsert_many"))
            for dao in tables("sqlite")
            for key, batch in dao._v.upsert_batches.items()
        ]
        assert batches
        _run_sqlite(db, todo, batches)
    else:
        assert isinstance(db, PostgresDatabase)
        _run_postgres(db, todo)


def _run_sqlite(
    db: SqliteDatabase,
    todo: list[tuple[str, Stmt, tuple[Any, ...]]],
    batches: list[tuple[str, Stmt]],
) -> None:
    conn = sqlite3.connect(db.path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for what, stmt, params in todo:
            try:
                conn.execute(stmt.sql, params).fetchall()
            except sqlite3.Error as ex:
                pytest.fail(f"{what}: {ex}\n{stmt.sql}")
        for what, stmt in batches:
            try:
                conn.execute("EXPLAIN " + stmt.sql, (None,) * stmt.sql.count("?")).fetchall()
            except sqlite3.Error as ex:
                pytest.fail(f"{what}: {ex}")
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def _run_postgres(db: PostgresDatabase, todo: list[tuple[str, Stmt, tuple[Any, ...]]]) -> None:
    with psycopg.connect(db.conninfo, options="-c TimeZone=UTC") as conn:
        for start in range(0, len(todo), 2000):
            chunk = todo[start : start + 2000]
            try:
                with conn.pipeline(), conn.cursor() as cur:
                    for _, stmt, params in chunk:
                        cur.execute(stmt.sql, params)
            except psycopg.Error:
                conn.rollback()
                for what, stmt, params in chunk:  # name the first statement that fails
                    try:
                        conn.execute(stmt.sql, params)
                    except psycopg.Error as ex:
                        pytest.fail(f"{what}: {ex}\n{stmt.sql}")
                raise
        conn.rollback()
