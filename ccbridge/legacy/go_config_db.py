"""The configuration tables of the Go version's cc-bridge.db.

In database mode (``STORAGE_BACKEND=database``) cc-bridge kept its whole
configuration in cc-bridge.db (``channels``, ``settings``,
``model_pricing``, ``model_aliases``, ``channel_usage``) and re-created a
*default* config.json on every start, so there the database, not
config.json, holds the channels. This module reads those tables (any
layout, columns by name) into rows: channels in the pool order the Go
version read them (``ORDER BY priority, id`` per pool), their ids left to
the database so they ascend in that order; usage keyed by position
mapped to stable ids through that same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from ccbridge.legacy.channel_map import POOLS, ChannelMap
from ccbridge.legacy.legacy_sql import LegacyDatabase
from ccbridge.legacy.report import TableReport
from ccbridge.legacy.row_mapper import RowMapper, TableSpec, Values, no_fix, per_row
from generated.rows import (
    ChannelsRow,
    ChannelUsageRow,
    ModelAliasesRow,
    ModelPricingRow,
    SettingsRow,
)

__all__ = ("GoConfig", "read_go_config")

# Settings that are configuration; config_revision is this database's own.
_SETTING_CATEGORIES: Final = frozenset(("config", "pricing"))
_OWN_SETTINGS: Final = frozenset(("config_revision",))


@dataclass(frozen=True, slots=True)
class GoConfig:
    """Configuration rows read from a Go cc-bridge.db.

    Attributes:
        channels: Channels of every pool in pool order (ids unset).
        settings: ``config`` and ``pricing`` settings.
        pricing: Model prices.
        aliases: Model aliases in display order (ids unset).
        usage: Quota usage keyed by stable id.
        reports: Read/skip counts per table.
    """

    channels: tuple[ChannelsRow, ...]
    settings: tuple[SettingsRow, ...]
    pricing: tuple[ModelPricingRow, ...]
    aliases: tuple[ModelAliasesRow, ...]
    usage: tuple[ChannelUsageRow, ...]
    reports: dict[str, TableReport] = field(default_factory=dict)

    def channel_map(self) -> ChannelMap:
        """Return pool positions of the channels."""
        return ChannelMap.from_rows(self.channels)


def read_go_config(legacy: LegacyDatabase) -> GoConfig | None:
    """Read the configuration of a Go cc-bridge.db; None if it has none.

    Raises:
        LegacyImportError: The file cannot be read (names the table).
    """
    tables = legacy.tables()
    if "channels" not in tables or legacy.count("channels") == 0:
        return None
    reports: dict[str, TableReport] = {}

    def read(spec: TableSpec, ctx: Any = None) -> list[Any]:
        report = reports.setdefault(spec.table, TableReport(spec.table))
        if spec.table not in tables:
            return []
        columns = legacy.columns(spec.table)
        mapper = RowMapper(spec, columns, ctx)
        return [
            row
            for batch in legacy.batches(spec.table, columns, 1000)
            for row in mapper.convert(batch, report)
        ]

    channels = _pool_order(read(TableSpec("channels", ChannelsRow, per_row(_fix_channel))))
    positions = ChannelMap.from_rows(channels)
    usage = read(TableSpec("channel_usage", ChannelUsageRow, per_row(_fix_usage)), positions)
    return GoConfig(
        channels=tuple(channels),
        settings=tuple(read(TableSpec("settings", SettingsRow, per_row(_fix_setting)))),
        pricing=tuple(read(TableSpec("model_pricing", ModelPricingRow, no_fix))),
        aliases=_alias_order(read(TableSpec("model_aliases", ModelAliasesRow, no_fix))),
        usage=tuple(usage),
        reports=reports,
    )


def _fix_channel(v: Values, ctx: Any) -> str | None:
    v["status"] = v.get("status") or "active"
    return None


def _fix_setting(v: Values, ctx: Any) -> str | None:
    if v.get("category") not in _SETTING_CATEGORIES or v.get("key") in _OWN_SETTINGS:
        return "not configuration"
    return None


def _fix_usage(v: Values, positions: ChannelMap) -> str | None:
    uid = positions.uid_at(v.get("channel_type") or "", v.get("channel_id"))
    if uid is None:
        return "position matches no channel"
    v["channel_uid"] = uid
    return None


def _pool_order(rows: Sequence[ChannelsRow]) -> list[ChannelsRow]:
    """Sort as the Go version read pools (priority, id); drop the ids."""

    def key(row: ChannelsRow) -> tuple[int, int, int]:
        pool = POOLS.index(row.channel_type) if row.channel_type in POOLS else len(POOLS)
        return pool, row.priority or 0, row.id or 0

    return [replace(row, id=None) for row in sorted(rows, key=key)]


def _alias_order(rows: Sequence[ModelAliasesRow]) -> tuple[ModelAliasesRow, ...]:
    ordered = sorted(rows, key=lambda r: (r.alias_type, r.sort_order or 0, r.id or 0))
    return tuple(replace(row, id=None) for row in ordered)
