"""Legacy request_logs.db / cc-bridge.db tables → typed rows.

Covers every historical layout of ``request_logs``, ``user_aliases``,
``api_keys``, ``channel_quota``, ``channel_suspensions`` and
``request_debug_logs``: columns are matched by name (``PRAGMA
table_info``), missing ones take the row type's default, the old
``user_id`` log column becomes ``client_id``, position-keyed rows are
mapped to stable ids through the imported channels (unmappable ones are
skipped, never attached to another channel) and ``request_logs.channel_uid``
is backfilled by the reference's migration 005 rule. Rows stream in
batches, as typed tuples, into inserts that skip existing keys
(``row_writers.insert_ignoring``): re-importing adds nothing twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from ccbridge.legacy.channel_map import ChannelMap
from ccbridge.legacy.legacy_sql import LegacyDatabase
from ccbridge.legacy.report import FileReport, TableReport
from ccbridge.legacy.row_mapper import (
    Columns,
    RowMapper,
    TableSpec,
    Values,
    as_text,
    no_fix,
    per_row,
)
from ccbridge.legacy.row_writers import insert_ignoring
from ccbridge.legacy.secondary_indexes import drop_secondary, rebuild_missing
from ccbridge.legacy.table_layout import layout
from generated.dao import Daos
from generated.rows import (
    ApiKeysRow,
    ChannelQuotaRow,
    ChannelSuspensionsRow,
    RequestDebugLogsRow,
    RequestLogsRow,
    UserAliasesRow,
)

__all__ = ("BATCH_SIZE", "LEGACY_TABLES", "ImportContext", "import_legacy_database")

BATCH_SIZE: Final = 5000
# Fail-closed permission sentinels of the reference (§3.2).
_INVALID_PARSE: Final = "__invalid_parse_error__"
_ALLOWED_CHANNELS: Final = {
    "allowed_channels_msg": "messages",
    "allowed_channels_resp": "responses",
    "allowed_channels_gemini": "gemini",
    # NOTE(legacy): the reference maps chat indexes against the messages
    # pool (a bug); they are positions in the chat pool.
    "allowed_channels_chat": "chat",
}
_ALLOWED_STRINGS: Final = ("allowed_endpoints", "allowed_models")
_TIMEOUT_ERRORS: Final = frozenset(("request timed out", "timeout"))
# Migration 005: the pool a log row's endpoint belongs to.
_ENDPOINT_POOLS: Final = {
    "/v1/responses": "responses",
    "/v1/gemini": "gemini",
    # NOTE(legacy): 005 predates the chat pool and would look chat rows up
    # among messages channels, possibly another channel of the same name.
    "/v1/chat/completions": "chat",
}


@dataclass(slots=True)
class ImportContext:
    """State shared by the legacy tables of one import run.

    Attributes:
        channels: Pool positions and names of the imported channels.
        debug_parents: Request ids that have debug rows in the file being
            read; those imported as logs move to ``imported_parents``.
        imported_parents: Request ids known to exist in the target.
    """

    channels: ChannelMap
    debug_parents: set[str] = field(default_factory=set)
    imported_parents: set[str] = field(default_factory=set)


# -- table fix-ups -------------------------------------------------------------


def _fix_request_logs(cols: Columns, n: int, ctx: ImportContext) -> list[str | None]:
    initial = cols.get("initial_time") or [None] * n
    reasons: list[str | None] = [
        None if t is not None else "no readable initial_time" for t in initial
    ]
    status, error = cols.get("status"), cols.get("error")
    if status is not None and error is not None:
        for i in range(n):
            if status[i] == "error" and error[i] in _TIMEOUT_ERRORS:
                status[i] = "timeout"  # the reference's log manager did this on open
    uids = cols.setdefault("channel_uid", [None] * n)
    endpoints = cols.get("endpoint") or [None] * n
    names = cols.get("channel_name") or [None] * n
    by_name = ctx.channels.uid_by_name
    for i in range(n):
        uid = uids[i]
        if not uid or not uid.strip():
            uids[i] = by_name(_ENDPOINT_POOLS.get(endpoints[i] or "", "messages"), names[i])
    return reasons


def _accept_request_logs(cols: Columns, reasons: list[str | None], ctx: ImportContext) -> None:
    if ctx.debug_parents:
        parents = ctx.debug_parents
        ctx.imported_parents.update(
            i
            for i, reason in zip(cols["id"], reasons, strict=True)
            if reason is None and i in parents
        )


def _fix_api_key(v: Values, ctx: ImportContext) -> str | None:
    for column, pool in _ALLOWED_CHANNELS.items():
        if column in v:
            v[column] = _channel_list(v[column], pool, ctx.channels)
    for column in _ALLOWED_STRINGS:
        if column in v:
            v[column] = _string_list(v[column])
    return None


def _channel_list(raw: Any, pool: str, channels: ChannelMap) -> list[str] | None:
    """A permission list of stable ids; legacy positions mapped, fail closed."""
    items = _json_list(raw)
    if items is None:
        return None
    result: list[str] = []
    for item in items:
        if isinstance(item, str) and item:
            result.append(item)
        elif isinstance(item, int | float) and not isinstance(item, bool) and item == int(item):
            index = int(item)
            result.append(channels.uid_at(pool, index) or f"__invalid_idx_{index}__")
        else:
            result.append(_INVALID_PARSE)
    return result or None


def _string_list(raw: Any) -> list[str] | None:
    items = _json_list(raw)
    if items is None:
        return None
    if not all(isinstance(item, str) for item in items):
        return [_INVALID_PARSE]
    return list(items) or None


def _json_list(raw: Any) -> list[Any] | None:
    """Parse a JSON list column; unparseable text fails closed."""
    text = as_text(raw)
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return [_INVALID_PARSE]
    if value is None:
        return None
    return value if isinstance(value, list) else [_INVALID_PARSE]


def _fix_quota(v: Values, ctx: ImportContext) -> str | None:
    uid = (v.get("channel_stable_id") or "").strip()
    if uid:
        return None if ctx.channels.known(uid) else "channel no longer exists"
    uid = _quota_uid(v.get("channel_id"), v.get("channel_name"), ctx.channels)
    if uid is None:
        return "position matches no channel"
    v["channel_stable_id"] = uid
    return None


def _quota_uid(index: int | None, name: str | None, channels: ChannelMap) -> str | None:
    """Find the OAuth channel a position-keyed quota row belongs to.

    The row names its channel, so a position is trusted only when the
    channel there has that name; otherwise a unique name decides.
    """
    wanted = (name or "").strip().lower()
    for pool in ("responses", "messages"):
        at = channels.name_at(pool, index)
        if at is not None and wanted and at.strip().lower() == wanted:
            return channels.uid_at(pool, index)
    for pool in ("responses", "messages"):
        uid = channels.uid_by_name(pool, name)
        if uid is not None:
            return uid
    return None


def _fix_suspension(v: Values, ctx: ImportContext) -> str | None:
    if (v.get("channel_uid") or "").strip():
        return None if ctx.channels.known(v["channel_uid"]) else "channel no longer exists"
    uid = ctx.channels.uid_at(v.get("channel_type") or "", v.get("channel_id"))
    if uid is None:
        return "position matches no channel"
    v["channel_uid"] = uid
    return None


def _fix_debug_log(v: Values, ctx: ImportContext) -> str | None:
    if v["request_id"] not in ctx.imported_parents:
        return "its request log row is missing"
    return None


SPECS: Final = (
    TableSpec("user_aliases", UserAliasesRow, no_fix),
    TableSpec(
        "api_keys",
        ApiKeysRow,
        per_row(_fix_api_key),
        raw=frozenset((*_ALLOWED_CHANNELS, *_ALLOWED_STRINGS)),
    ),
    TableSpec(
        "request_logs",
        RequestLogsRow,
        _fix_request_logs,
        renames={"user_id": "client_id"},
        accept=_accept_request_logs,
    ),
    TableSpec("channel_quota", ChannelQuotaRow, per_row(_fix_quota)),
    TableSpec("channel_suspensions", ChannelSuspensionsRow, per_row(_fix_suspension)),
    TableSpec("request_debug_logs", RequestDebugLogsRow, per_row(_fix_debug_log)),
)
LEGACY_TABLES: Final = tuple(spec.table for spec in SPECS)


# -- driver ----------------------------------------------------------------------


async def import_legacy_database(
    tx: Daos | None,
    legacy: LegacyDatabase,
    ctx: ImportContext,
    report: FileReport,
    batch_size: int = BATCH_SIZE,
) -> None:
    """Import every known table of an open legacy database.

    Args:
        tx: DAOs of the import transaction; None for a dry run (rows are
            converted and counted, nothing is written).
        legacy: The legacy file, opened read-only.
        ctx: Channels and request ids shared across files.
        report: Receives per-table counts.
        batch_size: Rows per insert_many call.

    Raises:
        LegacyImportError: The file cannot be read (names the table).
        StorageError: The target refused a batch.
    """
    tables = await asyncio.to_thread(legacy.tables)
    if "request_debug_logs" in tables:
        ctx.debug_parents = await asyncio.to_thread(_debug_parents, legacy)
    for spec in SPECS:
        if spec.table in tables:
            await _import_table(tx, legacy, spec, ctx, report.table(spec.table), batch_size)
    ctx.debug_parents = set()


def _debug_parents(legacy: LegacyDatabase) -> set[str]:
    if "request_id" not in legacy.columns("request_debug_logs"):
        return set()
    return {
        str(row[0])
        for batch in legacy.batches("request_debug_logs", ("request_id",), BATCH_SIZE)
        for row in batch
    }


async def _import_table(
    tx: Daos | None,
    legacy: LegacyDatabase,
    spec: TableSpec,
    ctx: ImportContext,
    report: TableReport,
    batch_size: int,
) -> None:
    columns = await asyncio.to_thread(legacy.columns, spec.table)
    mapper, lay = RowMapper(spec, columns, ctx), layout(spec.table)
    dao = getattr(tx, spec.table) if tx is not None else None
    before = await dao.count() if dao is not None else 0
    # An empty table is loaded without its non-unique indexes, rebuilt in
    # the same transaction (a failed import rolls the drop back too).
    bare = tx is not None and before == 0
    if tx is not None and bare:
        await drop_secondary(tx, spec.table)
    batches: Iterator[list[tuple[Any, ...]]] = legacy.batches(spec.table, columns, batch_size)
    # PERF(legacy): a three-stage pipeline: the next batch is read (thread)
    # and the previous one written (the driver's thread) while this one is
    # converted, so the slowest stage alone sets the pace.
    reading = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
    writing: asyncio.Future[None] | None = None
    try:
        while (batch := await reading) is not None:
            reading = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
            rows = mapper.values(batch, report, lay.columns)
            if writing is not None:
                await writing
                writing = None
            if tx is not None and rows:
                writing = asyncio.ensure_future(insert_ignoring(tx, lay, rows))
        if writing is not None:
            await writing
            writing = None
    finally:
        await _settle(reading, writing)
    if tx is not None and bare:
        await rebuild_missing(tx, spec.table)
    if dao is not None:
        report.added = (report.added or 0) + await dao.count() - before


async def _settle(*futures: asyncio.Future[Any] | None) -> None:
    """Wait for stages still running after a failure (errors already raised)."""
    for future in futures:
        if future is not None and not future.done():
            await asyncio.gather(future, return_exceptions=True)
        elif future is not None and not future.cancelled():
            future.exception()  # mark retrieved
