"""quota_usage.json (cc-bridge, Go) → channel_usage rows by stable id.

The file keys usage by pool and *position* (``{"messages": {"0": {"used":
12.5, "lastResetAt": "…"}}}``); positions are mapped to stable ids through
the imported config, and a position no channel holds is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ccbridge.legacy.channel_map import POOLS, ChannelMap
from ccbridge.legacy.jsonread import Node, load_json
from generated.rows import ChannelUsageRow

__all__ = ("UsageImport", "parse_usage")


@dataclass(frozen=True, slots=True)
class UsageImport:
    """What quota_usage.json becomes.

    Attributes:
        rows: Usage of channels that exist, keyed by stable id.
        unmapped: JSON paths of entries no channel holds (skipped).
    """

    rows: tuple[ChannelUsageRow, ...]
    unmapped: tuple[str, ...]


def parse_usage(
    data: bytes,
    channels: ChannelMap,
    file: str = "quota_usage.json",
    now: datetime | None = None,
) -> UsageImport:
    """Convert quota_usage.json bytes into rows.

    Raises:
        LegacyImportError: Malformed JSON, a wrong type or a key that is
            not a position (JSON path named).
    """
    stamp = now or datetime.now(UTC)
    root = load_json(file, data)
    rows: list[ChannelUsageRow] = []
    unmapped: list[str] = []
    for pool, pool_node in root.members():
        if pool not in POOLS:
            pool_node.fail(f"expected a pool name ({', '.join(POOLS)})")
        for key, entry in pool_node.members():
            index = _position(key, entry)
            uid = channels.uid_at(pool, index)
            if uid is None:
                unmapped.append(entry.path)
                continue
            rows.append(
                ChannelUsageRow(
                    channel_uid=uid,
                    channel_type=pool,
                    channel_id=index,
                    used=entry.field("used").number(),
                    last_reset_at=entry.field("lastResetAt").timestamp(),
                    updated_at=stamp,
                )
            )
    return UsageImport(tuple(rows), tuple(unmapped))


def _position(key: str, entry: Node) -> int:
    entry.object()
    if not key.isdigit():
        entry.fail("expected a channel position as the key")
    return int(key)
