"""The migration runner: apply generated/migrations/<dialect> in order.

Per docs/storage.md: ``migrations.sum`` must match the files; the
``schema_migrations`` table is created from ``bootstrap.sql``; a database
holding a migration the code does not know, or one whose checksum differs
from its file, is refused; each pending migration runs in its own
transaction together with its ``schema_migrations`` row, and the run stops
at the first failure. On PostgreSQL a session advisory lock on a dedicated
connection serialises instances that start together.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import generated
from ccbridge.db.base import Database, split_statements
from ccbridge.errors import MigrationError, StorageError
from generated.dao import Daos, Executor, Stmt
from generated.rows import SchemaMigrationsRow

__all__ = (
    "LOCK_KEY",
    "Migration",
    "MigrationStatus",
    "generated_root",
    "load_migrations",
    "migrate",
    "status",
)

# "ccbridge" in ASCII as a signed 64-bit advisory lock key.
LOCK_KEY: Final = int.from_bytes(b"ccbridge", "big", signed=True)
_NAME: Final = "migrate"
_SUM_FILE: Final = "migrations.sum"
_FILE_RE: Final = re.compile(r"^(\d+)_([A-Za-z0-9_]+)\.sql$")
_HASH_PREFIX: Final = "h1:"
_TRACKING_TABLE: Final = "schema_migrations"


@dataclass(frozen=True, slots=True)
class _Rules:
    """How the runner treats one dialect."""

    advisory_lock: bool  # serialise runners with migrations.lock/unlock
    rows_fail: bool  # a statement returning rows is a failed check


_RULES: Final = {
    "sqlite": _Rules(advisory_lock=False, rows_fail=True),
    "postgres": _Rules(advisory_lock=True, rows_fail=False),
}


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file.

    Attributes:
        version: The number before the first ``_``.
        name: The slug after it (stored in ``schema_migrations.name``).
        filename: ``NNNN_slug.sql``.
        checksum: sha256 hex of the file bytes.
        sql: The file's text.
    """

    version: int
    name: str
    filename: str
    checksum: str
    sql: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """Applied migrations (database rows) and pending ones (files)."""

    applied: tuple[SchemaMigrationsRow, ...]
    pending: tuple[Migration, ...]


def generated_root() -> Path:
    """Return the directory of the ``generated`` package."""
    # __path__ rather than __file__: also right for a namespace package
    # (an editable install made before generated/__init__.py existed).
    return Path(next(iter(generated.__path__)))


def load_migrations(dialect: str, root: Path | None = None) -> tuple[Migration, ...]:
    """Read a dialect's migrations, verified against ``migrations.sum``.

    Args:
        dialect: ``"sqlite"`` or ``"postgres"``.
        root: Directory laid out like ``generated/`` (tests use copies).

    Raises:
        MigrationError: A file was edited, added, removed or reordered
            without regenerating ``migrations.sum``, or is misnamed.
    """
    directory = (root or generated_root()) / "migrations" / dialect
    try:
        summary = (directory / _SUM_FILE).read_bytes()
    except FileNotFoundError:
        raise MigrationError(_NAME, f"{directory / _SUM_FILE} is missing") from None
    listed = _read_sum(summary, directory / _SUM_FILE)
    found = sorted(path.name for path in directory.glob("*.sql"))
    if [name for name, _ in listed] != found:
        raise MigrationError(
            _NAME,
            f"{directory} does not match {_SUM_FILE} (files {found}, listed "
            f"{[name for name, _ in listed]}); run make codegen",
        )
    migrations = tuple(_load(directory / name, digest) for name, digest in listed)
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise MigrationError(_NAME, f"{directory}: migration versions are not strictly increasing")
    return migrations


def _read_sum(summary: bytes, path: Path) -> list[tuple[str, str]]:
    head, _, rest = summary.partition(b"\n")
    if head.decode(errors="replace").strip() != _HASH_PREFIX + hashlib.sha256(rest).hexdigest():
        raise MigrationError(_NAME, f"{path} was edited by hand: its own checksum does not match")
    entries: list[tuple[str, str]] = []
    for line in rest.decode().splitlines():
        name, _, digest = line.partition(" ")
        if not line or not digest.startswith(_HASH_PREFIX):
            raise MigrationError(_NAME, f"{path}: malformed line {line!r}")
        entries.append((name, digest.removeprefix(_HASH_PREFIX)))
    return entries


def _load(path: Path, digest: str) -> Migration:
    match = _FILE_RE.match(path.name)
    if match is None:
        raise MigrationError(_NAME, f"{path.name}: expected NNNN_slug.sql")
    data = path.read_bytes()
    checksum = hashlib.sha256(data).hexdigest()
    if checksum != digest:
        raise MigrationError(
            _NAME, f"{path.name} differs from {_SUM_FILE}: migrations are append-only"
        )
    return Migration(int(match[1]), match[2], path.name, checksum, data.decode())


async def status(db: Database, root: Path | None = None) -> MigrationStatus:
    """Return applied and pending migrations without changing anything.

    Raises:
        MigrationError: The database and the code disagree (see migrate).
    """
    known = load_migrations(db.dialect, root)
    columns = await db.daos.catalog.columns()
    if not any(c.table_name == _TRACKING_TABLE for c in columns):
        return MigrationStatus(applied=(), pending=known)
    applied = tuple(await db.daos.schema_migrations.list(order_by="version"))
    return MigrationStatus(applied=applied, pending=_pending(known, applied))


async def migrate(db: Database, root: Path | None = None) -> tuple[Migration, ...]:
    """Apply every pending migration; return those this call applied.

    Raises:
        MigrationError: The database is newer than the code, an applied
            migration changed, or a migration failed (it left nothing
            behind, and the later ones were not tried).
    """
    known = load_migrations(db.dialect, root)
    bootstrap = _statements(
        (root or generated_root()) / "sql" / db.dialect / "bootstrap.sql", "bootstrap.sql"
    )
    done: list[Migration] = []
    async with _exclusive(db):
        await _bootstrap(db, bootstrap)
        applied = await db.daos.schema_migrations.list(order_by="version")
        for migration in _pending(known, applied):
            if await _apply(db, migration):
                done.append(migration)
    return tuple(done)


def _pending(
    known: Sequence[Migration], applied: Sequence[SchemaMigrationsRow]
) -> tuple[Migration, ...]:
    by_version = {m.version: m for m in known}
    for row in applied:
        migration = by_version.get(row.version)
        if migration is None:
            raise MigrationError(
                _NAME,
                f"the database has migration {row.version:04d}_{row.name}, which this "
                "ccbridge does not know: the database is newer; upgrade ccbridge",
            )
        if migration.checksum != row.checksum:
            raise MigrationError(
                _NAME,
                f"{migration.filename} changed after it was applied (database "
                f"{row.checksum[:12]}, file {migration.checksum[:12]}); "
                "migrations are append-only",
            )
    done = {row.version for row in applied}
    pending = tuple(m for m in known if m.version not in done)
    if pending and done and pending[0].version < max(done):
        raise MigrationError(
            _NAME,
            f"{pending[0].filename} is pending but {max(done):04d} is already applied; "
            "migrations are append-only",
        )
    return pending


@asynccontextmanager
async def _exclusive(db: Database) -> AsyncIterator[None]:
    """Hold the migration lock of the dialect, if it has one."""
    if not _RULES[db.dialect].advisory_lock:
        # NOTE(storage): SQLite needs none: each migration runs under
        # BEGIN IMMEDIATE and re-checks schema_migrations inside it.
        yield
        return
    async with db.dedicated() as executor:
        locks = Daos(executor).migrations
        await locks.lock(key=LOCK_KEY)
        yield
        # On an error the lock goes with the dedicated connection's session.
        await locks.unlock(key=LOCK_KEY)


async def _bootstrap(db: Database, statements: Sequence[Stmt]) -> None:
    async with db.raw_transaction() as executor:
        for stmt in statements:
            await executor.execute(stmt)


async def _apply(db: Database, migration: Migration) -> bool:
    """Apply one migration in its own transaction; False if already done."""
    rules = _RULES[db.dialect]
    statements = _statements_from_text(migration.sql, migration.filename)
    try:
        async with db.migration_transaction() as executor:
            daos = Daos(executor)
            # Another runner (SQLite: another process) may have won the race.
            if await daos.schema_migrations.get(migration.version) is not None:
                return False
            for stmt in statements:
                await _run(executor, stmt, rules)
            await daos.schema_migrations.insert(
                SchemaMigrationsRow(
                    version=migration.version,
                    name=migration.name,
                    checksum=migration.checksum,
                    applied_at=datetime.now(UTC),
                )
            )
    except StorageError as ex:
        raise MigrationError(
            _NAME,
            f"{migration.filename} failed and was rolled back: {ex}",
            kind=ex.kind,
            code=ex.code,
        ) from None
    return True


async def _run(executor: Executor, stmt: Stmt, rules: _Rules) -> None:
    if not rules.rows_fail:
        await executor.execute(stmt)
        return
    # SQLite: PRAGMA foreign_key_check lists violations as rows.
    rows = await executor.fetch_all(stmt)
    if rows:
        shown = ", ".join(map(str, rows[:3]))
        raise StorageError(stmt.name, f"check returned {len(rows)} row(s): {shown}")


def _statements(path: Path, label: str) -> list[Stmt]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MigrationError(_NAME, f"{path} is missing") from None
    return _statements_from_text(text, label)


def _statements_from_text(text: str, label: str) -> list[Stmt]:
    try:
        parts = split_statements(text)
    except ValueError as ex:
        raise MigrationError(_NAME, f"{label}: {ex}") from None
    return [Stmt(f"{label}#{i}", sql, True) for i, sql in enumerate(parts, start=1)]
