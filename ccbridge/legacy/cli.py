"""``ccbridge import`` and ``ccbridge dbmigrate``: argparse wiring.

``ccbridge.cli`` adds both commands with :func:`add_import_command` and
:func:`add_dbmigrate_command` (or builds its own parsers with the
``add_*_arguments`` functions). Each parser stores its handler in
``args.run``; ``run(args, settings)`` returns the exit status, following
``ccbridge.cli``: 0 ok, 1 a copy that does not match its source, 2 an
expected failure (bad usage or settings, a bad legacy file, a database
error) reported in one line on stderr. ``python -m ccbridge.legacy`` runs
the two commands on their own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final, TextIO, TypeAlias

from ccbridge.db.base import Database, connect
from ccbridge.db.migrate import migrate
from ccbridge.errors import DatabaseClosedError, SettingsError, StorageError
from ccbridge.legacy.dbmigrate import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_JOBS,
    copy_database,
    dump_sql,
    select_tables,
)
from ccbridge.legacy.errors import LegacyImportError
from ccbridge.legacy.importer import import_directory
from ccbridge.legacy.progress import Progress
from ccbridge.legacy.targets import Target, parse_kind, parse_target
from ccbridge.settings import Settings, environ_with_dotenv

__all__ = (
    "IMPORT_HELP",
    "DBMIGRATE_HELP",
    "add_dbmigrate_arguments",
    "add_dbmigrate_command",
    "add_import_arguments",
    "add_import_command",
    "main",
    "run_dbmigrate",
    "run_import",
)

# What add_subparsers returns; its class is private, so only named for the type checker.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

IMPORT_HELP: Final = "import a cc-bridge (Go) data directory into the database"
DBMIGRATE_HELP: Final = "copy a ccbridge database between SQLite and PostgreSQL"
_DEFAULT_TARGET_TYPE: Final = "postgresql"
_OK, _MISMATCH, _ERROR = 0, 1, 2


def add_import_command(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``import --from DIR [--dry-run]``; its handler is ``args.run``."""
    parser = subparsers.add_parser("import", help=IMPORT_HELP, description=IMPORT_HELP)
    add_import_arguments(parser)
    parser.set_defaults(run=run_import)
    return parser


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``ccbridge import``."""
    parser.epilog = (
        "Imports config.json, pricing.json, model-aliases.json, quota_usage.json, "
        "cc-bridge.db and request_logs.db from DIR into the configured database "
        "(DATABASE_TYPE, DATABASE_URL) in one transaction. A file imported before is not "
        "imported again; the files themselves are only read."
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        required=True,
        metavar="DIR",
        help="directory holding the legacy files (cc-bridge's .config)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be imported; write nothing"
    )


def add_dbmigrate_command(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``dbmigrate --from SRC --to DST …``; its handler is ``args.run``."""
    parser = subparsers.add_parser("dbmigrate", help=DBMIGRATE_HELP, description=DBMIGRATE_HELP)
    add_dbmigrate_arguments(parser)
    parser.set_defaults(run=run_dbmigrate)
    return parser


def add_dbmigrate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``ccbridge dbmigrate`` (and the reference's)."""
    parser.epilog = (
        "SRC/DST: an SQLite path or a postgresql:// URL. Every table is copied, then row "
        "counts and content checksums are compared (exit 1 on a mismatch). Re-running "
        "adds nothing twice; an interrupted copy resumes."
    )
    add = parser.add_argument
    add("--from", "-src-url", "--src-url", dest="source", metavar="SRC",
        help="source database (default: the configured one, from DATABASE_TYPE and "
        "DATABASE_URL)")  # fmt: skip
    add("--to", "-dst-url", "--dst-url", dest="target", metavar="DST",
        help="destination database; required unless --dry-run")  # fmt: skip
    add("-src-type", "--src-type", dest="source_type", metavar="sqlite|postgresql",
        help="engine of SRC (default: guessed from SRC)")  # fmt: skip
    add("-dst-type", "--dst-type", dest="target_type", metavar="sqlite|postgresql",
        help="engine of DST (default: guessed from DST; with --dry-run and no --to, "
        "postgresql)")  # fmt: skip
    add("--dry-run", "-dry-run", dest="dry_run", action="store_true",
        help="write the copy as SQL for the destination engine instead")  # fmt: skip
    add("--output", "-o", dest="output", type=Path, metavar="FILE",
        help="where --dry-run writes (default: stdout); it holds upstream keys")  # fmt: skip
    add("--tables", "-tables", dest="tables", metavar="T1,T2",
        help="comma-separated tables to copy (default: every table)")  # fmt: skip
    add("--batch-size", "-batch-size", dest="batch_size", type=int, default=DEFAULT_BATCH_SIZE,
        metavar="ROWS", help=f"rows per insert (default {DEFAULT_BATCH_SIZE})")  # fmt: skip
    add("--jobs", "-j", dest="jobs", type=int, default=DEFAULT_JOBS, metavar="N",
        help="processes that copy a large table into PostgreSQL and check large tables "
        "(default: the CPU count, at most 8)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``import`` or ``dbmigrate`` from the command line."""
    parser = argparse.ArgumentParser(prog="python -m ccbridge.legacy")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_import_command(subparsers)
    add_dbmigrate_command(subparsers)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(environ_with_dotenv())
    except SettingsError as ex:
        return _fail(args.command, ex)
    return int(args.run(args, settings))


# -- import ----------------------------------------------------------------------------


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    """Handle ``ccbridge import``."""
    try:
        return asyncio.run(_import(settings, args.source, args.dry_run, sys.stdout))
    except (LegacyImportError, StorageError, DatabaseClosedError) as ex:
        return _fail("import", ex)


async def _import(settings: Settings, source: Path, dry_run: bool, out: TextIO) -> int:
    async with _import_target(settings, dry_run) as db:
        if not dry_run:
            await migrate(db)
        report = await import_directory(db, source, dry_run=dry_run)
    if dry_run:
        out.write("dry run: nothing was written\n")
    for line in report.lines():
        out.write(line + "\n")
    return _OK


def _import_target(settings: Settings, dry_run: bool) -> Database:
    path = settings.sqlite_path
    if dry_run and settings.database_type == "sqlite" and not path.exists():
        # A dry run must not create the database file: use an empty one.
        from ccbridge.db.sqlite import SqliteDatabase

        return SqliteDatabase(":memory:")
    return connect(settings)


# -- dbmigrate -------------------------------------------------------------------------


def run_dbmigrate(args: argparse.Namespace, settings: Settings) -> int:
    """Handle ``ccbridge dbmigrate``."""
    try:
        if args.source is None:
            args.source = _configured(settings)
        source = parse_target(args.source, args.source_type, "--from")
        tables = select_tables(args.tables)
        if args.batch_size < 1:
            raise ValueError("--batch-size must be at least 1")
        if args.jobs < 1:
            raise ValueError("--jobs must be at least 1")
        if source.dialect == "sqlite" and not source.path.is_file():
            raise ValueError(f"--from: no SQLite database at {source.path}")
        progress = Progress()
        if args.dry_run:
            dialect = _dump_dialect(args)
            return asyncio.run(_dump(source, dialect, tables, args, progress))
        if not args.target:
            raise ValueError("--to is required (or --dry-run)")
        target = parse_target(args.target, args.target_type, "--to")
        _check_distinct(source, target)
        return asyncio.run(_copy(source, target, tables, args, progress))
    except (SettingsError, ValueError, StorageError, DatabaseClosedError) as ex:
        return _fail("dbmigrate", ex)


def _configured(settings: Settings) -> str:
    if settings.database_type == "postgres":
        return settings.postgres_conninfo
    return str(settings.sqlite_path)


def _dump_dialect(args: argparse.Namespace) -> str:
    if args.target:
        return parse_target(args.target, args.target_type, "--to").dialect
    return parse_kind(args.target_type or _DEFAULT_TARGET_TYPE)


def _check_distinct(source: Target, target: Target) -> None:
    same = (
        source.path.resolve() == target.path.resolve()
        if source.dialect == target.dialect == "sqlite"
        else source.location == target.location
    )
    if same:
        raise ValueError("source and destination are the same database")


async def _copy(
    source: Target, target: Target, tables: list[str], args: argparse.Namespace, progress: Progress
) -> int:
    async with source.database() as src, target.database() as dst:
        result = await copy_database(
            src, dst, tables, batch_size=args.batch_size, jobs=args.jobs, progress=progress
        )
    print(f"{source.display} -> {target.display}")
    for table in result.tables:
        print(table.line())
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not result.ok:
        print("ccbridge dbmigrate: the copy does not match its source", file=sys.stderr)
        return _MISMATCH
    return _OK


async def _dump(
    source: Target, dialect: str, tables: list[str], args: argparse.Namespace, progress: Progress
) -> int:
    async with source.database() as src:
        if args.output is None:
            rows = await _dump_to(src, dialect, tables, args, progress, sys.stdout)
        else:
            # The script holds upstream keys in clear: readable by the owner only.
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w", encoding="utf-8") as out:
                rows = await _dump_to(src, dialect, tables, args, progress, out)
    where = args.output or "stdout"
    print(f"dry run: {rows:,} rows written as {dialect} SQL to {where}", file=sys.stderr)
    return _OK


async def _dump_to(
    src: Database,
    dialect: str,
    tables: list[str],
    args: argparse.Namespace,
    progress: Progress,
    out: TextIO,
) -> int:
    label = parse_target(args.source, args.source_type).display
    return await dump_sql(src, dialect, out, tables, progress=progress, label=label)


def _fail(command: str, ex: Exception) -> int:
    message = " ".join(str(ex).split())  # one line, whatever the driver said
    print(f"ccbridge {command}: {message}", file=sys.stderr)
    return _ERROR
