"""``python -m codegen [--check]`` on temporary copies of generated/.

Checksums catch edited, renumbered and reordered migrations; a schema.yaml
change without a codegen run fails --check; codegen is idempotent; adding a
column adds exactly one migration per dialect and moves the lock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codegen.migrations import sum_text
from tests.unit.codegen.cases import GENERATED, ROOT, SCHEMA, Base, run_codegen

SUM_MISMATCH = (
    "codegen: generated/migrations/{d}: migrations.sum does not match the migration files "
    "(a migration was edited, removed or added by hand; migrations are append-only)\n"
)
NO_MIGRATION = "codegen: schema.yaml has changes without a migration: run `make codegen`"


def copy_generated(src: Path, tmp: Path, schema: Path) -> tuple[Path, Path]:
    """Copy a generated/ and its schema into tmp; return (schema, out)."""
    out = tmp / "generated"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(schema, tmp / "schema.yaml")
    return tmp / "schema.yaml", out


def files(out: Path) -> dict[str, bytes]:
    """Return every file under out, by relative path."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


@pytest.fixture
def real(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of schema.yaml and the committed generated/."""
    return copy_generated(GENERATED, tmp_path, SCHEMA)


@pytest.fixture
def small(tmp_path: Path, base: Base) -> tuple[Path, Path]:
    """A copy of the generated fixtures/base.yaml (fast to regenerate)."""
    return copy_generated(base.out, tmp_path, base.root / "schema.yaml")


def migrations(out: Path, dialect: str) -> list[str]:
    """Return a dialect's migration file names."""
    return sorted(p.name for p in (out / "migrations" / dialect).glob("*.sql"))


# --- checksums ---------------------------------------------------------------------------------


def test_edited_migration_fails_check_in_a_fresh_process(real: tuple[Path, Path]) -> None:
    schema, out = real
    first = out / "migrations" / "sqlite" / migrations(out, "sqlite")[0]
    first.write_text(first.read_text(encoding="utf-8") + "-- edited by hand\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "codegen", "--check", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", SUM_MISMATCH.format(d="sqlite"))


@pytest.mark.parametrize("check", [True, False], ids=["check", "write"])
def test_edited_sum_file_is_refused(small: tuple[Path, Path], check: bool) -> None:
    schema, out = small
    sum_file = out / "migrations" / "postgres" / "migrations.sum"
    before = files(out)
    sum_file.write_text(
        sum_file.read_text(encoding="utf-8").replace("h1:", "h1:0", 1), encoding="utf-8"
    )
    status, stdout, stderr = run_codegen(
        *(["--check"] if check else []), "--schema", schema, "--out", out
    )
    assert (status, stdout, stderr) == (1, "", SUM_MISMATCH.format(d="postgres"))
    # Without --check it refuses too, and writes nothing.
    assert files(out) == {**before, "migrations/postgres/migrations.sum": sum_file.read_bytes()}


def test_renumbered_migration_is_refused(small: tuple[Path, Path]) -> None:
    schema, out = small
    folder = out / "migrations" / "sqlite"
    (folder / "0001_initial.sql").rename(folder / "0002_initial.sql")
    status, _, stderr = run_codegen("--check", "--schema", schema, "--out", out)
    assert (status, stderr) == (
        1,
        "codegen: generated/migrations/sqlite/0002_initial.sql: expected migration number 0001\n",
    )


def _two_migrations(out: Path, base: Base) -> None:
    for rel, text in base.case("add_column").files.items():
        (out / rel).write_text(text, encoding="utf-8")


def test_reordered_migrations_are_refused(small: tuple[Path, Path], base: Base) -> None:
    # Numbers still run 1, 2, but the files swapped places: the sum notices.
    schema, out = small
    _two_migrations(out, base)
    folder = out / "migrations" / "postgres"
    assert migrations(out, "postgres") == ["0001_initial.sql", "0002_add_logs_retries_and_more.sql"]
    (folder / "0001_initial.sql").rename(folder / "tmp")
    (folder / "0002_add_logs_retries_and_more.sql").rename(
        folder / "0001_add_logs_retries_and_more.sql"
    )
    (folder / "tmp").rename(folder / "0002_initial.sql")
    status, _, stderr = run_codegen("--check", "--schema", schema, "--out", out)
    assert (status, stderr) == (1, SUM_MISMATCH.format(d="postgres"))


def test_removed_migration_is_refused(small: tuple[Path, Path], base: Base) -> None:
    schema, out = small
    _two_migrations(out, base)
    (out / "migrations" / "sqlite" / "0001_initial.sql").unlink()
    status, _, stderr = run_codegen("--check", "--schema", schema, "--out", out)
    assert (status, stderr) == (
        1,
        "codegen: generated/migrations/sqlite/0002_add_logs_retries_and_more.sql: "
        "expected migration number 0001\n",
    )


def test_dialects_must_have_the_same_migrations(small: tuple[Path, Path], base: Base) -> None:
    schema, out = small
    _two_migrations(out, base)
    folder = out / "migrations" / "postgres"
    (folder / "0002_add_logs_retries_and_more.sql").unlink()
    # Even with a matching sum file, the folders must list the same migrations.
    (folder / "migrations.sum").write_text(
        sum_text({"0001_initial.sql": (folder / "0001_initial.sql").read_text(encoding="utf-8")}),
        encoding="utf-8",
    )
    status, _, stderr = run_codegen("--check", "--schema", schema, "--out", out)
    assert status == 1
    assert stderr.startswith("codegen: migration folders differ between dialects: ")


# --- stale or hand-edited output ---------------------------------------------------------------


def test_hand_edited_and_extra_files_fail_check(small: tuple[Path, Path]) -> None:
    schema, out = small
    dao = out / "dao.py"
    dao.write_text(dao.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    (out / "sql" / "sqlite" / "extra.sql").write_text("SELECT 1;\n", encoding="utf-8")
    status, stdout, stderr = run_codegen("--check", "--schema", schema, "--out", out)
    assert (status, stdout) == (1, "")
    assert stderr.splitlines() == [
        "codegen: generated/dao.py is stale or edited by hand",
        "codegen: generated/sql/sqlite/extra.sql is not produced by codegen",
    ]
    # A codegen run puts things right.
    expected = len(files(out)) - 1
    assert run_codegen("--schema", schema, "--out", out) == (
        0,
        f"codegen: 1 file(s) written, 1 removed, {expected} in generated/\n",
        "",
    )
    assert run_codegen("--check", "--schema", schema, "--out", out) == (0, "", "")


def test_codegen_twice_is_byte_identical_and_writes_nothing(real: tuple[Path, Path]) -> None:
    schema, out = real
    committed = files(out)
    static = ["__init__.py", "catalog.py", "dao.py", "rows.py"]
    for name in static:
        (out / name).unlink()
    shutil.rmtree(out / "sql")

    status, stdout, _ = run_codegen("--schema", schema, "--out", out)
    assert status == 0
    rewritten = len(static) + len(list((out / "sql").rglob("*.sql")))
    assert (
        stdout
        == f"codegen: {rewritten} file(s) written, 0 removed, {len(committed)} in generated/\n"
    )
    assert files(out) == committed

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    status, stdout, _ = run_codegen("--schema", schema, "--out", out)
    assert (status, stdout) == (
        0,
        f"codegen: 0 file(s) written, 0 removed, {len(committed)} in generated/\n",
    )
    assert files(out) == committed
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps


def test_adding_a_column_needs_codegen_and_adds_one_migration(real: tuple[Path, Path]) -> None:
    schema, out = real
    text = schema.read_text(encoding="utf-8")
    # Last in its table: a new column anywhere else is refused (test_migration_safety.py).
    changed, count = re.subn(
        r"(\n  model_pricing:\n(?:    .*\n)*?    columns:\n(?:      .*\n)*)",
        r"\1      tier: {type: text, default: standard}\n",
        text,
    )
    assert count == 1
    schema.write_text(changed, encoding="utf-8")
    before = {d: migrations(out, d) for d in ("sqlite", "postgres")}
    assert before["sqlite"] == before["postgres"]

    # Not regenerated yet: --check fails, naming the missing migration first, then the
    # files the column is in (the schema hash is only in the lock, left as it is here).
    status, _, stderr = run_codegen("--check", "--schema", schema, "--out", out)
    static = ["sql/postgres/schema.sql", "sql/sqlite/schema.sql", "tables/model_pricing.py"]
    assert (status, stderr.splitlines()) == (
        1,
        [NO_MIGRATION] + [f"codegen: generated/{p} is stale or edited by hand" for p in static],
    )

    status, _, _ = run_codegen("--schema", schema, "--out", out)
    assert status == 0
    name = f"{len(before['sqlite']) + 1:04d}_add_model_pricing_tier"
    for d in ("sqlite", "postgres"):
        assert migrations(out, d) == [*before[d], f"{name}.sql"]
        assert (
            (out / "migrations" / d / f"{name}.sql")
            .read_text(encoding="utf-8")
            .endswith("\nALTER TABLE model_pricing ADD COLUMN tier TEXT DEFAULT 'standard';\n")
        )
        assert f"{name}.sql h1:" in (out / "migrations" / d / "migrations.sum").read_text(
            encoding="utf-8"
        )
    lock = json.loads((out / "schema.lock.json").read_text(encoding="utf-8"))
    assert lock["migration"] == name
    assert lock["tables"]["model_pricing"]["columns"]["tier"] == {
        "default": "standard",
        "nullable": True,
        "type": "text",
    }
    assert run_codegen("--check", "--schema", schema, "--out", out) == (0, "", "")
