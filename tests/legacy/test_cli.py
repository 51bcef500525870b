"""``ccbridge import`` and the dbmigrate argument aliases."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ccbridge.legacy.cli import add_dbmigrate_command, add_import_command, main
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
