"""The config snapshot in force, and what follows it.

The request path reads `LiveConfig.snapshot` (immutable, swapped whole).
`swap` is the one place a new snapshot is adopted: the parts derived from
config (failover rules, breaker state of removed channels, outbound header
rules) are told first, then the snapshot is replaced in one store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ccbridge.store.snapshot import Snapshot

__all__ = ("Follower", "LiveConfig")

Follower = Callable[[Snapshot], None]


class LiveConfig:
    """The current snapshot and the followers told of each new one."""

    __slots__ = ("_followers", "snapshot")

    def __init__(self, snapshot: Snapshot, followers: Iterable[Follower] = ()) -> None:
        self._followers = tuple(followers)
        for follow in self._followers:
            follow(snapshot)
        self.snapshot = snapshot

    def swap(self, snapshot: Snapshot) -> None:
        """Adopt a new snapshot (one attribute store: atomic for readers)."""
        for follow in self._followers:
            follow(snapshot)
        self.snapshot = snapshot
