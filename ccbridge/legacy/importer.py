"""Import a cc-bridge (Go) data directory into the database, once.

Every legacy file found (config.json, pricing.json, model-aliases.json,
quota_usage.json, cc-bridge.db, request_logs.db) that is not yet recorded
is imported in ONE transaction, with one ``settings`` marker per file
(category ``import``, key ``import:<file>``, value ``{sha256, size,
mtime_ns, imported_at, counts}``) and a config revision bump. A file whose
marker exists is never imported again; if its content changed since, that
is reported instead. Originals are only ever opened for reading. Any bad
input raises one LegacyImportError and the transaction rolls back.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from ccbridge.db.base import Database
from ccbridge.db.migrate import status as migration_status
from ccbridge.legacy.aliases_json import parse_aliases
from ccbridge.legacy.channel_map import ChannelMap
from ccbridge.legacy.config_json import ConfigImport, parse_config
from ccbridge.legacy.errors import LegacyImportError
from ccbridge.legacy.go_config_db import GoConfig, read_go_config
from ccbridge.legacy.legacy_db import BATCH_SIZE, ImportContext, import_legacy_database
from ccbridge.legacy.legacy_sql import LegacyDatabase
from ccbridge.legacy.pricing_json import PricingImport, parse_pricing
from ccbridge.legacy.report import FileReport, ImportReport
from ccbridge.legacy.sequences import sync_id_sequences
from ccbridge.legacy.usage_json import parse_usage
from ccbridge.store import rollupdb
from generated.dao import Daos
from generated.rows import ModelAliasesRow, SettingsRow

__all__ = (
    "IMPORT_CATEGORY",
    "LEGACY_FILES",
    "import_directory",
    "import_on_start",
    "marker_key",
)

IMPORT_CATEGORY: Final = "import"
CONFIG: Final = "config.json"
PRICING: Final = "pricing.json"
ALIASES: Final = "model-aliases.json"
USAGE: Final = "quota_usage.json"
GO_DATABASE: Final = "cc-bridge.db"
LOG_DATABASE: Final = "request_logs.db"
# Import order: config first (it fixes channel positions), the newer
# database before the older log file (its rows win on conflicts).
LEGACY_FILES: Final = (CONFIG, PRICING, ALIASES, USAGE, GO_DATABASE, LOG_DATABASE)
_DATABASES: Final = frozenset((GO_DATABASE, LOG_DATABASE))
_HASH_CHUNK: Final = 1 << 20
# A VACUUM rewrites the whole file: worth it only when a tenth of it is free.
_VACUUM_ABOVE: Final = 0.1


def marker_key(name: str) -> str:
    """Return the settings key that records the import of ``name``."""
    return f"{IMPORT_CATEGORY}:{name}"


async def import_on_start(db: Database, data_dir: Path, *, skip: bool = False) -> ImportReport:
    """Import legacy files of the data directory on first start.

    Call it after the migrations and before anything seeds tables.

    Args:
        db: The open, migrated database.
        data_dir: Where cc-bridge kept its files (``.config``).
        skip: ``SKIP_MIGRATION=true``: import nothing.

    Raises:
        LegacyImportError: A legacy file is bad; nothing was imported.
        StorageError: The database failed; nothing was imported.
    """
    if skip:
        report = ImportReport(data_dir)
        report.warnings.append("SKIP_MIGRATION=true: legacy files were not examined")
        return report
    if not data_dir.is_dir():
        return ImportReport(data_dir, looked_for=LEGACY_FILES)
    return await import_directory(db, data_dir)


async def import_directory(
    db: Database, source: Path, *, dry_run: bool = False, batch_size: int = BATCH_SIZE
) -> ImportReport:
    """Import the legacy files of ``source`` not imported before.

    Args:
        db: The open database (migrated, unless ``dry_run``).
        source: Directory holding the legacy files.
        dry_run: Read and convert everything, write nothing.
        batch_size: Rows per bulk insert for legacy databases.

    Raises:
        LegacyImportError: A legacy file is bad; nothing was imported.
        StorageError: The database failed; nothing was imported.
    """
    report = ImportReport(source, dry_run=dry_run, looked_for=LEGACY_FILES)
    found = await asyncio.to_thread(_discover, source, db)
    if not found:
        return report
    fresh = dry_run and bool((await migration_status(db)).pending)
    markers = {} if fresh else await _markers(db.daos)
    candidates = await _examine(found, markers, report)
    if not candidates:
        return report
    plan = await _Plan.load(candidates, report)
    try:
        if dry_run:
            await _dry_run(db, plan, fresh)
        else:
            await _commit(db, plan, report)
    finally:
        plan.close()
    return report


# -- discovery and markers ---------------------------------------------------------


def _discover(source: Path, db: Database) -> list[FileReport]:
    if not source.is_dir():
        raise LegacyImportError(str(source), "", "not a directory")
    own = _own_sqlite_file(db)
    found: list[FileReport] = []
    for name in LEGACY_FILES:
        path = source / name
        if path.is_file() and (own is None or path.resolve() != own):
            found.append(FileReport(name, path))
    return found


def _own_sqlite_file(db: Database) -> Path | None:
    path = getattr(db, "path", None) if db.dialect == "sqlite" else None
    return Path(path).resolve() if path is not None and str(path) != ":memory:" else None


async def _markers(daos: Daos) -> dict[str, dict[str, Any]]:
    rows = await daos.settings.list(where={"category": IMPORT_CATEGORY})
    markers: dict[str, dict[str, Any]] = {}
    for row in rows:
        try:
            markers[row.key] = json.loads(row.value)
        except ValueError:
            markers[row.key] = {}
    return markers


async def _examine(
    found: Sequence[FileReport], markers: dict[str, dict[str, Any]], report: ImportReport
) -> list[FileReport]:
    """Fill in digests and statuses; return the files still to import."""
    candidates: list[FileReport] = []
    for file in found:
        report.files.append(file)
        marker = markers.get(marker_key(file.name))
        file.sha256 = await asyncio.to_thread(_digest, file.path, marker)
        if marker is None:
            candidates.append(file)
        elif marker.get("sha256") == file.sha256:
            file.status = "already imported"
            file.detail = f"on {marker.get('imported_at', '?')}"
            if marker.get("outcome"):
                file.detail += f", {marker['outcome']}"
        else:
            file.status = "changed since import"
            file.detail = f"imported on {marker.get('imported_at', '?')}; not imported again"
            report.warnings.append(
                f"{file.path} changed after it was imported; the database was left as it is"
            )
    return candidates


def _digest(path: Path, marker: dict[str, Any] | None) -> str:
    """Return the file's sha256; trust the marker if size and mtime match."""
    stat = path.stat()
    if marker and marker.get("size") == stat.st_size and marker.get("mtime_ns") == stat.st_mtime_ns:
        return str(marker.get("sha256", ""))
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- the plan: every file parsed or opened before anything is written ---------------


@dataclass(slots=True)
class _Plan:
    """Candidate files, parsed (JSON) or opened read-only (databases)."""

    files: dict[str, FileReport]
    config: ConfigImport | None = None
    pricing: PricingImport | None = None
    aliases: tuple[ModelAliasesRow, ...] = ()
    usage: bytes | None = None
    go_config: GoConfig | None = None
    databases: dict[str, LegacyDatabase] = field(default_factory=dict)
    superseded: list[FileReport] = field(default_factory=list)
    # Channel positions of a config imported now (recorded in its marker)
    # or recorded by an earlier import; None: positions are unknown.
    positions: dict[str, ChannelMap] = field(default_factory=dict)
    recorded: ChannelMap | None = None

    @classmethod
    async def load(cls, candidates: Sequence[FileReport], report: ImportReport) -> _Plan:
        plan = cls({f.name: f for f in candidates})
        try:
            for file in candidates:
                await plan._load(file, report)
        except BaseException:
            plan.close()
            raise
        return plan

    async def _load(self, file: FileReport, report: ImportReport) -> None:
        if file.name in _DATABASES:
            legacy = LegacyDatabase(file.path)
            await asyncio.to_thread(legacy.open)
            self.databases[file.name] = legacy
            if await asyncio.to_thread(_is_ccbridge_database, legacy):
                self.skip(file, "a ccbridge database: copy it with ccbridge dbmigrate")
                report.warnings.append(f"{file.path} is a ccbridge database, not a legacy one")
            elif file.name == GO_DATABASE:
                self.go_config = await asyncio.to_thread(read_go_config, legacy)
            return
        data = await asyncio.to_thread(file.path.read_bytes)
        if file.name == CONFIG:
            self.config = parse_config(data)
            file.notes.extend(self.config.notes)
        elif file.name == PRICING:
            self.pricing = parse_pricing(data)
        elif file.name == ALIASES:
            self.aliases = parse_aliases(data)
        else:
            parse_usage(data, ChannelMap())  # check the whole file now
            self.usage = data

    def skip(self, file: FileReport, why: str) -> None:
        """Leave a candidate out (no marker: it is examined again next time)."""
        file.status = "skipped"
        file.detail = why
        self.files.pop(file.name, None)
        legacy = self.databases.pop(file.name, None)
        if legacy is not None:
            legacy.close()

    def supersede(self, file: FileReport, why: str) -> None:
        """Leave a candidate out for good: it is recorded, never imported."""
        self.skip(file, why)
        file.status = "superseded"
        self.superseded.append(file)

    def close(self) -> None:
        """Close the legacy databases."""
        for legacy in self.databases.values():
            legacy.close()
        self.databases.clear()


def _is_ccbridge_database(legacy: LegacyDatabase) -> bool:
    """ccbridge's schema_migrations has a checksum column; Go's has not."""
    tables = legacy.tables()
    return "schema_migrations" in tables and "checksum" in legacy.columns("schema_migrations")


# -- writing --------------------------------------------------------------------------


async def _commit(db: Database, plan: _Plan, report: ImportReport) -> None:
    imported_db = False
    async with db.transaction() as tx:
        # PostgreSQL: FOR UPDATE on the revision row serialises instances
        # that start together; SQLite: BEGIN IMMEDIATE already did.
        await tx.settings.lock_revision()
        markers = await _markers(tx)
        for name in [n for n in plan.files if marker_key(n) in markers]:
            plan.skip(plan.files[name], "imported meanwhile by another instance")
        if not plan.files:
            return
        plan.recorded = _recorded_positions(markers)
        await _apply(tx, plan, dry_run=False)
        stamp = datetime.now(UTC)
        for file in plan.files.values():
            file.status = "imported"
            await tx.settings.upsert(_marker(file, stamp, positions=plan.positions.get(file.name)))
        for file in plan.superseded:
            await tx.settings.upsert(_marker(file, stamp, outcome=file.detail))
        imported_db = any(name in _DATABASES for name in plan.files)
        if imported_db and await tx.request_log_rollups.any_row():
            # Rollups exist, so the runtime will not rebuild them; count
            # the imported log rows now, in the same transaction.
            await rollupdb.rebuild_in(tx, db.dialect)
        revision = await tx.settings.bump_revision()
        report.revision = int(revision.value) if revision and revision.value else None
        await sync_id_sequences(tx, ("api_keys",))
    # Reclaim the space of dropped and rebuilt indexes, when there is any to speak of.
    if imported_db and db.dialect == "sqlite":
        if (await db.daos.maintenance.free_share() or 0.0) > _VACUUM_ABOVE:
            await db.daos.maintenance.vacuum()
            report.vacuumed = True


async def _dry_run(db: Database, plan: _Plan, fresh: bool) -> None:
    plan.recorded = None if fresh else _recorded_positions(await _markers(db.daos))
    await _apply(None if fresh else db.daos, plan, dry_run=True)
    for file in plan.files.values():
        file.status = "would import"


async def _apply(daos: Daos | None, plan: _Plan, *, dry_run: bool) -> None:
    """Import every planned file through ``daos`` (None: an empty database)."""
    writer = None if dry_run else daos
    if plan.go_config is not None and GO_DATABASE in plan.files:
        channels = await _import_go_config(daos, writer, plan, plan.go_config)
    else:
        channels = await _import_config(daos, writer, plan)
        await _import_pricing(daos, writer, plan)
        await _import_aliases(daos, writer, plan)
        await _import_usage(writer, plan, channels)
    ctx = ImportContext(channels)
    for name in (GO_DATABASE, LOG_DATABASE):
        legacy = plan.databases.get(name)
        if legacy is not None:
            await import_legacy_database(writer, legacy, ctx, plan.files[name])


async def _import_go_config(
    daos: Daos | None, writer: Daos | None, plan: _Plan, config: GoConfig
) -> ChannelMap:
    """Import the configuration cc-bridge.db held in database mode."""
    for name in (CONFIG, PRICING, ALIASES, USAGE):
        if name in plan.files:
            plan.supersede(plan.files[name], f"superseded by {GO_DATABASE} (database mode)")
    file = plan.files[GO_DATABASE]
    # Decided before writing: the settings go with the channels.
    empty = {
        t: daos is None or await getattr(daos, t).count() == 0
        for t in ("channels", "model_pricing", "model_aliases")
    }
    empty["settings"] = empty["channel_usage"] = empty["channels"]
    for table, rows, fresh_only in (
        ("channels", config.channels, True),
        ("settings", config.settings, True),
        ("model_pricing", config.pricing, True),
        ("model_aliases", config.aliases, True),
        ("channel_usage", config.usage, True),
    ):
        report = file.table(table)
        source = config.reports.get(table)
        report.read = source.read if source else len(rows)
        report.skipped.update(source.skipped if source else {})
        report.defaulted.update(source.defaulted if source else {})
        if fresh_only and not empty[table]:
            guard = "channels" if table in ("settings", "channel_usage") else table
            report.skipped[f"the database already has {guard}"] += len(rows)
            continue
        report.offered = len(rows)
        if writer is not None:
            report.added = await _write_config(writer, table, rows)
    if empty["channels"]:
        plan.positions[GO_DATABASE] = config.channel_map()
        return plan.positions[GO_DATABASE]
    return await _untrusted_positions(daos, plan)


async def _write_config(writer: Daos, table: str, rows: Sequence[Any]) -> int:
    """Write configuration rows; return how many were new."""
    dao = getattr(writer, table)
    if table == "settings":
        await dao.upsert_many(rows)
        return len(rows)
    if table == "channel_usage":
        before = await dao.count()
        await dao.insert_many(rows, ignore_conflicts=True)
        return int(await dao.count() - before)
    await dao.insert_many(rows)
    return len(rows)


async def _import_config(daos: Daos | None, writer: Daos | None, plan: _Plan) -> ChannelMap:
    file = plan.files.get(CONFIG)
    if file is not None and plan.config is not None:
        if daos is not None and await daos.channels.count() > 0:
            plan.skip(file, "the database already has channels")
        else:
            table = file.table("channels")
            table.read = table.offered = len(plan.config.channels)
            settings = file.table("settings")
            settings.read = settings.offered = len(plan.config.settings)
            plan.positions[CONFIG] = plan.config.channel_map()
            if writer is not None:
                await writer.channels.insert_many(plan.config.channels)
                await writer.settings.upsert_many(plan.config.settings)
                table.added, settings.added = len(plan.config.channels), len(plan.config.settings)
            return plan.positions[CONFIG]
    return await _untrusted_positions(daos, plan)


async def _untrusted_positions(daos: Daos | None, plan: _Plan) -> ChannelMap:
    """Positions recorded by an earlier import, else names only.

    The database's channels may have been reordered or created since, so
    their order says nothing about a legacy position.
    """
    if plan.recorded is not None:
        return plan.recorded
    rows = [] if daos is None else await daos.channels.list(order_by="id")
    return ChannelMap.from_rows(rows, positional=False)


def _recorded_positions(markers: dict[str, dict[str, Any]]) -> ChannelMap | None:
    for name in (GO_DATABASE, CONFIG):
        positions = markers.get(marker_key(name), {}).get("positions")
        if isinstance(positions, dict):
            return ChannelMap.from_json(positions)
    return None


async def _import_pricing(daos: Daos | None, writer: Daos | None, plan: _Plan) -> None:
    file = plan.files.get(PRICING)
    if file is None or plan.pricing is None:
        return
    if daos is not None and await daos.model_pricing.count() > 0:
        plan.skip(file, "the database already has model prices")
        return
    table = file.table("model_pricing")
    table.read = table.offered = len(plan.pricing.models)
    currency = [plan.pricing.currency] if plan.pricing.currency else []
    if currency:
        settings = file.table("settings")
        settings.read = settings.offered = 1
    if writer is not None:
        await writer.model_pricing.insert_many(plan.pricing.models)
        await writer.settings.upsert_many(currency)
        table.added = len(plan.pricing.models)
        if currency:
            file.table("settings").added = 1


async def _import_aliases(daos: Daos | None, writer: Daos | None, plan: _Plan) -> None:
    file = plan.files.get(ALIASES)
    if file is None:
        return
    if daos is not None and await daos.model_aliases.count() > 0:
        plan.skip(file, "the database already has model aliases")
        return
    table = file.table("model_aliases")
    table.read = table.offered = len(plan.aliases)
    if writer is not None:
        await writer.model_aliases.insert_many(plan.aliases)
        table.added = len(plan.aliases)


async def _import_usage(writer: Daos | None, plan: _Plan, channels: ChannelMap) -> None:
    file = plan.files.get(USAGE)
    if file is None or plan.usage is None:
        return
    usage = parse_usage(plan.usage, channels)
    table = file.table("channel_usage")
    table.read = len(usage.rows) + len(usage.unmapped)
    table.offered = len(usage.rows)
    if usage.unmapped:
        table.skipped["position matches no channel"] = len(usage.unmapped)
        file.notes.extend(
            f"{path}: no channel at this position; skipped" for path in usage.unmapped
        )
    if writer is not None:
        before = await writer.channel_usage.count()
        await writer.channel_usage.insert_many(usage.rows, ignore_conflicts=True)
        table.added = await writer.channel_usage.count() - before


def _marker(
    file: FileReport,
    stamp: datetime,
    outcome: str = "",
    positions: ChannelMap | None = None,
) -> SettingsRow:
    stat = file.path.stat()
    value: dict[str, Any] = {
        "sha256": file.sha256,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "imported_at": stamp.isoformat(timespec="seconds"),
        "counts": {t.table: t.counts() for t in file.tables},
    }
    if outcome:
        value["outcome"] = outcome
    if positions is not None:
        value["positions"] = positions.to_json()
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return SettingsRow(marker_key(file.name), text, IMPORT_CATEGORY, stamp)
