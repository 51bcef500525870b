"""Render generated statements with their values inlined, for dry runs.

``dbmigrate --dry-run`` writes what it would do as SQL the destination
engine runs as is. The statements are the generated ones (the DAOs call
a recording executor instead of a database); only the values are turned
into literals here: NULL, TRUE/FALSE (PostgreSQL) or 1/0 (SQLite),
numbers, quoted text, timestamps, json text and bytea/blob hex literals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from generated.dao import Stmt

__all__ = ("Recorder", "SqlRenderer")

_PG_TOKENS: Final = re.compile(r"(%s|%%)")
_NAME_LINE: Final = "-- name:"


class SqlRenderer:
    """Turns (statement, values) into one SQL line for a dialect.

    Args:
        dialect: ``"sqlite"`` or ``"postgres"``.
    """

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._parts: dict[str, list[str]] = {}

    def render(self, stmt: Stmt, values: Sequence[Any]) -> str:
        """Return the statement with ``values`` inlined, ending in ``;``.

        Raises:
            ValueError: The values do not match the placeholders, or a
                value cannot be written for this engine.
        """
        parts = self._parts.get(stmt.sql) or self._split(stmt.sql)
        if len(parts) != len(values) + 1:
            raise ValueError(f"{stmt.name}: {len(values)} values for {len(parts) - 1} placeholders")
        out = [parts[0]]
        for value, part in zip(values, parts[1:], strict=True):
            out.append(self.literal(value))
            out.append(part)
        return "".join(out) + ";"

    def literal(self, value: Any) -> str:
        """Return one value as an SQL literal of this dialect."""
        pg = self.dialect == "postgres"
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return ("TRUE" if value else "FALSE") if pg else ("1" if value else "0")
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return _float(value, pg)
        if isinstance(value, datetime):
            return _quote(value.isoformat(sep=" "))
        if isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value).hex()
            return f"'\\x{data}'" if pg else f"X'{data}'"
        return _text(str(value), pg)

    def _split(self, sql: str) -> list[str]:
        lines = sql.splitlines()
        body = "\n".join(line for line in lines if not line.startswith(_NAME_LINE)).strip()
        if self.dialect == "postgres":
            parts = [""]
            for token in _PG_TOKENS.split(body):
                if token == "%s":
                    parts.append("")
                else:
                    parts[-1] += "%" if token == "%%" else token
        else:
            parts = body.split("?")
        self._parts[sql] = parts
        return parts


def _float(value: float, pg: bool) -> str:
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "'NaN'" if pg else "NULL"  # SQLite stores NaN as NULL anyway
    if pg:
        return "'Infinity'" if value > 0 else "'-Infinity'"
    return "9e999" if value > 0 else "-9e999"


def _text(value: str, pg: bool) -> str:
    if "\x00" in value:
        if pg:
            raise ValueError("PostgreSQL text cannot hold a NUL character")
        return f"CAST(X'{value.encode().hex()}' AS TEXT)"
    return _quote(value)


def _quote(value: str) -> str:
    # Standard strings: only the quote is special (PostgreSQL's
    # standard_conforming_strings is on by default since 9.1).
    return "'" + value.replace("'", "''") + "'"


class Recorder:
    """An Executor that records writes instead of running them.

    DAOs bound to it (``Daos(Recorder(...))``) produce the exact generated
    statements and encoded values a real database would get.

    Args:
        dialect: The dialect the DAOs encode for.
        sink: Called with (statement, values) for every row written.
    """

    def __init__(self, dialect: str, sink: Callable[[Stmt, Sequence[Any]], None]) -> None:
        self.dialect = dialect
        self._sink = sink

    async def fetch_all(self, stmt: Stmt, params: Any = ()) -> list[tuple[Any, ...]]:
        raise RuntimeError(f"{stmt.name}: a dry run cannot read")

    async def fetch_one(self, stmt: Stmt, params: Any = ()) -> tuple[Any, ...] | None:
        raise RuntimeError(f"{stmt.name}: a dry run cannot read")

    async def execute(self, stmt: Stmt, params: Any = ()) -> int:
        self._sink(stmt, _positional(stmt, params))
        return 0

    async def execute_many(self, stmt: Stmt, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            self._sink(stmt, row)

    async def copy_in(self, stmt: Stmt, rows: Iterable[Sequence[Any]]) -> None:
        raise RuntimeError(f"{stmt.name}: COPY cannot be written to a script")


def _positional(stmt: Stmt, params: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any]:
    if isinstance(params, Mapping):
        if params:
            raise RuntimeError(f"{stmt.name}: named parameters cannot be recorded")
        return ()
    return params
