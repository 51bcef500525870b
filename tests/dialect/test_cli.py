"""``python -m ccbridge migrate|check`` as a user runs it, on both engines."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
_CLEARED = ("DATABASE_TYPE", "DATABASE_URL", "CCBRIDGE_DATA_DIR")


def ccbridge(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``cwd`` with ``env`` on top of a clean environment."""
    base = {k: v for k, v in os.environ.items() if k not in _CLEARED and not k.startswith("DB_")}
    base["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "ccbridge", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def cli_env(engine: str, empty_target: str | Path) -> dict[str, str]:
    """Environment pointing the CLI at an empty database of ``engine``."""
    if engine == "sqlite":
        return {"DATABASE_URL": f"sqlite:///{empty_target}"}
    return {"DATABASE_TYPE": "postgresql", "DATABASE_URL": str(empty_target)}


def drop_column(engine: str, target: str | Path) -> None:
    sql = "ALTER TABLE api_keys DROP COLUMN description"
    if engine == "sqlite":
        with sqlite3.connect(target) as conn:
            conn.execute(sql)
    else:
        with psycopg.connect(str(target), autocommit=True) as conn:
            conn.execute(sql)


def test_migrate_status_and_check(
    engine: str, empty_target: str | Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    before = ccbridge(tmp_path, cli_env, "check")
    # SQLite: no file yet (refused, not created); PostgreSQL: empty database.
    assert before.returncode == (2 if engine == "sqlite" else 1), before.stderr

    done = ccbridge(tmp_path, cli_env, "migrate")
    assert done.returncode == 0, done.stderr
    assert "applied 0001_initial.sql" in done.stdout

    again = ccbridge(tmp_path, cli_env, "migrate")
    assert again.returncode == 0 and "applied 0001" not in again.stdout

    listed = ccbridge(tmp_path, cli_env, "migrate", "--status")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("applied  0001_initial  ")
    assert "0 pending" in listed.stdout

    clean = ccbridge(tmp_path, cli_env, "check")
    assert (clean.returncode, clean.stderr) == (0, "")

    drop_column(engine, empty_target)
    drift = ccbridge(tmp_path, cli_env, "check")
    assert drift.returncode == 1
    assert "api_keys: missing column description" in drift.stdout.splitlines()


def test_check_on_empty_postgres_lists_pending_and_missing(pg_dsn: str, tmp_path: Path) -> None:
    env = {"DATABASE_TYPE": "postgres", "DATABASE_URL": pg_dsn}
    result = ccbridge(tmp_path, env, "check")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "pending migration 0001_initial.sql"
    assert "missing table channels" in lines


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"DATABASE_TYPE": "oracle"}, "DATABASE_TYPE must be sqlite or postgresql"),
        ({"DB_POOL_MAX": "lots"}, "DB_POOL_MAX must be an integer"),
        (
            {
                "DATABASE_TYPE": "postgres",
                "DATABASE_URL": "postgresql://u:hunter2-pw@127.0.0.1:1/x?connect_timeout=2",
            },
            "cannot connect to PostgreSQL",
        ),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], words: str) -> None:
    result = ccbridge(tmp_path, env, "migrate")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and words in result.stderr
    assert "Traceback" not in result.stderr and "hunter2-pw" not in result.stderr


def test_dotenv_is_read_and_real_env_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=from-dotenv.db\nDATABASE_TYPE=oracle\n")
    result = ccbridge(tmp_path, {"DATABASE_TYPE": "sqlite"}, "migrate")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-dotenv.db").exists()


def test_a_one_letter_password_garbles_nothing(tmp_path: Path) -> None:
    # Replacing the password's text turned "port" into "***ort"; only the
    # URL's password component may change.
    env = {
        "DATABASE_TYPE": "postgresql",
        "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x?connect_timeout=2",
    }
    result = ccbridge(tmp_path, env, "migrate")
    assert result.returncode == 2
    assert "password=***" in result.stderr and result.stderr.count("***") == 1
    assert "port 1 failed" in result.stderr and "accepting" in result.stderr


@pytest.mark.parametrize("command", ["migrate", "check", "import", "serve"])
@pytest.mark.parametrize("variable", ["DATABASE_URL", "CCBRIDGE_DATA_DIR"])
def test_unusable_sqlite_path_names_variable_and_path(
    tmp_path: Path, command: str, variable: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    value = blocker / "sub" / ("x.db" if variable == "DATABASE_URL" else "data")
    args = {"import": ["--from", str(tmp_path)], "serve": ["--port", "1"]}.get(command, [])
    result = ccbridge(tmp_path, {variable: str(value)}, command, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert f"(from {variable})" in result.stderr and str(value) in result.stderr
    if command != "check":  # check only reports the missing file
        assert f"{blocker} is not a directory" in result.stderr
    assert blocker.read_text() == "not a directory"


def test_a_directory_is_not_a_database_file(tmp_path: Path) -> None:
    result = ccbridge(tmp_path, {"DATABASE_URL": str(tmp_path)}, "migrate")
    assert result.returncode == 2
    assert result.stderr == (
        f"ccbridge migrate: SQLite database {tmp_path} (from DATABASE_URL): "
        "is a directory, not a database file\n"
    )


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite://relative.db"])
def test_unknown_url_scheme_is_refused_and_creates_nothing(tmp_path: Path, url: str) -> None:
    result = ccbridge(tmp_path, {"DATABASE_URL": url}, "migrate")
    assert result.returncode == 2
    assert result.stderr.startswith("ccbridge migrate: DATABASE_URL")
    assert list(tmp_path.iterdir()) == []
