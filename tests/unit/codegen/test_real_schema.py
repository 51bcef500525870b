"""The committed generated/ SQL of schema.yaml, run on real databases.

Every file runs: bootstrap.sql (twice, as every start does), schema.sql, and
the migrations in order. The migrated database must have the same catalog as
the one made from schema.sql, and both must be what generated/catalog.py
EXPECTED says, read through the generated ``catalog.*`` queries and compared
as `ccbridge check` compares them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ccbridge.db.check import ForeignKey, compare, expected_tables, live_tables
from generated.catalog import EXPECTED
from generated.dao import CatalogQueries, Stmt
from tests.unit.codegen.cases import GENERATED
from tests.unit.codegen.dbs import Db


class CatalogExecutor:
    """Just enough of the generated Executor protocol for CatalogQueries."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.dialect = db.dialect

    async def fetch_all(
        self, stmt: Stmt, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run a read-only statement; return its rows."""
        assert not stmt.writes, stmt.name
        return self.db.query(stmt.sql, params)  # type: ignore[arg-type]

    async def fetch_one(
        self, stmt: Stmt, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> tuple[Any, ...] | None:
        """Run a read-only statement; return its first row."""
        rows = await self.fetch_all(stmt, params)
        return rows[0] if rows else None

    async def execute(self, stmt: Stmt, params: Sequence[Any] | Mapping[str, Any] = ()) -> int:
        """Not needed by CatalogQueries."""
        raise NotImplementedError

    async def execute_many(self, stmt: Stmt, rows: Sequence[Sequence[Any]]) -> None:
        """Not needed by CatalogQueries."""
        raise NotImplementedError

    async def copy_in(self, stmt: Stmt, rows: Iterable[Sequence[Any]]) -> None:
        """Not needed by CatalogQueries."""
        raise NotImplementedError


async def live_catalog(db: Db) -> dict[str, Any]:
    """Return the database's catalog in the shape of catalog.py EXPECTED."""
    queries = CatalogQueries(CatalogExecutor(db))
    tables: dict[str, Any] = {}
    for c in await queries.columns():
        entry = tables.setdefault(c.table_name, {"columns": {}, "indexes": {}})
        entry["columns"][c.column_name] = [c.data_type, c.not_null, c.pk]
    for ix in await queries.indexes():
        tables[ix.table_name]["indexes"][ix.index_name] = [
            ix.is_unique,
            ix.columns.split(","),
            ix.is_partial,
        ]
    return {"tables": tables}


def unordered(catalog: dict[str, Any]) -> dict[str, Any]:
    """Return a catalog with columns by name, not position.

    NOTE: ADD COLUMN appends, so a column declared mid-table sits last in a
    migrated database and in place in schema.sql; DAOs name their columns.
    """
    return {t: {**info, "columns": sorted(info["columns"])} for t, info in catalog.items()}


def run_files(db: Db) -> Db:
    """Bootstrap twice, then apply every migration in order."""
    boot = (GENERATED / f"sql/{db.dialect}/bootstrap.sql").read_text(encoding="utf-8")
    db.run_file(boot)
    db.run_file(boot)  # IF NOT EXISTS: runs on every start
    migrations = sorted((GENERATED / "migrations" / db.dialect).glob("*.sql"))
    assert migrations, "no migrations"
    for path in migrations:
        db.migrate(path.read_text(encoding="utf-8"))
    return db


async def test_migrations_equal_schema_sql_equal_catalog_py(
    dialect: str, make_db: Callable[[str], Db]
) -> None:
    migrated = run_files(make_db(dialect))
    fresh = make_db(dialect)
    fresh.run_file((GENERATED / f"sql/{dialect}/bootstrap.sql").read_text(encoding="utf-8"))
    fresh.run_file((GENERATED / f"sql/{dialect}/schema.sql").read_text(encoding="utf-8"))

    assert unordered(migrated.catalog()) == unordered(fresh.catalog())
    for db in (fresh, migrated):
        live = await live_tables(CatalogQueries(CatalogExecutor(db)))
        assert compare(expected_tables(dialect), live) == []
        # Not only "no finding": every default and foreign key was read and matched.
        assert {t: live[t].foreign_keys for t in live if live[t].foreign_keys} == {
            "request_debug_logs": {"request_id": ForeignKey("request_logs", "id", "CASCADE")}
        }
        assert sum(c.default is not None for t in live.values() for c in t.columns.values()) == sum(
            spec[3] is not None
            for t in EXPECTED[dialect]["tables"].values()
            for spec in t["columns"].values()
        )
    # Seed rows arrive either way.
    for db in (migrated, fresh):
        assert db.query("SELECT key, value, category FROM settings") == [
            ("config_revision", "1", "config_meta")
        ]


async def test_catalog_queries_see_drift(dialect: str, make_db: Callable[[str], Db]) -> None:
    # The same comparison `ccbridge check` makes notices a missing index and column.
    db = run_files(make_db(dialect))
    db.execute("DROP INDEX idx_settings_category")
    db.execute("ALTER TABLE channels DROP COLUMN website")
    live = await live_catalog(db)
    expected = EXPECTED[dialect]["tables"]
    assert set(expected["settings"]["indexes"]) - set(live["tables"]["settings"]["indexes"]) == {
        "idx_settings_category"
    }
    assert set(expected["channels"]["columns"]) - set(live["tables"]["channels"]["columns"]) == {
        "website"
    }
