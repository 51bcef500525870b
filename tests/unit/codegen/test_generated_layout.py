"""The shape of generated/: what a schema change touches, and that it reads like code.

Adding a nullable column changes exactly schema.yaml, that table's module,
schema.sql of each dialect, the lock (the one place with the schema hash) and
one new migration per dialect (with its dialect's migrations.sum). Generated
Python has no line over 100 characters and needs no reformatting.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from codegen.pysrc import LINE_LENGTH, sql_lines
from tests.unit.codegen.cases import GENERATED, SCHEMA, Base, run_codegen


def snapshot(root: Path) -> dict[str, bytes]:
    """Return schema.yaml and every file of generated/ under root, by relative path."""
    out = {"schema.yaml": (root / "schema.yaml").read_bytes()}
    for path in sorted((root / "generated").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def add_last_column(text: str, table: str, line: str) -> str:
    """Return schema text with a column line after the last column of a table."""
    block = re.search(rf"\n  {table}:\n(?:    .*\n)*?    columns:\n((?:      .*\n)+)", text)
    assert block is not None, table
    return text[: block.end(1)] + f"      {line}\n" + text[block.end(1) :]


@pytest.mark.parametrize("table", ["user_aliases", "request_logs"])
def test_adding_a_nullable_column_touches_only_its_own_files(tmp_path: Path, table: str) -> None:
    shutil.copytree(GENERATED, tmp_path / "generated", ignore=shutil.ignore_patterns("__pycache__"))
    schema = tmp_path / "schema.yaml"
    shutil.copy(SCHEMA, schema)
    before = snapshot(tmp_path)
    schema.write_text(
        add_last_column(SCHEMA.read_text(encoding="utf-8"), table, "nickname: {type: text}"),
        encoding="utf-8",
    )
    status, _, err = run_codegen("--schema", schema, "--out", tmp_path / "generated")
    assert status == 0, err
    after = snapshot(tmp_path)

    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    number = len(list((GENERATED / "migrations" / "sqlite").glob("*.sql"))) + 1
    migration = f"{number:04d}_add_{table}_nickname.sql"
    assert changed == sorted(
        [
            "schema.yaml",
            f"generated/tables/{table}.py",
            "generated/sql/postgres/schema.sql",
            "generated/sql/sqlite/schema.sql",
            "generated/schema.lock.json",
            f"generated/migrations/postgres/{migration}",
            "generated/migrations/postgres/migrations.sum",
            f"generated/migrations/sqlite/{migration}",
            "generated/migrations/sqlite/migrations.sum",
        ]
    )
    assert b"nickname: str | None = None" in after[f"generated/tables/{table}.py"]


def python_files(out: Path) -> list[Path]:
    """Return every generated Python file."""
    files = sorted(p for p in out.rglob("*.py") if "__pycache__" not in p.parts)
    assert files
    return files


@pytest.mark.parametrize("which", ["generated", "fixture"])
def test_no_generated_line_is_over_the_limit(which: str, base: Base) -> None:
    out = GENERATED if which == "generated" else base.out
    long = [
        f"{path.relative_to(out)}:{n}: {len(line)}"
        for path in python_files(out)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if len(line) > LINE_LENGTH
    ]
    assert not long


def test_every_statement_carries_its_name_line() -> None:
    # Each Stmt(...) literal of a generated module opens with the SQL's `-- name:` line.
    for path in python_files(GENERATED):
        text = path.read_text(encoding="utf-8")
        for name, sql in re.findall(r'Stmt\(\s*"([^"]+)",\s*"""\\\n(.*?)"""', text, re.DOTALL):
            assert sql.startswith(f"-- name: {name} :"), (path.name, name)
        assert not re.search(r'Stmt\(\s*"[^"]+",\s*"(?!"")', text), path.name


@pytest.mark.parametrize(
    ("sql", "wrapped"),
    [
        ("SELECT a FROM t", "SELECT a FROM t"),
        (
            "INSERT INTO t (" + ", ".join(f"column_{i}" for i in range(12)) + ") VALUES (?, ?)",
            "INSERT INTO t (column_0, column_1, column_2, column_3, column_4, column_5, column_6,\n"
            "  column_7, column_8, column_9, column_10, column_11)\n"
            "VALUES (?, ?)",
        ),
        # Never inside a string, and a fragment keeps its leading and trailing spaces.
        (
            " WHERE note = '" + "a, " * 40 + "' AND x = 1 ",
            " WHERE note =\n   '" + "a, " * 40 + "'\n   AND x = 1 ",
        ),
    ],
)
def test_sql_lines(sql: str, wrapped: str) -> None:
    assert sql_lines(sql, 90) == wrapped
