"""Copy a ccbridge database between SQLite and PostgreSQL, exactly.

The destination schema is created or brought up to date by the migration
runner; then every table (``schema_migrations`` excepted) is copied in
dependency order, each read by one statement and written in batches that
commit on their own; a large table copied into PostgreSQL, and any
large table checked at the end, is shared by several processes
(``parallel_copy``). Rows travel as typed tuples
(``table_layout``: booleans, timestamps, json, blobs and NULLs converted
exactly as the generated codecs do) and reach PostgreSQL by binary COPY.
A table that is empty when its copy starts loses its non-unique indexes
until the end of its copy (``secondary_indexes``). Writes skip existing
keys (settings: upsert), so a re-run adds nothing twice and an
interrupted run resumes; the end compares per table the row counts and
an order-independent content checksum.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final, TextIO

from ccbridge.db.base import Database
from ccbridge.db.migrate import generated_root, migrate
from ccbridge.db.migrate import status as migration_status
from ccbridge.db.postgres import PostgresDatabase
from ccbridge.errors import MigrationError, StorageError
from ccbridge.legacy.batches import copy_batches, prefetched
from ccbridge.legacy.checksum import TableChecksum
from ccbridge.legacy.parallel_copy import checksum_in_parallel, copy_in_parallel
from ccbridge.legacy.progress import Progress
from ccbridge.legacy.row_readers import RowRange, row_bounds, table_rows
from ccbridge.legacy.row_writers import table_writer
from ccbridge.legacy.secondary_indexes import drop_secondary, rebuild_missing
from ccbridge.legacy.sequences import sync_id_sequences
from ccbridge.legacy.sqldump import Recorder, SqlRenderer
from ccbridge.legacy.table_layout import layout
from generated.dao import Daos, Stmt

__all__ = (
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_JOBS",
    "CopyResult",
    "TableResult",
    "check_source",
    "copy_database",
    "dump_sql",
    "select_tables",
    "table_order",
    "verify",
)

DEFAULT_BATCH_SIZE: Final = 5000
# Processes that copy a large table into PostgreSQL, and check large tables.
DEFAULT_JOBS: Final = min(os.cpu_count() or 1, 8)
# Below this many rows to copy, starting worker processes (about half a
# second) costs more than they save.
PARALLEL_MIN_ROWS: Final = 50_000
# Rows per read when only checking or dumping (nothing is committed).
_READ_BATCH: Final = 20_000
# Settings are upserted: the destination's migrations seed config_revision.
_UPSERTED: Final = frozenset(("settings",))
# BEGIN/COMMIT around a dry-run script. NOTE(legacy): framing of an output
# file, not statements ccbridge runs; both engines spell them alike.
_SCRIPT_BEGIN: Final = "BEGIN;"
_SCRIPT_COMMIT: Final = "COMMIT;"


@dataclass(slots=True)
class TableResult:
    """The copy and check of one table."""

    table: str
    copied: int = 0
    skipped: bool = False
    source_count: int = 0
    target_count: int = 0
    source_checksum: str = ""
    target_checksum: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when counts and checksums agree."""
        return (
            self.source_count == self.target_count and self.source_checksum == self.target_checksum
        )

    def line(self) -> str:
        """Return one line of the final report."""
        mark = "ok" if self.ok else "MISMATCH"
        return (
            f"{self.table:<28} source {self.source_count:>10,}  target {self.target_count:>10,}  "
            f"checksum {self.source_checksum[:12]} / {self.target_checksum[:12]}  {mark}"
        )


@dataclass(slots=True)
class CopyResult:
    """All tables of one dbmigrate run."""

    tables: list[TableResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every table matches."""
        return all(t.ok for t in self.tables)


@cache
def table_order() -> tuple[str, ...]:
    """Return every table but ``schema_migrations``, parents first.

    The tables and their references come from ``schema.lock.json`` (the
    schema the migrations build), in schema.yaml order, so a table added
    later is copied without a change here.
    """
    lock = json.loads((generated_root() / "schema.lock.json").read_text(encoding="utf-8"))
    tables: dict[str, Any] = lock["tables"]
    parents = {
        name: {c["references"]["table"] for c in t["columns"].values() if c.get("references")}
        for name, t in tables.items()
    }
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name not in ordered:
            for parent in sorted(parents[name] - {name}):
                visit(parent)
            ordered.append(name)

    for name in (n for n in Daos.__slots__ if n in tables):
        visit(name)
    return tuple(ordered)


def select_tables(names: str | Sequence[str] | None) -> list[str]:
    """Return the tables to copy, in dependency order.

    Raises:
        ValueError: An unknown table name.
    """
    known = table_order()
    if not names:
        return list(known)
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names)]
    unknown = sorted({n for n in wanted if n and n not in known})
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [t for t in known if t in wanted]


async def check_source(db: Database) -> None:
    """Refuse a source that is not a ccbridge database at this version.

    Raises:
        MigrationError: The source is missing migrations, newer, or not
            a ccbridge database (a legacy cc-bridge file needs ``import``).
    """
    try:
        state = await migration_status(db)
    except MigrationError:
        raise
    except StorageError as ex:
        raise MigrationError(
            "dbmigrate",
            f"the source is not a ccbridge database ({ex.reason}); "
            "legacy cc-bridge files are brought in with `ccbridge import`",
        ) from None
    if not state.applied:
        tables = {c.table_name for c in await db.daos.catalog.columns()}
        raise MigrationError(
            "dbmigrate",
            "the source is not a ccbridge database; legacy cc-bridge files are brought in "
            "with `ccbridge import`"
            if tables
            else "the source database is empty",
        )
    if state.pending:
        raise MigrationError(
            "dbmigrate",
            "the source database is not at this ccbridge's schema version; "
            "run `ccbridge migrate` on it first",
        )


async def copy_database(
    source: Database,
    target: Database,
    tables: Sequence[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    jobs: int = 1,
    progress: Progress | None = None,
) -> CopyResult:
    """Migrate the target's schema, copy ``tables``, then verify them.

    ``jobs`` processes copy a large table into PostgreSQL, and check
    large tables.

    Raises:
        MigrationError: The source is unsuitable or the target's schema
            cannot be brought up to date.
        StorageError: A read or write failed (re-running resumes).
    """
    progress = progress or Progress(enabled=False)
    await check_source(source)
    await migrate(target)
    result = CopyResult()
    for table in tables:
        copy = _TableCopy(source, target, table, batch_size, jobs, progress)
        result.tables.append(await copy.run())
    async with target.transaction() as tx:
        await sync_id_sequences(tx, tables)
    await verify(source, target, result.tables, jobs=jobs, progress=progress)
    return result


async def verify(
    source: Database,
    target: Database,
    results: Sequence[TableResult],
    *,
    jobs: int = 1,
    progress: Progress | None = None,
) -> None:
    """Fill in counts and checksums of both sides.

    A source checksum taken while copying (the copy read every row) is
    kept; the other sides are read now, a large table by ``jobs``
    processes.
    """
    progress = progress or Progress(enabled=False)
    for result in results:
        if not result.source_checksum:
            src = await _checksum(source, result.table, progress, "source", jobs)
            result.source_count, result.source_checksum = src.count, src.hexdigest
        dst = await _checksum(target, result.table, progress, "target", jobs)
        result.target_count, result.target_checksum = dst.count, dst.hexdigest


async def _checksum(
    db: Database, table: str, progress: Progress, side: str, jobs: int
) -> TableChecksum:
    lay, count = layout(table), await getattr(db.daos, table).count()
    progress.start(f"check {side} {table}", count)
    bounds = await _shared_bounds(db, table, count, jobs)
    if bounds is not None:
        checksum = await checksum_in_parallel(
            db, table, bounds, batch_size=_READ_BATCH, jobs=jobs, progress=progress
        )
    else:
        checksum = await copy_batches(table_rows(db, lay, _READ_BATCH), None, lay, progress.advance)
    progress.finish(transient=True)
    return checksum


async def _shared_bounds(db: Database, table: str, rows: int, jobs: int) -> RowRange | None:
    """Return the bounds to share ``rows`` of a table among ``jobs`` processes.

    None: one process reads them (few rows, one job, or a table that
    cannot be read a range at a time).
    """
    if jobs < 2 or rows < PARALLEL_MIN_ROWS:
        return None
    return await row_bounds(db, layout(table))


@dataclass(frozen=True, slots=True)
class _TableCopy:
    """The copy of one table."""

    source: Database
    target: Database
    table: str
    batch_size: int
    jobs: int
    progress: Progress

    async def run(self) -> TableResult:
        """Copy the rows the target lacks, then put its indexes back."""
        table, target, progress = self.table, self.target, self.progress
        result = TableResult(table)
        started = time.monotonic()
        total = await getattr(self.source.daos, table).count()
        present = await getattr(target.daos, table).count()
        progress.start(table, total)
        upsert = table in _UPSERTED
        if not upsert and present == total:
            result.skipped = True  # complete already (an earlier run); verified below
            await _rebuild_indexes(target, table)  # that run may have died before it
            progress.advance(total)
            progress.finish("(already copied)")
            return result
        fresh = present == 0 and not upsert
        if fresh and total:
            async with target.transaction() as tx:
                await drop_secondary(tx, table)
        checksum = await self._rows(fresh, upsert, total - present)
        await _rebuild_indexes(target, table)
        result.copied = checksum.count
        result.source_count, result.source_checksum = checksum.count, checksum.hexdigest
        progress.finish()
        result.seconds = time.monotonic() - started
        return result

    async def _rows(self, fresh: bool, upsert: bool, missing: int) -> TableChecksum:
        """Copy every row of the source table; return their checksum."""
        source, target, lay = self.source, self.target, layout(self.table)
        # Into PostgreSQL only: SQLite takes one writer at a time.
        if isinstance(target, PostgresDatabase) and not upsert:
            bounds = await _shared_bounds(source, self.table, missing, self.jobs)
            if bounds is not None:
                return await copy_in_parallel(
                    source,
                    target,
                    self.table,
                    bounds,
                    fresh=fresh,
                    batch_size=self.batch_size,
                    jobs=self.jobs,
                    progress=self.progress,
                )
        async with table_writer(target, lay, fresh=fresh, upsert=upsert) as write:
            rows = table_rows(source, lay, self.batch_size)
            return await copy_batches(rows, write, lay, self.progress.advance)


async def _rebuild_indexes(target: Database, table: str) -> None:
    async with target.transaction() as tx:
        await rebuild_missing(tx, table)


async def dump_sql(
    source: Database,
    dialect: str,
    out: TextIO,
    tables: Sequence[str],
    *,
    progress: Progress | None = None,
    label: str = "",
) -> int:
    """Write the copy as an SQL script for a ``dialect`` database.

    Every row becomes the generated upsert of its table, with literals
    inlined; the script is one transaction and runs on a database
    migrated by ``ccbridge migrate``. Returns the number of rows.

    Raises:
        MigrationError: The source is unsuitable.
    """
    progress = progress or Progress(enabled=False)
    await check_source(source)
    renderer = SqlRenderer(dialect)

    def sink(stmt: Stmt, values: Sequence[Any]) -> None:
        out.write(renderer.render(stmt, values))
        out.write("\n")

    recorder = Daos(Recorder(dialect, sink))
    out.write(f"-- ccbridge dbmigrate --dry-run: {label or 'source'} as {dialect} SQL.\n")
    out.write("-- Run it on a database migrated by `ccbridge migrate` (same version).\n")
    out.write(_SCRIPT_BEGIN + "\n")
    rows = 0
    for table in tables:
        progress.start(table, await getattr(source.daos, table).count())
        out.write(f"-- {table}\n")
        lay = layout(table)
        async with aclosing(prefetched(table_rows(source, lay, _READ_BATCH))) as batches:
            async for batch in batches:
                await getattr(recorder, table).upsert_many([lay.row(v) for v in batch])
                rows += len(batch)
                progress.advance(len(batch))
        progress.finish()
    if dialect == "postgres":
        await sync_id_sequences(recorder, tables)
    out.write(_SCRIPT_COMMIT + "\n")
    return rows
