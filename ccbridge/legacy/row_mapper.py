"""Rows of a foreign SQLite table → typed rows of one of our tables.

A :class:`TableSpec` names the target row type; columns are matched by
name (``PRAGMA table_info``) with optional renames, each converted column
at a time to the field's type (text, integer, real, boolean, timestamp in
any legacy spelling, json, blob). Absent columns take the row type's
default; NULL in a NOT NULL column with a default takes the default; an
unreadable value becomes NULL and is counted. A spec's ``fix`` then edits
whole columns and may skip rows, with a reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from itertools import repeat
from typing import Any, Final

from ccbridge.legacy.report import TableReport
from ccbridge.legacy.timestamps import parse_timestamp, parse_timestamps

__all__ = ("Columns", "RowMapper", "TableSpec", "Values", "as_text", "no_fix", "per_row")

Values = dict[str, Any]
Columns = dict[str, list[Any]]
# ``ctx`` is whatever the caller shares between tables (channels, ids).
RowFix = Callable[[Values, Any], str | None]
ColumnFix = Callable[[Columns, int, Any], list[str | None]]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """How one legacy table becomes rows of the same-named table.

    ``fix`` works on whole columns (converted values, edited in place)
    and returns a skip reason or None per row; ``accept`` sees the
    columns and the reasons once they are final.
    """

    table: str
    row_type: type
    fix: ColumnFix
    renames: Mapping[str, str] = field(default_factory=dict)
    raw: frozenset[str] = frozenset()
    accept: Callable[[Columns, list[str | None], Any], None] | None = None


@dataclass(frozen=True, slots=True)
class _Target:
    """A field of the row type filled from one source column."""

    name: str
    source: int
    convert: Callable[[Any], Any]
    convert_all: Callable[[Sequence[Any]], list[Any]]  # a whole column
    exact: type | None  # values of this type need no conversion
    nullable: bool
    default: Any  # _NO_DEFAULT, or the value for NULL in a NOT NULL column


_NO_DEFAULT: Final = object()
_NONE: Final = type(None)


# -- value converters (legacy SQLite values may have any storage class) ------


def as_text(v: Any) -> Any:
    """Return a legacy value as text (bytes decoded, numbers printed)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _integer(v: Any) -> Any:
    if v is None or type(v) is int:
        return v
    if isinstance(v, bytes):
        v = v.decode("ascii")
    return int(float(v)) if isinstance(v, str) else int(v)


def _real(v: Any) -> Any:
    if v is None or type(v) is float:
        return v
    if isinstance(v, bytes):
        v = v.decode("ascii")
    return float(v)


def _boolean(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    text = as_text(v).strip().lower()
    if text in ("1", "true", "t", "yes"):
        return True
    if text in ("0", "false", "f", "no", ""):
        return False
    raise ValueError("not a boolean")


def _json(v: Any) -> Any:
    text = as_text(v)
    return json.loads(text) if text and text.strip() else None


def _blob(v: Any) -> Any:
    if v is None or isinstance(v, bytes):
        return v
    return v.encode() if isinstance(v, str) else bytes(v)


def _raw(v: Any) -> Any:
    return v


_CONVERTERS: Final[Mapping[str, Callable[[Any], Any]]] = {
    "datetime": parse_timestamp,
    "bool": _boolean,
    "bytes": _blob,
    "int": _integer,
    "float": _real,
    "str": as_text,
    "Any": _json,
}


_EXACT: Final[Mapping[str, type]] = {"str": str, "int": int, "float": float, "bytes": bytes}


def _kind(annotation: str) -> str:
    """Return the converter key of a rows.py annotation ("int | None")."""
    return annotation.split("|")[0].strip()


class RowMapper:
    """Converts batches of one legacy table into rows of its target.

    PERF(legacy): column at a time: a column whose values already have
    the right type is taken as is, so a 40-column log row costs a few
    microseconds, not one function call per value.
    """

    def __init__(self, spec: TableSpec, columns: Sequence[str], ctx: Any) -> None:
        self.spec = spec
        self.ctx = ctx
        self.targets = _targets(spec, columns)
        self.fields = fields(spec.row_type)
        self.required = [
            f.name for f in self.fields if f.default is MISSING and f.default_factory is MISSING
        ]

    def convert(self, batch: Sequence[tuple[Any, ...]], report: TableReport) -> list[Any]:
        """Return the rows to write as row dataclasses (see :meth:`values`)."""
        make = self.spec.row_type
        return [make(*v) for v in self.values(batch, report, [f.name for f in self.fields])]

    def values(
        self, batch: Sequence[tuple[Any, ...]], report: TableReport, order: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        """Return the rows to write as tuples of ``order``'s columns.

        Counts reads, skips and defaults. PERF(legacy): the bulk path
        writes these tuples as they are, no row object in between.
        """
        n = len(batch)
        report.read += n
        if not n:
            return []
        source = list(zip(*batch, strict=True))
        cols: Columns = {t.name: _column(source[t.source], t, report) for t in self.targets}
        reasons = self.spec.fix(cols, n, self.ctx)
        self._check_required(cols, n, reasons)
        if self.spec.accept is not None:
            self.spec.accept(cols, reasons, self.ctx)
        rows = self._tuples(cols, n, reasons, report, order)
        report.offered += len(rows)
        return rows

    def _check_required(self, cols: Columns, n: int, reasons: list[str | None]) -> None:
        for name in self.required:
            values = cols.get(name) or [None] * n
            for i in range(n):
                if values[i] is None and reasons[i] is None:
                    reasons[i] = f"no {name}"

    def _tuples(
        self,
        cols: Columns,
        n: int,
        reasons: list[str | None],
        report: TableReport,
        order: Sequence[str],
    ) -> list[tuple[Any, ...]]:
        by_name = {f.name: f for f in self.fields}
        args = [cols[c] if c in cols else repeat(_default(by_name[c]), n) for c in order]
        rows: list[tuple[Any, ...]] = []
        # repeat() columns are endless: the converted ones set the length.
        for values, reason in zip(zip(*args, strict=False), reasons, strict=False):
            if reason is None:
                rows.append(values)
            else:
                report.skipped[reason] += 1
        return rows


def _default(f: Any) -> Any:
    """Return a field's default; None for a required field (row skipped)."""
    if f.default is not MISSING:
        return f.default
    return None if f.default_factory is MISSING else f.default_factory()


def _column(values: tuple[Any, ...], t: _Target, report: TableReport) -> list[Any]:
    """Convert one source column; unreadable values become NULL (counted)."""
    exact = t.exact
    if exact is not None and set(map(type, values)) <= {exact, _NONE}:
        out = list(values)
    else:
        try:
            out = t.convert_all(values)
        except (ValueError, TypeError, OverflowError):
            out = _each(values, t, report)
    if t.default is not _NO_DEFAULT:
        # NOT NULL with a default: NULL becomes what a fresh column gets.
        out = [t.default if v is None else v for v in out]
    return out


def _each(values: tuple[Any, ...], t: _Target, report: TableReport) -> list[Any]:
    """Convert value by value, so one bad value costs only itself."""
    out: list[Any] = []
    append, convert = out.append, t.convert
    for v in values:
        try:
            append(None if v is None else convert(v))
        except (ValueError, TypeError, OverflowError):
            report.defaulted[t.name] += 1
            append(None)
    return out


def _booleans(values: Sequence[Any]) -> list[Any]:
    # SQLite keeps booleans as 0/1: compare without a call per value.
    return [None if v is None else v != 0 if type(v) is int else _boolean(v) for v in values]


def _all_with(convert: Callable[[Any], Any]) -> Callable[[Sequence[Any]], list[Any]]:
    return lambda values: [None if v is None else convert(v) for v in values]


_COLUMN_CONVERTERS: Final[Mapping[str, Callable[[Sequence[Any]], list[Any]]]] = {
    "datetime": parse_timestamps,
    "bool": _booleans,
}


def _targets(spec: TableSpec, columns: Sequence[str]) -> list[_Target]:
    """Match the legacy columns to the row type's fields by name."""
    position = {name: i for i, name in enumerate(columns)}
    for old, new in spec.renames.items():
        if old in position and new not in position:
            position[new] = position[old]
    targets: list[_Target] = []
    for f in fields(spec.row_type):
        if f.name not in position:
            continue
        annotation = str(f.type)
        kind = _kind(annotation)
        raw = f.name in spec.raw
        nullable = "None" in annotation
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        default = _default(f) if has_default and not nullable else _NO_DEFAULT
        convert = _raw if raw else _CONVERTERS[kind]
        convert_all = _COLUMN_CONVERTERS.get(kind) if not raw else None
        convert_all = convert_all or _all_with(convert)
        exact = None if raw else _EXACT.get(kind)
        targets.append(
            _Target(f.name, position[f.name], convert, convert_all, exact, nullable, default)
        )
    return targets


def per_row(fix: RowFix) -> ColumnFix:
    """Run a row-at-a-time fix over columns (for the small tables)."""

    def run(cols: Columns, n: int, ctx: Any) -> list[str | None]:
        reasons: list[str | None] = []
        for i in range(n):
            row = {name: values[i] for name, values in cols.items()}
            reasons.append(fix(row, ctx))
            for name, value in row.items():
                cols.setdefault(name, [None] * n)[i] = value
        return reasons

    return run


def no_fix(cols: Columns, n: int, ctx: Any) -> list[str | None]:
    """Keep every row as converted."""
    return [None] * n
