"""Pool positions and names of channels, for index-keyed legacy data.

cc-bridge keyed usage, suspensions, quotas and log rows by a channel's
*position* in its pool. Only the imported legacy config fixes those
positions, so a map knows positions only when built from it (this run's
config, or the positions recorded in its import marker); built from
whatever channels the database has now, it answers names only, and every
position is unmappable (skipped, never attached to another channel).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from generated.rows import ChannelsRow

__all__ = ("POOLS", "ChannelMap", "ChannelRef")

POOLS: Final = ("messages", "responses", "gemini", "chat")


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """One channel: its stable id and name."""

    channel_id: str
    name: str


class ChannelMap:
    """Channels of every pool, in pool order.

    Args:
        pools: Pool name to its channels, in pool order.
        positional: False when the order is not the legacy config's:
            positions then map to nothing.
    """

    __slots__ = ("_by_name", "_known", "pools", "positional")

    def __init__(
        self, pools: Mapping[str, tuple[ChannelRef, ...]] | None = None, *, positional: bool = True
    ) -> None:
        self.pools: Mapping[str, tuple[ChannelRef, ...]] = dict(pools or {})
        self.positional = positional
        self._known = frozenset(r.channel_id for refs in self.pools.values() for r in refs)
        # (pool, lower-case name) -> ids; a name counts only when unique.
        by_name: dict[tuple[str, str], list[str]] = {}
        for pool, refs in self.pools.items():
            for ref in refs:
                by_name.setdefault((pool, ref.name.lower()), []).append(ref.channel_id)
        self._by_name = {k: ids[0] for k, ids in by_name.items() if len(ids) == 1}

    @classmethod
    def from_rows(cls, rows: Iterable[ChannelsRow], *, positional: bool = True) -> ChannelMap:
        """Build the map from channel rows in pool order."""
        pools: dict[str, list[ChannelRef]] = {}
        for row in rows:
            pools.setdefault(row.channel_type, []).append(ChannelRef(row.channel_id, row.name))
        return cls({pool: tuple(refs) for pool, refs in pools.items()}, positional=positional)

    @classmethod
    def from_json(cls, data: Any) -> ChannelMap:
        """Rebuild a map saved by :meth:`to_json` (an import marker)."""
        return cls(
            {
                pool: tuple(ChannelRef(str(i), str(n)) for i, n in refs)
                for pool, refs in data.items()
            }
        )

    def to_json(self) -> dict[str, list[list[str]]]:
        """Return the positions as plain data, to record in a marker."""
        return {pool: [[r.channel_id, r.name] for r in refs] for pool, refs in self.pools.items()}

    def uid_at(self, pool: str, index: int | None) -> str | None:
        """Return the stable id at ``index`` of ``pool``, or None."""
        refs = self.pools.get(pool, ())
        if not self.positional or index is None or not 0 <= index < len(refs):
            return None
        return refs[index].channel_id

    def name_at(self, pool: str, index: int | None) -> str | None:
        """Return the name at ``index`` of ``pool``, or None."""
        refs = self.pools.get(pool, ())
        if not self.positional or index is None or not 0 <= index < len(refs):
            return None
        return refs[index].name

    def uid_by_name(self, pool: str, name: str | None) -> str | None:
        """Return the id of the one channel of ``pool`` with this name.

        Names compare case-insensitively; no match or several matches
        give None (the reference's migration 005 rule).
        """
        if not name or not name.strip():
            return None
        return self._by_name.get((pool, name.lower()))

    def known(self, uid: str) -> bool:
        """Return whether a channel with this stable id exists."""
        return uid in self._known
