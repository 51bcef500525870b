"""Migration diffs, executed on real SQLite files and a real PostgreSQL server.

Each case starts from fixtures/base.yaml migrated by its 0001_initial
migration, puts rows in every table, applies the migration codegen makes
for fixtures/to_<case>.yaml, then checks:

- the rows: every row is still there with the same values, changed only as
  the case says (renamed, dropped, widened, backfilled, new column filled);
- the catalog (columns with type, NOT NULL and default; keys; indexes;
  foreign keys) equals a fresh database made from the case's schema.sql;
- foreign keys still work: deleting a parent row cascades to its children.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ccbridge.db.base import split_statements
from codegen.migrations import next_migration
from codegen.model import SchemaError, load_schema
from tests.unit.codegen.cases import APPLIED, FIXTURES, REFUSED, Base, run_codegen, schema_sql
from tests.unit.codegen.dbs import Db, SqliteDb

Rows = dict[str, list[dict[str, Any]]]
STAMPS = [datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), datetime(2026, 1, 2, 4, 0, tzinfo=UTC)]


def stamp(db: Db, i: int) -> Any:
    """Return a timestamp as each engine stores it (SQLite: fixed-width UTC text)."""
    value = STAMPS[i % len(STAMPS)]
    return (
        value.isoformat(timespec="microseconds").replace("+00:00", "Z")
        if db.dialect == "sqlite"
        else value
    )


def fill(db: Db) -> None:
    """Put rows in every table of the base schema."""
    p = db.placeholder

    def insert(table: str, columns: str, *rows: tuple[Any, ...]) -> None:
        marks = ", ".join([p] * len(rows[0]))
        for row in rows:
            db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", row)

    insert("settings", "key, value, enabled", ("theme", "dark", False))
    insert(
        "logs",
        "id, status, started_at, tokens, cost, stream, meta, note, legacy",
        ("a", "done", stamp(db, 0), 10, 1.25, True, '{"k": 1}', "first", "old-a"),
        ("b", "pending", stamp(db, 1), None, 2.0, False, "{}", None, None),
        ("c", "error", stamp(db, 2), 7, 0.0, False, "[]", "third", "old-c"),
    )
    insert("log_bodies", "log_id, body, size", ("a", b"\x00body-a", 7), ("c", b"body-c", 6))
    insert("keys", "hash, tags", ("h1", '["x"]'), ("h2", "[]"))
    insert("key_roles", "key_id, role", (1, "admin"), (1, "reader"), (2, "reader"))


def prepare(db: Db, base: Base) -> Rows:
    """Bootstrap, apply 0001_initial, fill; return the rows."""
    db.run_file(base.file(f"sql/{db.dialect}/bootstrap.sql"))
    db.migrate(base.file(f"migrations/{db.dialect}/0001_initial.sql"))
    fill(db)
    rows = db.rows()
    assert {t: len(r) for t, r in rows.items()} == {
        "key_roles": 3,
        "keys": 2,
        "log_bodies": 2,
        "logs": 3,
        "schema_migrations": 0,
        "settings": 2,
    }
    return rows


def typed(rows: Rows) -> dict[str, list[dict[str, tuple[str, Any]]]]:
    """Return rows with each value's type beside it (True and 1 differ)."""
    return {
        t: [{k: (type(v).__name__, v) for k, v in r.items()} for r in rs] for t, rs in rows.items()
    }


def each(rows: Rows, table: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply a change to every row of a table."""
    for row in rows[table]:
        change(row)


def rename(row: dict[str, Any], old: str, new: str) -> None:
    """Rename a key of a row."""
    row[new] = row.pop(old)


def _new_stamp(after: Rows, table: str, column: str, dialect: str) -> None:
    # The new column took the time of the migration; the engines store it differently.
    for row in after[table]:
        value = row.pop(column)
        if dialect == "sqlite":
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", value), value
        else:
            assert isinstance(value, datetime) and value.tzinfo is not None


# case -> how the rows change: f(before rows, after rows, dialect), editing both in place.
EXPECT: dict[str, Callable[[Rows, Rows, str], None]] = {
    "add_column": lambda rows, after, d: each(
        rows, "logs", lambda r: r.update(retries=3, region=None)
    ),
    "add_timestamp_column": lambda rows, after, d: _new_stamp(after, "logs", "finished_at", d),
    "rebuild_autoincrement": lambda rows, after, d: _new_stamp(after, "keys", "created_at", d),
    "add_index": lambda rows, after, d: None,
    "drop_index": lambda rows, after, d: None,
    "change_index_predicate": lambda rows, after, d: None,
    "rename_table": lambda rows, after, d: rows.update(api_keys=rows.pop("keys")),
    "rename_column": lambda rows, after, d: each(
        rows, "logs", lambda r: rename(r, "note", "comment")
    ),
    "widen_type": lambda rows, after, d: each(
        rows, "settings", lambda r: r.update(enabled=int(r["enabled"]))
    ),
    "nullable_backfill": lambda rows, after, d: each(
        rows, "logs", lambda r: r.update(tokens=r["tokens"] or 0)
    ),
    "drop_column": lambda rows, after, d: each(rows, "logs", lambda r: r.pop("legacy")),
    "drop_unique_column": lambda rows, after, d: each(rows, "keys", lambda r: r.pop("hash")),
    "drop_table": lambda rows, after, d: rows.pop("key_roles"),
    # cost 1.25, 2.0, 0.0: values on which SQLite (truncates) and PostgreSQL (rounds) agree.
    "narrow_type_destructive": lambda rows, after, d: each(
        rows, "logs", lambda r: r.update(cost=int(r["cost"]))
    ),
}


def test_every_applied_case_has_an_expectation() -> None:
    assert set(EXPECT) == set(APPLIED)
    assert {p.stem.removeprefix("to_") for p in FIXTURES.glob("to_*.yaml")} == set(APPLIED) | set(
        REFUSED
    )


@pytest.mark.parametrize("case", APPLIED)
def test_migration_keeps_data(
    case: str, base: Base, dialect: str, make_db: Callable[[str], Db]
) -> None:
    migration = base.case(case)
    db = make_db(dialect)
    rows = prepare(db, base)

    db.migrate(migration.sql(dialect))

    after = db.rows()
    EXPECT[case](rows, after, dialect)
    assert typed(after) == typed(rows)

    fresh = make_db(dialect)
    fresh.run_file(schema_sql(migration.schema, dialect, bootstrap=True))
    fresh.run_file(schema_sql(migration.schema, dialect))
    assert db.catalog() == fresh.catalog()

    # Foreign keys survived: deleting a parent row takes its children along.
    db.execute("DELETE FROM logs WHERE id = 'a'")
    assert [r[0] for r in db.query("SELECT log_id FROM log_bodies")] == ["c"]
    if "key_roles" in after:
        parent = "api_keys" if "api_keys" in after else "keys"
        db.execute(f"DELETE FROM {parent} WHERE id = 1")
        assert db.query("SELECT key_id, role FROM key_roles") == [(2, "reader")]


def test_sqlite_parent_rebuild_needs_foreign_keys_off(
    base: Base, make_db: Callable[[str], Db]
) -> None:
    # Why the runner turns foreign keys off: with them on, the rebuild's
    # DROP TABLE logs deletes every row first, and ON DELETE CASCADE empties
    # log_bodies. This is the hazard test_migration_keeps_data guards against.
    db = make_db("sqlite")
    assert isinstance(db, SqliteDb)
    prepare(db, base)
    text = base.case("add_timestamp_column").sql("sqlite")
    assert "DROP TABLE logs;" in text
    db.conn.execute("BEGIN")
    for statement in split_statements(text):
        db.conn.execute(statement)
    db.conn.execute("COMMIT")
    assert db.query("SELECT COUNT(*) FROM logs") == [(3,)]
    assert db.query("SELECT COUNT(*) FROM log_bodies") == [(0,)]


def test_rebuild_never_reuses_an_autoincrement_id(base: Base, sql_db: Db) -> None:
    # AUTOINCREMENT (and PostgreSQL's identity) never hand out an id twice, even
    # one whose row was deleted; SQLite's rebuilt copy must keep the counter.
    prepare(sql_db, base)
    sql_db.execute("DELETE FROM keys WHERE id = 2")
    sql_db.migrate(base.case("rebuild_autoincrement").sql(sql_db.dialect))
    p = sql_db.placeholder
    sql_db.execute(f"INSERT INTO keys (hash) VALUES ({p})", ("h3",))
    assert sql_db.query("SELECT id, hash FROM keys ORDER BY id") == [(1, "h1"), (3, "h3")]


def test_nullable_backfill_fills_nulls_with_the_default(base: Base, sql_db: Db) -> None:
    prepare(sql_db, base)
    assert sql_db.query("SELECT id FROM logs WHERE tokens IS NULL") == [("b",)]
    sql_db.migrate(base.case("nullable_backfill").sql(sql_db.dialect))
    assert sql_db.query("SELECT id, tokens FROM logs ORDER BY id") == [
        ("a", 10),
        ("b", 0),
        ("c", 7),
    ]
    with pytest.raises(Exception, match=r"(?i)not.null"):
        sql_db.execute(
            "INSERT INTO logs (id, started_at, tokens) VALUES ('d', '2026-01-01T00:00:00Z', NULL)"
        )


def test_widened_boolean_takes_its_new_default(base: Base, sql_db: Db) -> None:
    prepare(sql_db, base)
    sql_db.migrate(base.case("widen_type").sql(sql_db.dialect))
    sql_db.execute("INSERT INTO settings (key, value) VALUES ('new', 'x')")
    assert sql_db.query("SELECT key, enabled FROM settings ORDER BY key") == [
        ("new", 1),
        ("revision", 1),
        ("theme", 0),
    ]


# --- refused changes -------------------------------------------------------------------------

REFUSALS = {
    "refuse_drop_column": (
        "schema.yaml:19: column 'logs.legacy' was removed; "
        "list it under 'dropped_columns' to drop it and its data"
    ),
    "refuse_narrow_type": (
        "schema.yaml:26: column 'logs.cost': real -> integer may lose data; "
        "mark the column 'destructive: true' to allow it"
    ),
    "refuse_removed_table": (
        "schema.yaml:1: table 'key_roles' was removed; "
        "list it under 'dropped_tables' to drop it and its data"
    ),
    "refuse_required_column": (
        "schema.yaml:31: new column 'logs.region' is NOT NULL without a default; give it one"
    ),
    "refuse_undeclared_rename": (
        "schema.yaml:29: column 'logs.note' was removed and 'logs.comment' added: "
        "if 'comment' is 'note' renamed, add `renamed_from: note` to it "
        "(comment: {type: text, renamed_from: note}); "
        "to drop 'note' and its data instead, list it under 'dropped_columns'"
    ),
    "refuse_column_not_last": (
        "schema.yaml:29: new column 'logs.retries' is declared before existing column "
        "'logs.note': ADD COLUMN appends it, so a migrated database would order the columns "
        "differently from schema.sql; declare it after 'legacy', last in the table"
    ),
    "refuse_moved_column": (
        "schema.yaml:29: column 'logs.legacy' moved: existing columns keep their order "
        "(id, status, started_at, tokens, cost, stream, meta, note, legacy), "
        "since a migrated database cannot reorder them"
    ),
    "refuse_unused_marker": (
        "schema.yaml:26: 'destructive: true' on column 'logs.cost' acknowledges no change; "
        "remove it"
    ),
}


def test_every_refusal_is_listed() -> None:
    assert set(REFUSALS) == set(REFUSED)


@pytest.mark.parametrize("case", REFUSED)
def test_refused_change(case: str, base: Base) -> None:
    schema = load_schema(FIXTURES / f"to_{case}.yaml")
    with pytest.raises(SchemaError) as caught:
        next_migration(schema, base.lock, base.state)
    assert str(caught.value) == REFUSALS[case]


@pytest.mark.parametrize("case", REFUSED)
def test_refused_change_writes_nothing(case: str, base: Base, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    shutil.copytree(base.out, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    shutil.copy(FIXTURES / f"to_{case}.yaml", tmp_path / "schema.yaml")

    status, stdout, stderr = run_codegen("--schema", tmp_path / "schema.yaml", "--out", out)

    assert (status, stdout, stderr) == (1, "", f"codegen: {REFUSALS[case]}\n")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_marker_allows_what_was_refused(base: Base) -> None:
    # The same changes with their markers make migrations (the cases above apply them).
    assert base.case("drop_column").migration == "0002_drop_logs_legacy.sql"
    assert base.case("narrow_type_destructive").migration == "0002_alter_logs_cost.sql"
    assert base.case("drop_table").migration == "0002_drop_key_roles.sql"


def test_lock_follows_the_migration(base: Base) -> None:
    migration = base.case("add_column")
    lock = json.loads(migration.files["schema.lock.json"])
    assert lock["migration"] == "0002_add_logs_retries_and_more"
    assert lock["tables"]["logs"]["columns"]["retries"] == {
        "default": 3,
        "nullable": False,
        "type": "integer",
    }
    # Diffing the new schema against its own lock finds nothing more to do.
    assert next_migration(migration.schema, lock, base.state) is None
