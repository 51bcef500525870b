"""Content checksums of tables that do not depend on the engine.

Each row is canonicalised (timestamps as integer microseconds since the
epoch, json as sorted compact text; text, numbers, booleans, bytes and
NULL as they are) and serialised with ``marshal`` version 2 (byte-exact,
floats bit for bit, and no back-references, so equal values always give
equal bytes), then hashed with SHA-256; the table checksum is the sum of
the row digests modulo 2**256. The sum does not depend on row order, so SQLite's byte
order and a PostgreSQL collation give the same value for the same rows.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from collections.abc import Iterable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, Final

__all__ = ("TableChecksum",)

_MODULUS: Final = 1 << 256
_MARSHAL_VERSION: Final = 2  # version 3 adds identity-dependent references
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


class TableChecksum:
    """Accumulates the checksum of one table's rows.

    Args:
        row_type: The table's generated row dataclass.
    """

    __slots__ = ("_getter", "_json", "_sum", "_times", "count")

    def __init__(self, row_type: type) -> None:
        kinds = [str(f.type).split("|")[0].strip() for f in fields(row_type)]
        self._getter = attrgetter(*(f.name for f in fields(row_type)))
        self._times = [i for i, k in enumerate(kinds) if k == "datetime"]
        self._json = [i for i, k in enumerate(kinds) if k == "Any"]
        self._sum = 0
        self.count = 0

    def add(self, rows: Iterable[Any]) -> None:
        """Fold rows into the checksum."""
        total, dumps, sha256 = self._sum, marshal.dumps, hashlib.sha256
        getter, times, docs = self._getter, self._times, self._json
        for row in rows:
            values = getter(row)
            if times or docs:
                values = list(values)
                for i in times:
                    if values[i] is not None:
                        values[i] = (values[i] - _EPOCH) // _MICROSECOND
                for i in docs:
                    if values[i] is not None:
                        values[i] = _canonical_json(values[i])
                values = tuple(values)
            total += int.from_bytes(sha256(dumps(values, _MARSHAL_VERSION)).digest(), "big")
            self.count += 1
        self._sum = total % _MODULUS

    @property
    def hexdigest(self) -> str:
        """Return the checksum as 64 hex digits."""
        return f"{self._sum:064x}"


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
