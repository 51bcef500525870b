"""Snapshots of the files codegen renders from the small fixture schemas.

Review __snapshots__/test_render_snapshots.ambr like code: it is what
generated/ looks like for fixtures/base.yaml, and the migration each
fixtures/to_<case>.yaml makes from it. Refresh with ``make snapshots``.
"""

from __future__ import annotations

import re

import pytest
from syrupy.assertion import SnapshotAssertion

from codegen.dialects import DIALECTS
from tests.unit.codegen.cases import APPLIED, Base


def blocks(text: str, start: str) -> str:
    """Return the top-level ``NAME = Call(`` … ``)`` blocks whose name matches."""
    pattern = re.compile(rf"^(?:{start}) = \w+\(\n.*?^\)\n(?=\n)", re.DOTALL | re.MULTILINE)
    found = pattern.findall(text)
    assert found, f"no block matches {start!r}"
    return "\n".join(found)


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
        schema = base.file(f"sql/{d}/schema.sql").split("\n", 2)
        assert text == "\n".join([*schema[:2], "-- migration 0001_initial", schema[2]])


def test_lock(base: Base, snapshot: SnapshotAssertion) -> None:
    assert base.file("schema.lock.json") == snapshot


def test_rows_py(base: Base, snapshot: SnapshotAssertion) -> None:
    assert base.file("rows.py") == snapshot


def test_catalog_py(base: Base, snapshot: SnapshotAssertion) -> None:
    assert base.file("catalog.py") == snapshot


def test_dao_py_named_queries(base: Base, snapshot: SnapshotAssertion) -> None:
    assert blocks(base.file("dao.py"), r"_Q_\w+") == snapshot


def test_dao_py_autoincrement_table(base: Base, snapshot: SnapshotAssertion) -> None:
    # keys: an autoincrement id and a unique column, so two upsert keys.
    dao = base.file("dao.py")
    for d in DIALECTS:
        assert blocks(dao, f"_KEYS_{d.upper()}") == snapshot(name=d)


@pytest.mark.parametrize("case", APPLIED)
def test_migration(base: Base, case: str, snapshot: SnapshotAssertion) -> None:
    migration = base.case(case)
    assert migration.migration == snapshot(name="file name")
    for d in DIALECTS:
        assert migration.sql(d) == snapshot(name=d)
