"""``ccbridge import`` and the dbmigrate argument aliases."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pytest

from ccbridge.legacy.cli import add_dbmigrate_command, add_import_command, main
from ccbridge.legacy.importer import LEGACY_FILES
from tests.legacy.test_importer import legacy_dir


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the settings at an SQLite file in tmp_path; return its path."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("DATABASE_TYPE", "DATABASE_URL", "CCBRIDGE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    target = tmp_path / "data" / "cc-bridge.db"
    monkeypatch.setenv("DATABASE_URL", str(target))
    return target


def test_import_dry_run_then_import(
    sqlite_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = legacy_dir(tmp_path)
    assert main(["import", "--from", str(source), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: nothing was written")
    assert "config.json: would import" in out and "request_logs: 40 read, 40 offered" in out
    assert not sqlite_env.exists()  # a dry run creates no database file

    assert main(["import", "--from", str(source)]) == 0
    out = capsys.readouterr().out
    assert "request_logs.db: imported" in out and "config revision is now 2" in out
    assert "sk-ant-secret" not in out  # keys never printed
    assert main(["import", "--from", str(source)]) == 0
    assert "config.json: already imported" in capsys.readouterr().out


def test_import_bad_file_is_one_line(
    sqlite_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = legacy_dir(tmp_path)
    (source / "config.json").write_text('{"upstream": [{"name": "a", "apiKeys": "k"}]}')
    assert main(["import", "--from", str(source)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "ccbridge import: config.json: $.upstream[0].apiKeys: expected a list of strings\n"
    )


def test_reference_flag_spellings_parse() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_import_command(sub)
    add_dbmigrate_command(sub)
    args = parser.parse_args(
        "dbmigrate -src-type sqlite -src-url a.db -dst-type postgresql "
        "-dst-url=postgresql://u@h/db -dry-run -tables settings,channels".split()
    )
    assert (args.source_type, args.source, args.target_type) == ("sqlite", "a.db", "postgresql")
    assert (args.target, args.dry_run, args.tables) == (
        "postgresql://u@h/db",
        True,
        "settings,channels",
    )
    assert callable(args.run)
    long = parser.parse_args(["dbmigrate", "--from", "a.db", "--to", "b.db", "--batch-size", "9"])
    assert (long.source, long.target, long.batch_size, long.dry_run) == ("a.db", "b.db", 9, False)


def test_dry_run_names_the_files_it_looked_for(
    sqlite_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["import", "--from", str(empty), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "dry run: nothing was written",
        f"no legacy files in {empty}; looked for {', '.join(LEGACY_FILES)}",
    ]
    assert {"config.json", "request_logs.db", "cc-bridge.db"} <= set(LEGACY_FILES)


@pytest.mark.parametrize(
    ("flag", "url"),
    [
        ("--to", "mysql://u@h/db"),
        ("--to", "MySQL://u:p@h:3306/db"),
        ("--to", "sqlite://relative.db"),
        ("--from", "mysql://u@h/db"),
        ("--from", "redis://h/0"),
    ],
)
def test_dbmigrate_refuses_unknown_url_schemes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    url: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE t (x)")
    other = {"--to": ["--from", str(source)], "--from": ["--to", str(tmp_path / "b.db")]}[flag]
    assert main(["dbmigrate", *other, flag, url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ccbridge dbmigrate: {flag}") and err.count("\n") == 1
    assert "u:p@" not in err
    # Nothing was created: no SQLite file at ./mysql:/u@h/db.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.db"]


def test_dbmigrate_unusable_target_path_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE t (x)")
    target = source / "x.db"  # under a file
    assert main(["dbmigrate", "--from", str(source), "--to", str(target)]) == 2
    assert capsys.readouterr().err == (
        f"ccbridge dbmigrate: SQLite database {target} (from --to): "
        f"cannot create its directory ({source} is not a directory)\n"
    )
