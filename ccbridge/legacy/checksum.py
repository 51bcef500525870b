"""Content checksums of tables that do not depend on the engine.

Each row is hashed (SHA-256) in its PostgreSQL binary COPY encoding
(:mod:`pg_binary`: exact, and the same for the same values whichever
engine they were read from); the table checksum is the sum of the row
digests modulo 2**256. The sum does not depend on row order, so SQLite's
byte order and a PostgreSQL collation give the same value for the same
rows. On the way to PostgreSQL the encoding hashed is the one copied.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ("TableChecksum",)

_MODULUS: Final = 1 << 256


class TableChecksum:
    """Accumulates the checksum of one table's rows."""

    __slots__ = ("_sum", "count")

    def __init__(self) -> None:
        self._sum = 0
        self.count = 0

    def add(self, data: bytearray, ends: list[int]) -> None:
        """Fold in encoded rows: ``data`` holds rows ending at ``ends``."""
        total, sha256, as_int, start = self._sum, hashlib.sha256, int.from_bytes, 0
        with memoryview(data) as view:
            for end in ends:
                total += as_int(sha256(view[start:end]).digest(), "big")
                start = end
        self._sum = total % _MODULUS
        self.count += len(ends)

    def merge(self, other: TableChecksum) -> None:
        """Fold in the checksum of other rows of the same table."""
        self._sum = (self._sum + other._sum) % _MODULUS
        self.count += other.count

    @property
    def hexdigest(self) -> str:
        """Return the checksum as 64 hex digits."""
        return f"{self._sum:064x}"
