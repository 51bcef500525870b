"""Drift check: the live database against ``generated.catalog.EXPECTED``.

Introspection runs through the generated ``catalog.*`` queries (columns with
their defaults, indexes, foreign keys, other constraints); the comparison is
plain data. Column order is compared only for a table some named query reads
by position (``column_order`` in the catalog); everything codegen writes
names its columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ccbridge.db.base import Database
from generated.catalog import EXPECTED
from generated.dao import CatalogQueries

__all__ = (
    "Column",
    "ForeignKey",
    "Index",
    "Table",
    "check_schema",
    "compare",
    "expected_tables",
    "live_tables",
    "same_default",
)


@dataclass(frozen=True, slots=True)
class Column:
    """A column as introspected or expected."""

    type: str
    not_null: bool
    pk: bool
    default: str | None = None  # as the engine reports it (or the DDL spells it)


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """Where a column's foreign key points, and what a parent's deletion does."""

    table: str
    column: str
    on_delete: str = "NO ACTION"


@dataclass(frozen=True, slots=True)
class Index:
    """A secondary index as introspected or expected."""

    unique: bool
    columns: tuple[str, ...]
    # Only whether the index has a WHERE: the engines spell a predicate differently.
    partial: bool = False


@dataclass(slots=True)
class Table:
    """A table's columns (in order), secondary indexes, foreign keys and constraints.

    ``order_matters`` (expected side): a named query reads this table's
    columns by position. ``constraints``: name -> kind (UNIQUE, CHECK,
    EXCLUDE); schema.yaml declares none, so every live one is unexpected.
    """

    columns: dict[str, Column] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    foreign_keys: dict[str, ForeignKey] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)
    order_matters: bool = False


async def check_schema(db: Database) -> list[str]:
    """Return human-readable differences from the expected schema.

    An empty list means the live tables, columns (type, NOT NULL, key,
    default), indexes, foreign keys and constraints are exactly those
    schema.yaml declares for this dialect.
    """
    return compare(expected_tables(db.dialect), await live_tables(db.daos.catalog))


def expected_tables(dialect: str) -> dict[str, Table]:
    """Return the tables generated/catalog.py expects on a dialect."""
    return _expected(EXPECTED[dialect]["tables"])


async def live_tables(catalog: CatalogQueries) -> dict[str, Table]:
    """Return the live tables, read through the generated catalog queries."""
    live: dict[str, Table] = {}
    for c in await catalog.columns():
        live.setdefault(str(c.table_name), Table()).columns[str(c.column_name)] = Column(
            c.data_type or "", bool(c.not_null), bool(c.pk), c.column_default
        )
    for i in await catalog.indexes():
        live.setdefault(str(i.table_name), Table()).indexes[str(i.index_name)] = Index(
            bool(i.is_unique), tuple((i.columns or "").split(",")), bool(i.is_partial)
        )
    for f in await catalog.foreign_keys():
        live.setdefault(str(f.table_name), Table()).foreign_keys[str(f.column_name)] = ForeignKey(
            str(f.ref_table), str(f.ref_column), str(f.on_delete).upper()
        )
    for k in await catalog.constraints():
        live.setdefault(str(k.table_name), Table()).constraints[str(k.constraint_name)] = str(
            k.kind
        )
    return live


def _expected(tables: Mapping[str, Any]) -> dict[str, Table]:
    return {
        name: Table(
            columns={
                c: Column(t, bool(nn), bool(pk), default)
                for c, (t, nn, pk, default) in _ordered(spec).items()
            },
            indexes={
                i: Index(bool(u), tuple(cols), bool(partial))
                for i, (u, cols, partial) in spec["indexes"].items()
            },
            foreign_keys={c: ForeignKey(*ref) for c, ref in spec["foreign_keys"].items()},
            order_matters=spec["column_order"] is not None,
        )
        for name, spec in tables.items()
    }


def _ordered(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Return a table's expected columns in declared order."""
    order = spec["column_order"] or list(spec["columns"])
    return {c: spec["columns"][c] for c in order}


def compare(expected: Mapping[str, Table], live: Mapping[str, Table]) -> list[str]:
    """Return the differences between two catalogs, expected first."""
    findings = [f"missing table {name}" for name in sorted(expected.keys() - live.keys())]
    findings += [f"unexpected table {name}" for name in sorted(live.keys() - expected.keys())]
    for name in sorted(expected.keys() & live.keys()):
        want, got = expected[name], live[name]
        findings += _compare_columns(name, want.columns, got.columns)
        if want.order_matters:
            findings += _compare_order(name, want.columns, got.columns)
        findings += _compare_indexes(name, want.indexes, got.indexes)
        findings += _compare_foreign_keys(name, want.foreign_keys, got.foreign_keys)
        findings += [
            f"{name}: unexpected {kind} constraint {c}"
            for c, kind in sorted(got.constraints.items())
        ]
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
        if not same_default(want.default, got.default):
            yield f"{where}: {_default(got.default)}, expected {_default(want.default)}"


def _compare_order(
    table: str, expected: Mapping[str, Column], live: Mapping[str, Column]
) -> Iterable[str]:
    want = [c for c in expected if c in live]
    got = [c for c in live if c in expected]
    if want != got:
        yield (
            f"{table}: columns are in the order {', '.join(got)}, expected {', '.join(want)} "
            "(a named query reads them by position)"
        )


def _compare_foreign_keys(
    table: str, expected: Mapping[str, ForeignKey], live: Mapping[str, ForeignKey]
) -> Iterable[str]:
    for column in expected:
        if column not in live:
            yield f"{table}.{column}: missing foreign key {_fk(expected[column])}"
        elif expected[column] != live[column]:
            got, want = _fk(live[column]), _fk(expected[column])
            yield f"{table}.{column}: foreign key is {got}, expected {want}"
    for column in live:
        if column not in expected:
            yield f"{table}.{column}: unexpected foreign key {_fk(live[column])}"


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


def _fk(fk: ForeignKey) -> str:
    return f"-> {fk.table}({fk.column}) ON DELETE {fk.on_delete}"


def _default(value: str | None) -> str:
    return "no default" if _normal(value) is None else f"default {value}"


# A trailing PostgreSQL cast (`'x'::text`, `'0'::double precision`), or CAST(x AS t).
_PG_CAST = re.compile(r"::[a-z ]+(\[\])?$")
_CAST = re.compile(r"^cast\((.*) as [a-z ]+\)$", re.IGNORECASE | re.DOTALL)


def same_default(expected: str | None, live: str | None) -> bool:
    """Return whether two DEFAULT expressions mean the same value.

    The expected side is the DDL text codegen wrote; PostgreSQL reports its
    own spelling (``'pending'::text`` for ``'pending'``, ``'0'::double
    precision`` for ``0.0``, ``'{"a": 1}'::jsonb`` for ``CAST('{"a":1}' AS
    JSONB)``), so both are reduced to a literal value first.
    """
    a, b = _normal(expected), _normal(live)
    if a is None or b is None:
        return a is b
    return bool(_value(a) == _value(b))


def _normal(text: str | None) -> str | None:
    """Return a default without casts, outer parentheses or NULL (None)."""
    if text is None:
        return None
    value = text.strip()
    while True:
        before = value
        value = _PG_CAST.sub("", value).strip()
        if match := _CAST.match(value):
            value = match.group(1).strip()
        if value.startswith("(") and value.endswith(")") and _balanced(value[1:-1]):
            value = value[1:-1].strip()
        if value == before:
            break
    return None if value.upper() == "NULL" else value


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _value(text: str) -> Any:
    """Return the value a literal default stands for (else its normalised text)."""
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1].replace("''", "'")
        try:
            return json.loads(text)  # JSON text (jsonb respaces it), numbers quoted by casts
        except ValueError:
            return text
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return float(text)
    except ValueError:
        return " ".join(text.lower().split())


def _index(index: Index) -> str:
    kind = ("partial " if index.partial else "") + ("UNIQUE " if index.unique else "")
    return f"{kind}({', '.join(index.columns)})"
