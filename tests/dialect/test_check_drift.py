"""`ccbridge check` on both engines: defaults, foreign keys, constraints, column order.

Each test takes a fully migrated database (which checks clean), changes it
behind the migrations' back the way each engine allows (PostgreSQL: ALTER
TABLE; SQLite: a rebuild from the table's own CREATE TABLE text, edited),
and reads the findings.
"""

from __future__ import annotations

from collections.abc import Callable

from ccbridge.db.base import Database
from ccbridge.db.check import check_schema
from generated.dao import Stmt


async def run(db: Database, *statements: str) -> None:
    """Run statements in one migration transaction (SQLite: foreign keys off)."""
    async with db.migration_transaction() as executor:
        for i, sql in enumerate(statements):
            await executor.execute(Stmt(f"test.drift#{i}", sql, True))


async def sqlite_rebuild(db: Database, table: str, edit: Callable[[str], str]) -> None:
    """Rebuild an SQLite table from its CREATE TABLE text after edit(text)."""
    (sql,) = await db.executor.fetch_one(
        Stmt("test.sql", "SELECT sql FROM sqlite_master WHERE name = ?", False), (table,)
    ) or (None,)
    indexes = await db.executor.fetch_all(
        Stmt(
            "test.ix",
            "SELECT sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            False,
        ),
        (table,),
    )
    names = [
        r[1]
        for r in await db.executor.fetch_all(
            Stmt("test.cols", f"PRAGMA table_info({table})", False)
        )
    ]
    new = edit(sql).replace(f"CREATE TABLE {table} (", "CREATE TABLE _drift (", 1)
    cols = ", ".join(names)
    await run(
        db,
        new,
        f"INSERT INTO _drift ({cols}) SELECT {cols} FROM {table}",
        f"DROP TABLE {table}",
        f"ALTER TABLE _drift RENAME TO {table}",
        *[ix for (ix,) in indexes],
    )


async def test_migrated_database_checks_clean(db: Database) -> None:
    assert await check_schema(db) == []


async def test_check_reports_defaults_and_constraints(db: Database) -> None:
    if db.dialect == "sqlite":

        def edit(sql: str) -> str:
            sql = sql.replace("value TEXT NOT NULL,", "value TEXT NOT NULL DEFAULT 'v',")
            sql = sql.replace("category TEXT NOT NULL DEFAULT 'general'", "category TEXT NOT NULL")
            return sql.replace("\n)", ",\n  CHECK (length(key) > 0)\n)")

        await sqlite_rebuild(db, "settings", edit)
        check = "check"
        value = "'v'"
    else:
        await run(
            db,
            "ALTER TABLE settings ALTER COLUMN value SET DEFAULT 'v'",
            "ALTER TABLE settings ALTER COLUMN category DROP DEFAULT",
            "ALTER TABLE settings ADD CONSTRAINT settings_key_check CHECK (length(key) > 0)",
        )
        check = "settings_key_check"
        value = "'v'::text"
    assert await check_schema(db) == [
        f"settings.value: default {value}, expected no default",
        "settings.category: no default, expected default 'general'",
        f"settings: unexpected CHECK constraint {check}",
    ]


async def test_check_reports_foreign_key_drift(db: Database) -> None:
    if db.dialect == "sqlite":
        await sqlite_rebuild(
            db,
            "request_debug_logs",
            lambda sql: sql.replace(" ON DELETE CASCADE", ""),
        )
        await sqlite_rebuild(
            db,
            "settings",
            lambda sql: sql.replace(
                "category TEXT NOT NULL DEFAULT 'general'",
                "category TEXT NOT NULL DEFAULT 'general' REFERENCES settings (key)",
            ),
        )
    else:
        await run(
            db,
            "ALTER TABLE request_debug_logs DROP CONSTRAINT request_debug_logs_request_id_fkey",
            "ALTER TABLE request_debug_logs"
            " ADD FOREIGN KEY (request_id) REFERENCES request_logs (id)",
            "ALTER TABLE settings ADD FOREIGN KEY (category) REFERENCES settings (key) NOT VALID",
        )
    assert await check_schema(db) == [
        "request_debug_logs.request_id: foreign key is -> request_logs(id) ON DELETE NO ACTION, "
        "expected -> request_logs(id) ON DELETE CASCADE",
        "settings.category: unexpected foreign key -> settings(key) ON DELETE NO ACTION",
    ]


async def test_check_reports_a_missing_foreign_key_and_unique_constraint(db: Database) -> None:
    if db.dialect == "sqlite":
        await sqlite_rebuild(
            db,
            "request_debug_logs",
            lambda sql: sql.replace(" REFERENCES request_logs (id) ON DELETE CASCADE", "").replace(
                "\n)", ",\n  UNIQUE (request_method, request_path)\n)"
            ),
        )
        unique = "sqlite_autoindex_request_debug_logs_2"
    else:
        await run(
            db,
            "ALTER TABLE request_debug_logs DROP CONSTRAINT request_debug_logs_request_id_fkey",
            "ALTER TABLE request_debug_logs"
            " ADD CONSTRAINT rdl_unique UNIQUE (request_method, request_path)",
        )
        unique = "rdl_unique"
    assert await check_schema(db) == [
        "request_debug_logs.request_id: missing foreign key -> request_logs(id) ON DELETE CASCADE",
        f"request_debug_logs: unexpected UNIQUE constraint {unique}",
    ]


async def test_check_ignores_column_order(db: Database) -> None:
    # No named query reads settings by position, so its column order is free.
    if db.dialect == "sqlite":

        def edit(sql: str) -> str:
            line = "  value TEXT NOT NULL,\n"
            assert line in sql
            return sql.replace(line, "").replace("(\n", f"(\n{line}", 1)

        await sqlite_rebuild(db, "settings", edit)
    else:
        # PostgreSQL cannot move a column: drop it and add it back, last.
        await run(
            db,
            "ALTER TABLE settings DROP COLUMN value",
            "ALTER TABLE settings ADD COLUMN value TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE settings ALTER COLUMN value DROP DEFAULT",
        )
    names = [c.column_name for c in await db.daos.catalog.columns() if c.table_name == "settings"]
    assert names != ["key", "value", "category", "updated_at"]
    assert await check_schema(db) == []
