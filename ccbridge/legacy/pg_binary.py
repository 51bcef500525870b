"""Typed rows in PostgreSQL's binary COPY format.

The encoding serves twice: it is what ``COPY … (FORMAT BINARY)`` reads
(no text parsing on the server), and, being exact and engine-neutral
(integers and floats bit for bit, timestamps as microseconds, json as
sorted compact text), it is what the table checksums hash.

NOTE(legacy): ``format_row_binary`` is psycopg's own row encoder (C),
imported from a private module: its public wrapper, ``Copy.write_row``,
does not hand back the bytes of a row. psycopg is pinned below 3.4.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

import psycopg
from psycopg._copy_base import format_row_binary
from psycopg.adapt import AdaptersMap, Transformer
from psycopg.pq import Format
from psycopg.types.json import set_json_dumps

from ccbridge.errors import StorageError
from ccbridge.legacy.table_layout import Layout

__all__ = ("HEADER", "TRAILER", "BinaryRows")

# https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, extension length
TRAILER: Final = b"\xff\xff"


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _adapters() -> AdaptersMap:
    adapters = AdaptersMap(psycopg.adapters)
    set_json_dumps(_canonical_json, adapters)
    return adapters


_ADAPTERS: Final = _adapters()


class BinaryRows:
    """Encodes one table's typed tuples, a row at a time.

    Args:
        layout: The table's columns and their PostgreSQL types.
    """

    __slots__ = ("_table", "_tx")

    def __init__(self, layout: Layout) -> None:
        self._table = layout.table
        self._tx = Transformer(_ADAPTERS)
        oids = [_ADAPTERS.types[name].oid for name in layout.pg_types]
        self._tx.set_dumper_types(oids, Format.BINARY)

    def encode(self, rows: Sequence[tuple[Any, ...]]) -> tuple[bytearray, list[int]]:
        """Return the rows' encodings, concatenated, and where each ends."""
        data = bytearray()
        ends: list[int] = []
        tx, end = self._tx, ends.append
        try:
            for row in rows:
                format_row_binary(row, tx, data)
                end(len(data))
        except (psycopg.Error, TypeError, ValueError, OverflowError) as ex:
            # The driver's message may quote the value: name the table only.
            reason = f"a value does not fit its PostgreSQL column ({type(ex).__name__})"
            raise StorageError(f"{self._table}.encode", reason) from None
        return data, ends
