"""Migration cases: fixtures/base.yaml, then fixtures/to_<case>.yaml.

The base is generated once per session into a temporary generated/ (by
``python -m codegen``'s ``main``); each case then asks codegen's own functions
for the next migration against that directory's lock and migration state.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from codegen.__main__ import main
from codegen.ddl import statements_for_table
from codegen.dialects import DIALECTS
from codegen.migrations import MigrationState, next_migration, read_state
from codegen.model import Schema, load_schema
from codegen.render import render_sql_file

__all__ = (
    "APPLIED",
    "FIXTURES",
    "GENERATED",
    "REFUSED",
    "ROOT",
    "SCHEMA",
    "Base",
    "Case",
    "run_codegen",
    "schema_sql",
)

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "schema.yaml"
GENERATED = ROOT / "generated"
# Cases codegen turns into a migration (in fixture-file order) and cases it refuses.
APPLIED = (
    "add_column",
    "add_timestamp_column",
    "rebuild_autoincrement",
    "add_index",
    "drop_index",
    "change_index_predicate",
    "rename_table",
    "rename_column",
    "widen_type",
    "nullable_backfill",
    "drop_column",
    "drop_unique_column",
    "drop_table",
    "narrow_type_destructive",
)
REFUSED = (
    "refuse_drop_column",
    "refuse_narrow_type",
    "refuse_removed_table",
    "refuse_required_column",
    "refuse_undeclared_rename",
    "refuse_column_not_last",
    "refuse_moved_column",
    "refuse_unused_marker",
)


def run_codegen(*args: str | Path) -> tuple[int, str, str]:
    """Run ``python -m codegen`` in-process; return (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def schema_sql(schema: Schema, dialect: str, bootstrap: bool = False) -> str:
    """Return sql/<dialect>/schema.sql (or bootstrap.sql) for a schema."""
    d = DIALECTS[dialect]
    tables = [t for t in schema.tables if t.bootstrap] if bootstrap else schema.migrated_tables
    statements = [s for t in tables for s in statements_for_table(t, d, if_not_exists=bootstrap)]
    return render_sql_file(schema, d, statements)


@dataclass(frozen=True)
class Base:
    """fixtures/base.yaml generated into a temporary generated/."""

    root: Path  # holds schema.yaml and generated/

    @property
    def out(self) -> Path:
        """Return the generated/ directory."""
        return self.root / "generated"

    @property
    def lock(self) -> dict[str, Any]:
        """Return the parsed schema.lock.json."""
        return json.loads((self.out / "schema.lock.json").read_text(encoding="utf-8"))

    @property
    def state(self) -> MigrationState:
        """Return the verified migration files."""
        return read_state(self.out)

    def file(self, rel: str) -> str:
        """Return one generated file's text."""
        return (self.out / rel).read_text(encoding="utf-8")

    @classmethod
    def make(cls, root: Path) -> Base:
        """Generate fixtures/base.yaml into root/generated."""
        shutil.copy(FIXTURES / "base.yaml", root / "schema.yaml")
        status, _, err = run_codegen("--schema", root / "schema.yaml", "--out", root / "generated")
        assert status == 0, err
        return cls(root)

    def case(self, name: str) -> Case:
        """Return the migration codegen makes for fixtures/to_<name>.yaml."""
        return _case(self, name)


@dataclass(frozen=True)
class Case:
    """One fixture's migration against the base."""

    name: str
    schema: Schema
    files: dict[str, str]  # what next_migration returns: migration files, sums, lock

    @property
    def migration(self) -> str:
        """Return the migration's file name (the same in each dialect)."""
        (name,) = {Path(p).name for p in self.files if p.endswith(".sql")}
        return name

    def sql(self, dialect: str) -> str:
        """Return the migration file of one dialect."""
        return self.files[f"migrations/{dialect}/{self.migration}"]


@cache
def _case(base: Base, name: str) -> Case:
    schema = load_schema(FIXTURES / f"to_{name}.yaml")
    files = next_migration(schema, base.lock, base.state)
    assert files is not None, f"to_{name}.yaml makes no migration"
    return Case(name, schema, files)
