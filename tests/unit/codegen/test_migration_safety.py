"""Migration safety over several schema edits: single-use markers, rewriting in place.

Each test copies fixtures/base.yaml and its generated/ (0001_initial) into a
project directory, edits schema.yaml step by step and runs ``python -m
codegen`` on it as a developer would. Migrations that codegen writes are then
applied on a real SQLite file and a real PostgreSQL server holding rows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

import codegen.migrations
from codegen.dialects import DIALECTS
from tests.unit.codegen.cases import Base, run_codegen
from tests.unit.codegen.dbs import Db
from tests.unit.codegen.test_migrations_apply import prepare

NO_MIGRATION = "codegen: schema.yaml has changes without a migration: run `make codegen`"
COST = "      cost: {type: real, default: 0}\n"
NOTE = "      note: {type: text}\n"
LEGACY = "      legacy: {type: text}\n"


class Project:
    """schema.yaml and generated/ of base.yaml, in a directory of their own."""

    def __init__(self, root: Path, base: Base) -> None:
        self.root = root
        shutil.copytree(base.out, self.out)
        shutil.copy(base.root / "schema.yaml", self.schema)

    @property
    def out(self) -> Path:
        """Return generated/."""
        return self.root / "generated"

    @property
    def schema(self) -> Path:
        """Return schema.yaml."""
        return self.root / "schema.yaml"

    def edit(self, old: str, new: str) -> None:
        """Replace one exact piece of schema.yaml."""
        text = self.schema.read_text(encoding="utf-8")
        assert text.count(old) == 1, old
        self.schema.write_text(text.replace(old, new), encoding="utf-8")

    def codegen(self, *args: str) -> tuple[int, str, str]:
        """Run codegen on the project."""
        return run_codegen(*args, "--schema", self.schema, "--out", self.out)

    def files(self) -> dict[str, bytes]:
        """Return every file of generated/, by path."""
        return {
            p.relative_to(self.out).as_posix(): p.read_bytes()
            for p in sorted(self.out.rglob("*"))
            if p.is_file()
        }

    def migrations(self) -> list[str]:
        """Return the migration names (the same in each dialect)."""
        names = {
            d: sorted(p.name for p in (self.out / "migrations" / d).glob("*.sql")) for d in DIALECTS
        }
        assert names["sqlite"] == names["postgres"]
        return names["sqlite"]

    def sql(self, dialect: str, name: str) -> str:
        """Return one migration file."""
        return (self.out / "migrations" / dialect / name).read_text(encoding="utf-8")

    def git(self, *args: str) -> str:
        """Run git in the project; return its output."""
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root),
        }
        done = subprocess.run(
            ["git", *args], cwd=self.root, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout

    def commit(self, message: str) -> None:
        """Commit everything."""
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)


@pytest.fixture
def project(tmp_path: Path, base: Base) -> Project:
    """base.yaml generated, outside any git work tree."""
    return Project(tmp_path / "project", base)


@pytest.fixture
def repo(project: Project) -> Project:
    """The project as a git work tree with everything committed."""
    project.git("init", "-q")
    project.commit("base")
    return project


def apply_all(db: Db, project: Project, base: Base) -> None:
    """Fill a database at 0001 as test_migrations_apply does, then apply the rest."""
    prepare(db, base)
    for name in project.migrations()[1:]:
        db.migrate(project.sql(db.dialect, name))


# --- single-use acknowledgements ------------------------------------------------------------


def mark_cost_twice(project: Project) -> None:
    """real -> integer, then integer -> boolean, each with its own marker."""
    project.edit(COST, "      cost: {type: integer, default: 0, destructive: true}\n")
    assert project.codegen()[0] == 0
    assert project.migrations()[-1] == "0002_alter_logs_cost.sql"
    # The marker may stay while nothing else changes: it documents 0002.
    assert project.codegen("--check") == (0, "", "")

    # A later lossy change to the same column is not covered by the old marker.
    project.edit(
        "integer, default: 0, destructive: true", "boolean, default: false, destructive: true"
    )
    before = project.files()
    assert project.codegen() == (
        1,
        "",
        "codegen: schema.yaml:31: 'destructive: true' on column 'logs.cost' was used by "
        "migration 0002_alter_logs_cost (real -> integer); remove it: a marker acknowledges "
        "one migration's change; to acknowledge integer -> boolean, "
        "write 'destructive: integer -> boolean'\n",
    )
    assert project.files() == before

    # Removed, the change is refused for want of a marker; a new one lets it through.
    project.edit(", destructive: true", "")
    assert project.codegen()[2] == (
        "codegen: schema.yaml:31: column 'logs.cost': integer -> boolean may lose data; "
        "mark the column 'destructive: true' to allow it\n"
    )
    assert project.files() == before
    project.edit(
        "boolean, default: false}", "boolean, default: false, destructive: integer -> boolean}"
    )
    assert project.codegen()[0] == 0
    assert project.migrations()[-1] == "0003_alter_logs_cost.sql"


def test_destructive_marker_acknowledges_one_change(
    project: Project, snapshot: SnapshotAssertion
) -> None:
    mark_cost_twice(project)
    for d in DIALECTS:
        assert project.sql(d, "0003_alter_logs_cost.sql") == snapshot(name=d)


def test_changes_acknowledged_one_at_a_time_apply(project: Project, base: Base, sql_db: Db) -> None:
    mark_cost_twice(project)
    apply_all(sql_db, project, base)
    # 1.25, 2.0, 0.0 became 1, 2, 0, then booleans: PostgreSQL has true/false only,
    # SQLite keeps the integer under BOOLEAN's numeric affinity.
    got = sql_db.query("SELECT id, cost FROM logs ORDER BY id")
    if sql_db.dialect == "sqlite":
        assert got == [("a", 1), ("b", 2), ("c", 0)]
    else:
        assert got == [("a", True), ("b", True), ("c", False)]
    assert [r[0] for r in sql_db.query("SELECT log_id FROM log_bodies ORDER BY log_id")] == [
        "a",
        "c",
    ]


def test_named_change_must_match(project: Project) -> None:
    project.edit(COST, "      cost: {type: integer, default: 0, destructive: text -> integer}\n")
    before = project.files()
    assert project.codegen() == (
        1,
        "",
        "codegen: schema.yaml:31: column 'logs.cost': real -> integer may lose data, but the "
        "column is marked 'destructive: text -> integer'; write 'destructive: real -> integer'\n",
    )
    assert project.files() == before


@pytest.mark.parametrize(
    ("first", "message"),
    [
        (
            (NOTE, "      comment: {type: text, renamed_from: note}\n"),
            "codegen: schema.yaml:34: 'renamed_from: note' on column 'logs.comment' was used by "
            "migration 0002_rename_logs_note (note -> comment); remove it: "
            "a marker acknowledges one migration's change\n",
        ),
        (
            (LEGACY, "    dropped_columns: [legacy]\n"),
            "codegen: schema.yaml:35: 'dropped_columns' entry 'legacy' of table 'logs' was used by "
            "migration 0002_drop_logs_legacy (drop); remove it: "
            "a marker acknowledges one migration's change\n",
        ),
    ],
    ids=["renamed_from", "dropped_columns"],
)
def test_spent_marker_is_refused_by_the_next_migration(
    project: Project, first: tuple[str, str], message: str
) -> None:
    project.edit(*first)
    assert project.codegen()[0] == 0
    assert project.codegen("--check") == (0, "", "")
    # Any later change makes a new migration, which the old marker must not reach.
    project.edit(
        "      tags: {type: json, default: []}\n",
        "      tags: {type: json, default: []}\n      note: {type: text}\n",
    )
    before = project.files()
    assert project.codegen() == (1, "", message)
    assert project.codegen("--check") == (1, "", message)
    assert project.files() == before


def test_lock_records_what_each_marker_acknowledged(project: Project) -> None:
    project.edit(NOTE, "      comment: {type: text, renamed_from: note}\n")
    project.edit(LEGACY, "    dropped_columns: [legacy]\n")
    assert project.codegen()[0] == 0
    lock = json.loads((project.out / "schema.lock.json").read_text(encoding="utf-8"))
    name = "0002_rename_logs_note_and_more"
    assert lock["migration"] == name
    assert lock["acknowledged"] == [
        {
            "change": "note -> comment",
            "marker": "renamed_from",
            "migration": name,
            "target": "logs.comment",
            "written": "note",
        },
        {
            "change": "drop",
            "marker": "dropped_columns",
            "migration": name,
            "target": "logs.legacy",
            "written": "legacy",
        },
    ]


# --- the newest migration, while uncommitted, is rewritten in place --------------------------

RETRIES = "      retries: {type: integer, nullable: false, default: 3}\n"
REGION = "      region: {type: text}\n"


def test_second_edit_rewrites_the_uncommitted_migration(
    repo: Project, snapshot: SnapshotAssertion
) -> None:
    repo.edit(LEGACY, LEGACY + RETRIES)
    assert repo.codegen()[0] == 0
    assert repo.migrations() == ["0001_initial.sql", "0002_add_logs_retries.sql"]

    repo.edit(RETRIES, RETRIES + REGION)
    assert repo.codegen()[0] == 0
    # One migration for both edits, named after both; 0002_add_logs_retries.sql is gone.
    assert repo.migrations() == ["0001_initial.sql", "0002_add_logs_retries_and_more.sql"]
    for d in DIALECTS:
        assert repo.sql(d, "0002_add_logs_retries_and_more.sql") == snapshot(name=d)
    lock = json.loads((repo.out / "schema.lock.json").read_text(encoding="utf-8"))
    assert lock["migration"] == "0002_add_logs_retries_and_more"
    assert repo.codegen("--check") == (0, "", "")
    files = repo.files()
    assert repo.codegen()[1].startswith("codegen: 0 file(s) written, 0 removed")
    assert repo.files() == files


def test_committed_migration_is_never_rewritten(repo: Project) -> None:
    repo.edit(LEGACY, LEGACY + RETRIES)
    assert repo.codegen()[0] == 0
    repo.commit("0002")
    committed = repo.sql("sqlite", "0002_add_logs_retries.sql")

    repo.edit(RETRIES, RETRIES + REGION)
    assert repo.codegen()[0] == 0
    assert repo.migrations() == [
        "0001_initial.sql",
        "0002_add_logs_retries.sql",
        "0003_add_logs_region.sql",
    ]
    assert repo.sql("sqlite", "0002_add_logs_retries.sql") == committed
    assert (
        repo.git(
            "status", "--porcelain", "--", "generated/migrations/sqlite/0002_add_logs_retries.sql"
        )
        == ""
    )


def test_undoing_the_edit_removes_the_uncommitted_migration(repo: Project, base: Base) -> None:
    original = repo.schema.read_text(encoding="utf-8")
    repo.edit(LEGACY, LEGACY + RETRIES)
    assert repo.codegen()[0] == 0
    repo.schema.write_text(original, encoding="utf-8")
    assert repo.codegen()[0] == 0
    # Back to the committed generated/, byte for byte.
    assert repo.migrations() == ["0001_initial.sql"]
    assert repo.git("status", "--porcelain") == ""


def test_rewrite_keeps_an_acknowledgement_whose_marker_is_gone(repo: Project) -> None:
    repo.edit(COST, "      cost: {type: integer, default: 0, destructive: true}\n")
    assert repo.codegen()[0] == 0
    # Allowed: the lock records what 0002 acknowledged.
    repo.edit(", destructive: true", "")
    assert repo.codegen()[0] == 0
    repo.edit(LEGACY, LEGACY + REGION)
    assert repo.codegen()[0] == 0
    assert repo.migrations() == ["0001_initial.sql", "0002_alter_logs_cost_and_more.sql"]
    text = repo.sql("postgres", "0002_alter_logs_cost_and_more.sql")
    assert "-- LOSSY: converts logs.cost from real to integer" in text
    assert "ALTER TABLE logs ADD COLUMN region TEXT;" in text
    lock = json.loads((repo.out / "schema.lock.json").read_text(encoding="utf-8"))
    assert [(a["target"], a["change"], a["migration"]) for a in lock["acknowledged"]] == [
        ("logs.cost", "real -> integer", "0002_alter_logs_cost_and_more")
    ]
    # The acknowledgement covers that change only: a different one needs a marker.
    repo.edit("cost: {type: integer, default: 0}", "cost: {type: boolean, default: false}")
    before = repo.files()
    assert repo.codegen()[2] == (
        "codegen: schema.yaml:31: column 'logs.cost': real -> boolean may lose data; "
        "mark the column 'destructive: true' to allow it\n"
    )
    assert repo.files() == before


def test_check_never_asks_git(repo: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # CI runs --check on a clean clone; it must judge the files alone.
    repo.edit(LEGACY, LEGACY + RETRIES)
    assert repo.codegen()[0] == 0
    repo.edit(RETRIES, RETRIES + REGION)

    def no_git(*args: object) -> str | None:
        raise AssertionError(f"--check ran git {args}")

    monkeypatch.setattr(codegen.migrations, "_git", no_git)
    before = repo.files()
    status, _, stderr = repo.codegen("--check")
    assert (status, stderr.splitlines()[0]) == (1, NO_MIGRATION)
    assert repo.files() == before


def test_outside_git_a_second_edit_makes_a_second_migration(project: Project) -> None:
    project.edit(LEGACY, LEGACY + RETRIES)
    assert project.codegen()[0] == 0
    project.edit(RETRIES, RETRIES + REGION)
    assert project.codegen()[0] == 0
    assert project.migrations()[1:] == ["0002_add_logs_retries.sql", "0003_add_logs_region.sql"]


def test_undeclared_table_rename_names_both_tables(project: Project) -> None:
    project.edit("  key_roles:\n", "  key_grants:\n")
    before = project.files()
    status, _, stderr = project.codegen()
    assert (status, stderr) == (
        1,
        "codegen: schema.yaml:56: table 'key_roles' was removed and table 'key_grants' added: "
        "if 'key_grants' is 'key_roles' renamed, add `renamed_from: key_roles` to "
        "'key_grants'; to drop 'key_roles' and its data instead, list it under "
        "'dropped_tables'\n",
    )
    assert project.files() == before


# --- a lossy change SQLite would not check by itself ---------------------------------------

VALUE = "      value: {type: text, nullable: false}\n"


def test_text_to_json_migration(project: Project, snapshot: SnapshotAssertion) -> None:
    project.edit(VALUE, "      value: {type: json, nullable: false, destructive: true}\n")
    assert project.codegen()[0] == 0
    for d in DIALECTS:
        assert project.sql(d, "0002_alter_settings_value.sql") == snapshot(name=d)


def test_text_to_json_fails_on_invalid_json_and_changes_nothing(
    project: Project, base: Base, sql_db: Db
) -> None:
    project.edit(VALUE, "      value: {type: json, nullable: false, destructive: true}\n")
    assert project.codegen()[0] == 0
    migration = project.sql(sql_db.dialect, "0002_alter_settings_value.sql")
    before = prepare(sql_db, base)
    catalog = sql_db.catalog()
    # 'dark' (from fill) is not JSON: PostgreSQL's CAST fails, SQLite's check returns its key.
    with pytest.raises(Exception, match=r"(?i)json|theme"):
        sql_db.migrate(migration)
    assert sql_db.rows() == before
    assert sql_db.catalog() == catalog

    sql_db.execute("UPDATE settings SET value = '\"dark\"' WHERE key = 'theme'")
    sql_db.migrate(migration)
    got = sql_db.query("SELECT key, value FROM settings ORDER BY key")
    if sql_db.dialect == "sqlite":
        assert got == [("revision", "1"), ("theme", '"dark"')]  # JSON text, as json is stored
    else:
        assert got == [("revision", 1), ("theme", "dark")]  # jsonb, parsed by psycopg


def test_integer_to_bigint_runs_nothing_on_sqlite(project: Project) -> None:
    project.edit(
        "      tokens: {type: integer, default: 0}\n", "      tokens: {type: bigint, default: 0}\n"
    )
    assert project.codegen()[0] == 0
    name = "0002_alter_logs_tokens.sql"
    assert project.sql("sqlite", name).endswith(
        "\n\n-- nothing to run on sqlite: the change leaves its tables as they are\n"
    )
    assert project.sql("postgres", name).endswith(
        "\n\nALTER TABLE logs ALTER COLUMN tokens"
        " SET DATA TYPE BIGINT USING CAST(tokens AS BIGINT);"
        "\n\nALTER TABLE logs ALTER COLUMN tokens SET DEFAULT 0;\n"
    )
