"""What `ccbridge check` expects the live database to hold (each table module's CATALOG).

Per dialect and table: columns with the type, NOT NULL, key and default the
engine reports, secondary indexes, foreign keys, and the column order where
a named query depends on it (``SELECT *`` not expanded by codegen, or an
``INSERT`` without a column list). Nothing else reads column positions:
generated statements always name their columns.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from codegen.ddl import create_index, drop_index
from codegen.dialects import DIALECTS, Dialect
from codegen.model import Column, Schema, Table
from codegen.queries import compile_query

__all__ = ("expected_catalog", "index_ddl", "order_dependent_tables")


def expected_catalog(schema: Schema) -> dict[str, Any]:
    """Return, per dialect, every table as `ccbridge check` compares it."""
    out: dict[str, Any] = {}
    for name, d in DIALECTS.items():
        ordered = order_dependent_tables(schema, name)
        tables = {}
        for t in schema.tables:
            cols = {
                c.name: [
                    d.INTROSPECTED_TYPE[c.type],
                    not c.nullable
                    and not (c.autoincrement and not d.AUTOINCREMENT_REPORTS_NOT_NULL),
                    c.name in t.primary_key,
                    _default(c, d),
                ]
                for c in t.columns
            }
            indexes = {
                ix.name: [ix.unique, list(ix.columns), ix.where is not None]
                for ix in sorted(t.indexes, key=lambda i: i.name)
            }
            tables[t.name] = {
                "columns": cols,
                "indexes": indexes,
                "foreign_keys": _foreign_keys(t),
                "column_order": [c.name for c in t.columns] if t.name in ordered else None,
            }
        out[name] = {"tables": tables}
    return out


def _default(col: Column, d: Dialect) -> str | None:
    """Return a column's DEFAULT as its DDL spells it; None for none or NULL."""
    if col.autoincrement or not col.has_default or col.default is None:
        return None
    return d.render(d.default(col))


def _foreign_keys(table: Table) -> dict[str, list[str]]:
    return {
        c.name: [c.references.table, c.references.column, c.references.on_delete.upper()]
        for c in table.columns
        if c.references is not None
    }


def order_dependent_tables(schema: Schema, dialect: str) -> set[str]:
    """Return the tables whose column order some named query of a dialect relies on."""
    d = DIALECTS[dialect]
    found: set[str] = set()
    for q in schema.queries:
        if dialect not in q.dialects or q.raw:
            continue  # NOTE: raw SQL is not parsed; keep it free of SELECT * and bare INSERTs
        try:
            tree = sqlglot.parse_one(compile_query(q, schema, d).sql, read=d.SQLGLOT)
        except ParseError:
            continue
        found |= _positional_tables(tree)
    return found


def _positional_tables(tree: exp.Expr) -> set[str]:
    out: set[str] = set()
    for select in tree.find_all(exp.Select):
        if any(isinstance(e, exp.Star) for e in select.expressions):
            out |= {t.name for t in select.find_all(exp.Table)}
    for insert in tree.find_all(exp.Insert):
        if isinstance(insert.this, exp.Table):  # no column list: values go by position
            out.add(insert.this.name)
    return out


def index_ddl(schema: Schema) -> dict[str, Any]:
    """Return [CREATE, DROP] of every index, as schema.sql spells them."""
    return {
        name: {
            t.name: {
                ix.name: [d.render(create_index(ix, d)) + ";", d.render(drop_index(ix.name)) + ";"]
                for ix in sorted(t.indexes, key=lambda i: i.name)
            }
            for t in schema.migrated_tables
        }
        for name, d in DIALECTS.items()
    }
