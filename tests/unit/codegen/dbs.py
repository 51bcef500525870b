"""Run generated SQL files on real databases and read back what they made.

Statements are split by the migration runner's own splitter
(``ccbridge.db.base.split_statements``), so a file the runner would refuse
fails here too. A migration runs in one transaction; on SQLite with foreign keys
off around it, and a statement that returns rows (``PRAGMA
foreign_key_check``) fails it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from ccbridge.db.base import split_statements

__all__ = (
    "Db",
    "PostgresDb",
    "SqliteDb",
)


class Db:
    """A database of one dialect the tests run SQL files on."""

    dialect: str
    placeholder: str

    def run_file(self, text: str) -> None:
        """Run a schema or bootstrap file, statement by statement."""
        raise NotImplementedError

    def migrate(self, text: str) -> None:
        """Run one migration file as the runner does: one transaction."""
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Return the rows of a query (placeholders in this dialect's style)."""
        raise NotImplementedError

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Run one statement outside any migration."""
        raise NotImplementedError

    def catalog(self) -> dict[str, Any]:
        """Return every table's columns, key, indexes (with predicate) and foreign keys."""
        raise NotImplementedError

    def tables(self) -> list[str]:
        """Return the user tables, by name."""
        return sorted(self.catalog())

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Return every row of every table, ordered by primary key."""
        out: dict[str, list[dict[str, Any]]] = {}
        for table, info in self.catalog().items():
            names = [c[0] for c in info["columns"]]
            order = ", ".join(info["primary_key"]) or "1"
            rows = self.query(f"SELECT {', '.join(names)} FROM {table} ORDER BY {order}")
            out[table] = [dict(zip(names, row, strict=True)) for row in rows]
        return out


class SqliteDb(Db):
    """An SQLite file, foreign keys on as the application runs it."""

    dialect = "sqlite"
    placeholder = "?"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.isolation_level = None  # explicit BEGIN/COMMIT only
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=OFF")  # a test file need not survive power loss

    def run_file(self, text: str) -> None:
        """Run a schema or bootstrap file, statement by statement."""
        for statement in split_statements(text):
            self.conn.execute(statement)

    def migrate(self, text: str) -> None:
        """Run a migration with foreign keys off, failing on returned rows."""
        conn = self.conn
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("BEGIN")
        try:
            for statement in split_statements(text):
                returned = conn.execute(statement).fetchall()
                assert not returned, f"{statement!r} returned {returned}"
            violations = conn.execute("PRAGMA foreign_key_check").fetchall()
            assert not violations, f"foreign key violations: {violations}"
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute("PRAGMA foreign_keys=ON")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Return the rows of a query."""
        return self.conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Run one statement (autocommit)."""
        self.conn.execute(sql, params)

    def catalog(self) -> dict[str, Any]:
        """Return every table's columns, key, indexes and foreign keys."""
        names = self.query(
            "SELECT name FROM sqlite_master"
            " WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        out: dict[str, Any] = {}
        for (table,) in names:
            info = self.query(f"PRAGMA table_info({table})")
            indexes = [
                (
                    name,
                    bool(unique),
                    tuple(c[2] for c in self.query(f"PRAGMA index_info({name})")),
                    self._predicate(name),
                )
                for _, name, unique, origin, _ in self.query(f"PRAGMA index_list({table})")
                if origin == "c"
            ]
            fks = [
                (src, ref_table, ref_col, on_delete)
                for _, _, ref_table, src, ref_col, _, on_delete, _ in self.query(
                    f"PRAGMA foreign_key_list({table})"
                )
            ]
            out[table] = {
                "columns": [
                    (name, ctype, bool(notnull), default)
                    for _, name, ctype, notnull, default, _ in info
                ],
                "primary_key": [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]],
                "indexes": sorted(indexes),
                "foreign_keys": sorted(fks),
            }
        return out

    def _predicate(self, index: str) -> str | None:
        # SQLite keeps the predicate only in the CREATE INDEX text.
        (sql,) = self.query("SELECT sql FROM sqlite_master WHERE name = ?", (index,))[0]
        return sql.partition(" WHERE ")[2] or None


_PG_COLUMNS = """
SELECT table_name, column_name,
       CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END,
       is_nullable = 'NO', column_default, is_identity = 'YES'
FROM information_schema.columns
WHERE table_schema = current_schema()
ORDER BY table_name, ordinal_position
"""
_PG_CONSTRAINTS = """
SELECT t.relname, c.contype,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(n, i)
             JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       f.relname,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k(n, i)
             JOIN pg_attribute AS a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
       c.confdeltype
FROM pg_constraint AS c
JOIN pg_class AS t ON t.oid = c.conrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
LEFT JOIN pg_class AS f ON f.oid = c.confrelid
WHERE n.nspname = current_schema() AND c.contype IN ('p', 'f')
"""
_PG_INDEXES = """
SELECT t.relname, i.relname, ix.indisunique,
       ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY AS k(n, o)
             JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o),
       pg_get_expr(ix.indpred, ix.indrelid)
FROM pg_index AS ix
JOIN pg_class AS t ON t.oid = ix.indrelid
JOIN pg_class AS i ON i.oid = ix.indexrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
WHERE n.nspname = current_schema() AND NOT ix.indisprimary
"""
# pg_constraint.confdeltype, spelled as SQLite's foreign_key_list reports it.
_ON_DELETE = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


class PostgresDb(Db):
    """A PostgreSQL schema of its own, on an autocommit connection."""

    dialect = "postgres"
    placeholder = "%s"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def run_file(self, text: str) -> None:
        """Run a schema or bootstrap file in one transaction."""
        with self.conn.transaction():
            for statement in split_statements(text):
                self.conn.execute(statement)  # no params: a literal % stays as it is

    def migrate(self, text: str) -> None:
        """Run a migration in one transaction."""
        self.run_file(text)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Return the rows of a query."""
        return self.conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Run one statement (autocommit)."""
        self.conn.execute(sql, params)

    def catalog(self) -> dict[str, Any]:
        """Return every table's columns, key, indexes and foreign keys."""
        out: dict[str, Any] = {}
        for table, name, ctype, not_null, default, identity in self.query(_PG_COLUMNS):
            entry = out.setdefault(
                table, {"columns": [], "primary_key": [], "indexes": [], "foreign_keys": []}
            )
            entry["columns"].append((name, ctype, not_null, default, identity))
        for table, kind, cols, ref_table, ref_cols, on_delete in self.query(_PG_CONSTRAINTS):
            if kind == "p":
                out[table]["primary_key"] = list(cols)
            else:
                out[table]["foreign_keys"] += [
                    (cols[0], ref_table, ref_cols[0], _ON_DELETE[on_delete])
                ]
        for table, name, unique, cols, predicate in self.query(_PG_INDEXES):
            out[table]["indexes"].append((name, unique, tuple(cols), predicate))
        for entry in out.values():
            entry["indexes"].sort()
            entry["foreign_keys"].sort()
        return dict(sorted(out.items()))
