"""A table's columns as dbmigrate moves them: typed tuples, not row objects.

PERF(legacy): a copy handles rows as tuples in the DAO's column order
(``<Table>Dao.COLUMNS``, the order of every generated SELECT), holding
the values the DAOs would hold: aware UTC datetimes, bools, parsed json,
bytes. Building a frozen dataclass per row costs more than reading the
row, so only the slow paths (settings' upsert, the dry-run script) make
rows. The conversions repeat the generated SQLite codecs exactly
(``_ts_parse``/``_ts_text``, ``_bool``, ``_json_parse``/``_json_text``);
PostgreSQL's driver already returns typed values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cache
from typing import Any

import generated.dao
import generated.rows
from generated.catalog import EXPECTED

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
    """

    table: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    pg_types: tuple[str, ...]
    times: tuple[int, ...]
    booleans: tuple[int, ...]
    docs: tuple[int, ...]
    row_type: type

    def from_sqlite(self, raw: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Return SQLite rows (as stored) as typed tuples."""
        times, booleans, docs = self.times, self.booleans, self.docs
        if not (times or booleans or docs):
            return list(raw)
        parse = datetime.fromisoformat
        out: list[tuple[Any, ...]] = []
        for row in raw:
            values = list(row)
            for i in times:
                if (v := values[i]) is not None:
                    v = parse(v)
                    values[i] = v if v.tzinfo is UTC else _utc(v)
            for i in booleans:
                if (v := values[i]) is not None:
                    values[i] = bool(v)
            for i in docs:
                if (v := values[i]) is not None:
                    values[i] = json.loads(v)
            out.append(tuple(values))
        return out

    def to_sqlite(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Return typed tuples as SQLite stores them."""
        times, docs = self.times, self.docs
        if not (times or docs):
            return list(rows)
        out: list[tuple[Any, ...]] = []
        for row in rows:
            values = list(row)
            for i in times:
                if (v := values[i]) is not None:
                    values[i] = _ts_text(v)
            for i in docs:
                if (v := values[i]) is not None:
                    values[i] = _json_text(v)
            out.append(tuple(values))
        return out

    def to_postgres(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Return typed tuples for a text COPY (json as text, like the DAOs)."""
        docs = self.docs
        if not docs:
            return list(rows)
        out: list[tuple[Any, ...]] = []
        for row in rows:
            values = list(row)
            for i in docs:
                if (v := values[i]) is not None:
                    values[i] = _json_text(v)
            out.append(tuple(values))
        return out

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
    )


def _utc(v: datetime) -> datetime:
    """Text without an offset is UTC; any other offset is converted."""
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _ts_text(v: datetime) -> str:
    # Fixed-width UTC text, as the generated SQLite codec writes it.
    if v.tzinfo is not UTC:
        v = v.astimezone(UTC)
    return v.isoformat(timespec="microseconds")[:-6] + "Z"


def _json_text(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
