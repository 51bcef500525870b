"""SQLite: types by affinity, text timestamps, rebuilds instead of ALTER COLUMN."""

from __future__ import annotations

from sqlglot import exp

from codegen.dialects.base import Dialect
from codegen.model import Column

__all__ = ("SQLite",)


def _named(name: str) -> exp.DataType:
    # USERDEFINED keeps the declared name: sqlglot would print BOOLEAN as INTEGER.
    return exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=name)


class SQLite(Dialect):
    """SQLite 3.35+ (RETURNING, DROP COLUMN, NULLS FIRST/LAST)."""

    NAME = "sqlite"
    SQLGLOT = "sqlite"
    # https://sqlite.org/datatype3.html#determination_of_column_affinity: json is TEXT
    # (a JSON number must not become an INTEGER), BOOLEAN and DATETIME keep NUMERIC
    # affinity, which leaves 0/1 and ISO-8601 text as they are.
    TYPE_MAPPING = {
        "integer": _named("INTEGER"),
        "bigint": _named("INTEGER"),
        "real": _named("REAL"),
        "text": _named("TEXT"),
        "boolean": _named("BOOLEAN"),
        "timestamp": _named("DATETIME"),
        "json": _named("TEXT"),
        "blob": _named("BLOB"),
    }
    INTROSPECTED_TYPE = {
        "integer": "INTEGER",
        "bigint": "INTEGER",
        "real": "REAL",
        "text": "TEXT",
        "boolean": "BOOLEAN",
        "timestamp": "DATETIME",
        "json": "TEXT",
        "blob": "BLOB",
    }
    # bool is not an exact int, so sqlite3 would send it through its slow
    # adapter protocol (0.6 us a value); int() stores the same 0/1.
    WRITE_CODEC = {"timestamp": "ts_text", "json": "json_text", "boolean": "to_int"}
    READ_CODEC = {"timestamp": "ts_parse", "json": "json_parse", "boolean": "to_bool"}
    SUPPORTS_ALTER_COLUMN = False
    # https://sqlite.org/lang_altertable.html: ADD COLUMN may not default to an expression.
    SUPPORTS_ADD_COLUMN_EXPR_DEFAULT = False
    ESCAPE_PERCENT = False
    SUPPORTS_COPY = False
    SPLIT_SCAN_BY = "rowid"
    # Bound values of one statement stay under 999, the limit of SQLite
    # builds before 3.32. Rows of one statement are applied in order.
    BATCH_VALUES_LIMIT = 999
    PLACEHOLDER = "?"
    # INTEGER PRIMARY KEY aliases the rowid and is declared without NOT NULL.
    AUTOINCREMENT_REPORTS_NOT_NULL = False
    RESULT_CODEC = {
        "integer": "to_int",
        "bigint": "to_int",
        "real": "to_float",
        "boolean": "to_bool",
        "timestamp": "ts_parse",
        "json": "json_parse",
    }

    def autoincrement(self, col: Column) -> list[exp.ColumnConstraint]:
        """Return PRIMARY KEY AUTOINCREMENT (ids are never reused)."""
        return [
            exp.ColumnConstraint(kind=exp.PrimaryKeyColumnConstraint()),
            exp.ColumnConstraint(kind=exp.AutoIncrementColumnConstraint()),
        ]

    def column_type(self, col: Column) -> exp.DataType:
        """Return INTEGER for an autoincrement key (only it aliases the rowid)."""
        return _named("INTEGER") if col.autoincrement else super().column_type(col)

    def now(self) -> exp.Expression:
        """Return the time as fixed-width UTC text, microseconds included.

        strftime's %f gives milliseconds; padding to six digits keeps every
        stored timestamp the same width, so text order is time order.
        """
        stamp = exp.Anonymous(
            this="strftime",
            expressions=[exp.Literal.string("%Y-%m-%dT%H:%M:%f"), exp.Literal.string("now")],
        )
        return exp.DPipe(this=stamp, expression=exp.Literal.string("000Z"), safe=True)

    def epoch(self, value: exp.Expression) -> exp.Expression:
        """Return CAST(strftime('%s', value) AS INTEGER)."""
        seconds = exp.Anonymous(this="strftime", expressions=[exp.Literal.string("%s"), value])
        return exp.Cast(this=seconds, to=exp.DataType.build("INTEGER"))

    def boolean(self, value: bool) -> exp.Expression:
        """Return 0 or 1, which every SQLite version reads."""
        return exp.Literal.number(int(value))
