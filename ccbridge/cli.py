"""The ``ccbridge`` command line.

Each subcommand is a ``_Command``: a name, an ``add_arguments`` function
and a handler. Settings come from the environment overlaid on ``.env``.
Expected failures (bad settings, unreachable or mismatched database) print
one line to stderr and exit 2; drift found by ``check`` exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TextIO

from ccbridge import __version__
from ccbridge.db.base import connect
from ccbridge.db.check import check_schema
from ccbridge.db.migrate import MigrationStatus, migrate, status
from ccbridge.errors import DatabaseClosedError, SettingsError, StorageError
from ccbridge.legacy.cli import add_dbmigrate_command, add_import_command
from ccbridge.serve import add_serve_arguments, run_serve
from ccbridge.settings import Settings, environ_with_dotenv

__all__ = ("EXIT_DRIFT", "EXIT_ERROR", "EXIT_OK", "build_parser", "main")

EXIT_OK: Final = 0
EXIT_DRIFT: Final = 1
EXIT_ERROR: Final = 2
_EXIT_INTERRUPTED: Final = 130


@dataclass(frozen=True, slots=True)
class _Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Settings], int]


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def _migrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--status", action="store_true", help="list applied and pending migrations; change nothing"
    )


def _run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    if args.status:
        _require_existing(settings)
        return asyncio.run(_show_status(settings, sys.stdout))
    return asyncio.run(_apply(settings, sys.stdout))


def _run_check(args: argparse.Namespace, settings: Settings) -> int:
    del args
    _require_existing(settings)
    return asyncio.run(_check(settings, sys.stdout))


# NOTE(cli): import and dbmigrate are added by ccbridge.legacy.cli.
_COMMANDS: Final = (
    _Command(
        "serve",
        "run the proxy",
        add_serve_arguments,
        run_serve,
    ),
    _Command(
        "migrate",
        "apply pending schema migrations",
        _migrate_arguments,
        _run_migrate,
    ),
    _Command(
        "check",
        "compare the database with the schema; exit 1 on drift",
        _no_arguments,
        _run_check,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ccbridge",
        description="Self-hosted gateway for coding agents. Settings come from the "
        "environment and ./.env (DATABASE_TYPE, DATABASE_URL, DB_*, ...).",
    )
    parser.add_argument("--version", action="version", version=f"ccbridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    add_import_command(commands)
    add_dbmigrate_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(environ_with_dotenv())
        return int(args.run(args, settings))
    except (SettingsError, StorageError, DatabaseClosedError) as ex:
        message = " ".join(str(ex).split())  # one line, whatever the driver said
        print(f"ccbridge {args.command}: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return _EXIT_INTERRUPTED


def _require_existing(settings: Settings) -> None:
    """Refuse to inspect an SQLite file that does not exist yet.

    Opening it would create an empty database as a side effect.
    """
    path = settings.sqlite_path
    if settings.database_type == "sqlite" and str(path) != ":memory:" and not path.exists():
        raise SettingsError(
            f"no SQLite database at {path} (from {settings.sqlite_origin}); "
            "run 'ccbridge migrate' first"
        )


async def _apply(settings: Settings, out: TextIO) -> int:
    async with connect(settings) as db:
        applied = await migrate(db)
        current = await status(db)
    for migration in applied:
        print(f"applied {migration.filename}", file=out)
    print(f"schema is up to date ({len(current.applied)} migrations applied)", file=out)
    return EXIT_OK


async def _show_status(settings: Settings, out: TextIO) -> int:
    async with connect(settings) as db:
        current = await status(db)
    _print_status(current, out)
    return EXIT_OK


def _print_status(current: MigrationStatus, out: TextIO) -> None:
    for row in current.applied:
        stamp = row.applied_at.isoformat(timespec="seconds")
        print(f"applied  {row.version:04d}_{row.name}  {stamp}", file=out)
    for migration in current.pending:
        print(f"pending  {migration.filename}", file=out)
    print(f"{len(current.applied)} applied, {len(current.pending)} pending", file=out)


async def _check(settings: Settings, out: TextIO) -> int:
    async with connect(settings) as db:
        current = await status(db)
        findings = [f"pending migration {m.filename}" for m in current.pending]
        findings += await check_schema(db)
    for finding in findings:
        print(finding, file=out)
    if findings:
        print(f"{len(findings)} difference(s) from schema.yaml", file=out)
        return EXIT_DRIFT
    print(f"database matches schema.yaml ({settings.database_display})", file=out)
    return EXIT_OK
