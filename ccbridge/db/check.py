"""Drift check: the live database against ``generated.catalog.EXPECTED``.

Introspection runs through the generated ``catalog.columns`` and
``catalog.indexes`` queries; the comparison is plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ccbridge.db.base import Database
from generated.catalog import EXPECTED

__all__ = ("Column", "Index", "Table", "check_schema", "compare")


@dataclass(frozen=True, slots=True)
class Column:
    """A column as introspected or expected."""

    type: str
    not_null: bool
    pk: bool


@dataclass(frozen=True, slots=True)
class Index:
    """A secondary index as introspected or expected."""

    unique: bool
    columns: tuple[str, ...]
    # Only whether the index has a WHERE: the engines spell a predicate differently.
    partial: bool = False


@dataclass(slots=True)
class Table:
    """A table's columns and secondary indexes, by name."""

    columns: dict[str, Column] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)


async def check_schema(db: Database) -> list[str]:
    """Return human-readable differences from the expected schema.

    An empty list means the live tables, columns and indexes are exactly
    those schema.yaml declares for this dialect.
    """
    columns = await db.daos.catalog.columns()
    indexes = await db.daos.catalog.indexes()
    live: dict[str, Table] = {}
    for c in columns:
        live.setdefault(str(c.table_name), Table()).columns[str(c.column_name)] = Column(
            c.data_type or "", bool(c.not_null), bool(c.pk)
        )
    for i in indexes:
        live.setdefault(str(i.table_name), Table()).indexes[str(i.index_name)] = Index(
            bool(i.is_unique), tuple((i.columns or "").split(",")), bool(i.is_partial)
        )
    return compare(_expected(EXPECTED[db.dialect]["tables"]), live)


def _expected(tables: Mapping[str, Any]) -> dict[str, Table]:
    return {
        name: Table(
            columns={
                c: Column(t, bool(nn), bool(pk)) for c, (t, nn, pk) in spec["columns"].items()
            },
            indexes={
                i: Index(bool(u), tuple(cols), bool(partial))
                for i, (u, cols, partial) in spec["indexes"].items()
            },
        )
        for name, spec in tables.items()
    }


def compare(expected: Mapping[str, Table], live: Mapping[str, Table]) -> list[str]:
    """Return the differences between two catalogs, expected first."""
    findings = [f"missing table {name}" for name in sorted(expected.keys() - live.keys())]
    findings += [f"unexpected table {name}" for name in sorted(live.keys() - expected.keys())]
    for name in sorted(expected.keys() & live.keys()):
        findings += _compare_columns(name, expected[name].columns, live[name].columns)
        findings += _compare_indexes(name, expected[name].indexes, live[name].indexes)
    return findings


def _compare_columns(
    table: str, expected: Mapping[str, Column], live: Mapping[str, Column]
) -> Iterable[str]:
    yield from _missing_extra(f"{table}: ", "column", expected, live)
    for name in (n for n in expected if n in live):
        want, got = expected[name], live[name]
        where = f"{table}.{name}"
        # SQLite reports the declared type as written; compare case-blind.
        if want.type.lower() != got.type.lower():
            yield f"{where}: type is {got.type}, expected {want.type}"
        if want.not_null != got.not_null:
            yield f"{where}: {_null(got.not_null)}, expected {_null(want.not_null)}"
        if want.pk != got.pk:
            yield f"{where}: {_pk(got.pk)}, expected {_pk(want.pk)}"


def _compare_indexes(
    table: str, expected: Mapping[str, Index], live: Mapping[str, Index]
) -> Iterable[str]:
    yield from _missing_extra(f"{table}: ", "index", expected, live)
    for name in (n for n in expected if n in live):
        want, got = expected[name], live[name]
        if want != got:
            yield f"{table}: index {name} is {_index(got)}, expected {_index(want)}"


def _missing_extra(
    prefix: str, what: str, expected: Mapping[str, Any], live: Mapping[str, Any]
) -> Iterable[str]:
    yield from (f"{prefix}missing {what} {n}" for n in expected if n not in live)
    yield from (f"{prefix}unexpected {what} {n}" for n in live if n not in expected)


def _null(not_null: bool) -> str:
    return "NOT NULL" if not_null else "nullable"


def _pk(pk: bool) -> str:
    return "in the primary key" if pk else "not in the primary key"


def _index(index: Index) -> str:
    kind = ("partial " if index.partial else "") + ("UNIQUE " if index.unique else "")
    return f"{kind}({', '.join(index.columns)})"
