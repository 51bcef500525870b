"""A table's columns as dbmigrate moves them: typed tuples, not row objects.

PERF(legacy): a copy handles rows as tuples in the DAO's column order
(``<Table>Dao.COLUMNS``, the order of every generated SELECT), holding
the values the DAOs would hold: aware UTC datetimes, bools, parsed json,
bytes. A dataclass per row would add to the cost of reading it, so only
the slow paths (settings' upsert, the dry-run script) make rows. The
conversions are the generated SQLite codecs themselves (``_ts_parse``,
``_ts_text``, ``_json_parse``, ``_json_text``), so a copy converts exactly
as the DAOs do; PostgreSQL's driver already returns typed values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

import generated.dao
import generated.rows
from generated.catalog import EXPECTED
from generated.dao import _json_parse, _json_text, _ts_parse, _ts_text

__all__ = ("Layout", "layout")


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a table's values sit and what they are.

    Attributes:
        table: The table name.
        columns: Column names, in the generated SELECT order.
        key: The primary key columns.
        pg_types: PostgreSQL type of each column (binary COPY needs them).
        times, booleans, docs: Positions of timestamp, boolean and json
            columns (those whose SQLite form differs from the typed one).
        row_type: The generated row dataclass.
        statements: The generated DAO's statements, by dialect.
    """

    table: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    pg_types: tuple[str, ...]
    times: tuple[int, ...]
    booleans: tuple[int, ...]
    docs: tuple[int, ...]
    row_type: type
    statements: Mapping[str, Any]

    def from_sqlite(self, raw: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Return SQLite rows (as stored) as typed tuples."""
        return _converted(
            raw, ((self.times, _ts_parse), (self.booleans, bool), (self.docs, _json_parse))
        )

    def to_sqlite(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Return typed tuples as SQLite stores them."""
        return _converted(rows, ((self.times, _ts_text), (self.docs, _json_text)))

    def to_postgres(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Return typed tuples for a text COPY (json as text, like the DAOs)."""
        return _converted(rows, ((self.docs, _json_text),))

    def row(self, values: Sequence[Any]) -> Any:
        """Return a typed tuple as the table's row dataclass."""
        return self.row_type(**dict(zip(self.columns, values, strict=True)))

    def values(self, row: Any) -> tuple[Any, ...]:
        """Return a row dataclass as a typed tuple."""
        return tuple(getattr(row, name) for name in self.columns)


@cache
def layout(table: str) -> Layout:
    """Return the layout of ``table`` (from the generated DAO and catalog)."""
    pascal = "".join(part.capitalize() for part in table.split("_"))
    dao = getattr(generated.dao, pascal + "Dao")
    row_type = getattr(generated.rows, pascal + "Row")
    kinds = {f.name: str(f.type).split("|")[0].strip() for f in fields(row_type)}
    pg = EXPECTED["postgres"]["tables"][table]["columns"]
    columns: tuple[str, ...] = dao.COLUMNS
    return Layout(
        table=table,
        columns=columns,
        key=dao.KEY,
        pg_types=tuple(pg[c][0] for c in columns),
        times=tuple(i for i, c in enumerate(columns) if kinds[c] == "datetime"),
        booleans=tuple(i for i, c in enumerate(columns) if kinds[c] == "bool"),
        docs=tuple(i for i, c in enumerate(columns) if kinds[c] == "Any"),
        row_type=row_type,
        statements=dao._VARIANTS,
    )


def _converted(
    rows: Sequence[tuple[Any, ...]],
    steps: Sequence[tuple[tuple[int, ...], Callable[[Any], Any]]],
) -> list[tuple[Any, ...]]:
    """Apply each codec to the non-NULL values at its positions."""
    plan = [(i, codec) for positions, codec in steps for i in positions]
    if not plan:
        return list(rows)
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(row)
        for i, codec in plan:
            if (v := values[i]) is not None:
                values[i] = codec(v)
        out.append(tuple(values))
    return out
