"""Snapshots of the files codegen renders from the small fixture schemas.

Review __snapshots__/test_render_snapshots.ambr like code: it is what
generated/ looks like for fixtures/base.yaml, and the migration each
fixtures/to_<case>.yaml makes from it. Refresh with ``make snapshots``.
"""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion

from codegen.dialects import DIALECTS
from tests.unit.codegen.cases import APPLIED, Base


def test_schema_sql(base: Base, snapshot: SnapshotAssertion) -> None:
    for d in DIALECTS:
        assert base.file(f"sql/{d}/schema.sql") == snapshot(name=d)


def test_bootstrap_sql(base: Base, snapshot: SnapshotAssertion) -> None:
    for d in DIALECTS:
        assert base.file(f"sql/{d}/bootstrap.sql") == snapshot(name=d)


def test_initial_migration(base: Base, snapshot: SnapshotAssertion) -> None:
    assert base.state.names == ["0001_initial.sql"]
    for d in DIALECTS:
        text = base.file(f"migrations/{d}/0001_initial.sql")
        assert text == snapshot(name=d)
        # The first migration is the schema itself, headed by its name.
        header, rest = base.file(f"sql/{d}/schema.sql").split("\n", 1)
        assert text == "\n".join([header, "-- migration 0001_initial", rest])


def test_lock(base: Base, snapshot: SnapshotAssertion) -> None:
    assert base.file("schema.lock.json") == snapshot


def test_rows_py(base: Base, snapshot: SnapshotAssertion) -> None:
    assert base.file("rows.py") == snapshot


def test_catalog_py(base: Base, snapshot: SnapshotAssertion) -> None:
    assert base.file("catalog.py") == snapshot


def test_dao_py(base: Base, snapshot: SnapshotAssertion) -> None:
    assert base.file("dao.py") == snapshot


def test_version_py(base: Base, snapshot: SnapshotAssertion) -> None:
    assert base.file("version.py") == snapshot


# keys: an autoincrement id and a unique column, so two upsert keys; logs: every type,
# named queries; key_roles: a composite key; keys.lock_all: a query on one dialect only;
# stats: a query group that is not a table, with a parameter that takes None.
@pytest.mark.parametrize(
    "module",
    [
        "tables/keys.py",
        "tables/logs.py",
        "tables/key_roles.py",
        "tables/settings.py",
        "tables/schema_migrations.py",
        "tables/log_bodies.py",
        "queries/stats.py",
    ],
)
def test_table_module(base: Base, module: str, snapshot: SnapshotAssertion) -> None:
    assert base.file(module) == snapshot


def test_every_module_is_snapshotted(base: Base) -> None:
    modules = {p.relative_to(base.out).as_posix() for p in base.out.glob("*/*.py")}
    assert modules - {"tables/__init__.py", "queries/__init__.py"} == {
        "tables/keys.py",
        "tables/logs.py",
        "tables/key_roles.py",
        "tables/settings.py",
        "tables/schema_migrations.py",
        "tables/log_bodies.py",
        "queries/stats.py",
    }


@pytest.mark.parametrize("case", APPLIED)
def test_migration(base: Base, case: str, snapshot: SnapshotAssertion) -> None:
    migration = base.case(case)
    assert migration.migration == snapshot(name="file name")
    for d in DIALECTS:
        assert migration.sql(d) == snapshot(name=d)
