"""What every dialect provides; differences are class-level data.

Shared code never branches on a dialect's name: a new quirk is a flag, a map
entry or an overridden method here.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.errors import ErrorLevel

from codegen.model import NOW, Column

__all__ = ("Dialect", "strip_conflict_ordering")

# NOTE: this was the string "raise", which sqlglot compares with ErrorLevel.RAISE and
# so never raised. Raising now would refuse PostgreSQL's ALTER COLUMN … SET NOT NULL,
# which sqlglot reports as unsupported yet renders right (see the migration snapshots).
_UNSUPPORTED = ErrorLevel.IGNORE


class Dialect:
    """Render portable schema types and functions for one engine."""

    NAME: ClassVar[str]
    SQLGLOT: ClassVar[str]
    # Portable type -> DDL type. Built explicitly: sqlglot passes unknown types through.
    TYPE_MAPPING: ClassVar[dict[str, exp.DataType]]
    # Portable type -> the type name the live catalog reports (for `ccbridge check`).
    INTROSPECTED_TYPE: ClassVar[dict[str, str]]
    # Portable type -> codec of ccbridge/daoruntime.py applied on write / read (None: the
    # driver's value is right).
    WRITE_CODEC: ClassVar[dict[str, str | None]]
    READ_CODEC: ClassVar[dict[str, str | None]]
    # ALTER TABLE … ALTER COLUMN (type, default, NOT NULL) and ADD/DROP CONSTRAINT.
    SUPPORTS_ALTER_COLUMN: ClassVar[bool]
    # ADD COLUMN with a non-constant default (e.g. the current time).
    SUPPORTS_ADD_COLUMN_EXPR_DEFAULT: ClassVar[bool]
    # Literal `%` must be doubled in statements the driver formats.
    ESCAPE_PERCENT: ClassVar[bool]
    # Bulk insert statement: COPY … FROM STDIN, else the plain INSERT.
    SUPPORTS_COPY: ClassVar[bool]
    # What a scan is split by: "rowid" ranges, or "ctid" ranges of heap blocks.
    SPLIT_SCAN_BY: ClassVar[str]
    # Bound values one batched upsert (VALUES (...), (...) ...) may carry, so
    # many rows cost one statement run, not one each; 0: a row a statement
    # (PostgreSQL refuses a key twice in one ON CONFLICT DO UPDATE).
    BATCH_VALUES_LIMIT: ClassVar[int]
    # Positional placeholder, as the driver expects it.
    PLACEHOLDER: ClassVar[str]
    # Whether the catalog reports an autoincrement key as NOT NULL.
    AUTOINCREMENT_REPORTS_NOT_NULL: ClassVar[bool]
    # Coercions of computed query columns (SUM of bigint is numeric on PostgreSQL).
    RESULT_CODEC: ClassVar[dict[str, str]]

    def column_type(self, col: Column) -> exp.DataType:
        """Return the DDL type of a column."""
        return self.TYPE_MAPPING[col.type].copy()

    def autoincrement(self, col: Column) -> list[exp.ColumnConstraint]:
        """Return the constraints that make a column autoincrement."""
        raise NotImplementedError

    def now(self) -> exp.Expression:
        """Return the current time, in this dialect's timestamp encoding."""
        raise NotImplementedError

    def epoch(self, value: exp.Expression) -> exp.Expression:
        """Return whole seconds since 1970 of a timestamp expression."""
        raise NotImplementedError

    def literal(self, ctype: str, value: Any) -> exp.Expression:
        """Return a constant of a portable type as SQL."""
        if value is None:
            return exp.null()
        if ctype == "timestamp" and value == NOW:
            return self.now()
        if ctype == "boolean":
            return self.boolean(value)
        if ctype == "json":
            return self.json_literal(json.dumps(value, sort_keys=True, separators=(",", ":")))
        if isinstance(value, (int, float)):
            return exp.Literal.number(repr(value) if isinstance(value, float) else value)
        return exp.Literal.string(value)

    def boolean(self, value: bool) -> exp.Expression:
        """Return a boolean constant."""
        return exp.Boolean(this=value)

    def json_literal(self, text: str) -> exp.Expression:
        """Return a JSON constant from its text."""
        return exp.Literal.string(text)

    def default(self, col: Column) -> exp.Expression:
        """Return a column's DEFAULT expression (parenthesised if not constant)."""
        value = self.literal(col.type, col.default)
        bare = (exp.Literal, exp.Boolean, exp.Null, exp.Neg, exp.CurrentTimestamp, exp.Cast)
        return value if isinstance(value, bare) else exp.Paren(this=value)

    def rewrite(self, tree: exp.Expr) -> exp.Expr:
        """Rewrite a neutral query tree into this dialect's tree."""
        tree = strip_conflict_ordering(tree)
        return tree.transform(self._rewrite_node)

    def _rewrite_node(self, node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.CurrentTimestamp):
            return self.now()
        if isinstance(node, exp.Anonymous) and str(node.this).upper() == "EPOCH":
            (arg,) = node.expressions
            return self.epoch(arg)
        return node

    def render(self, tree: exp.Expr, pretty: bool = False) -> str:
        """Render an expression as this dialect's SQL text."""
        if isinstance(tree, exp.Create) and tree.kind == "TABLE":
            return self._render_create_table(tree)
        return tree.sql(dialect=self.SQLGLOT, pretty=pretty, unsupported_level=_UNSUPPORTED)

    def _render_create_table(self, tree: exp.Create) -> str:
        # One column per line; sqlglot's pretty mode also breaks inside a column.
        schema = tree.this
        head = tree.copy()
        head.set("this", exp.Schema(this=schema.this.copy(), expressions=[exp.var("__COLUMNS__")]))
        items = ",\n  ".join(self.render(item) for item in schema.expressions)
        flat = head.sql(dialect=self.SQLGLOT, unsupported_level=_UNSUPPORTED)
        return flat.replace("(__COLUMNS__)", f"(\n  {items}\n)")


def strip_conflict_ordering(tree: exp.Expr) -> exp.Expr:
    """Turn ON CONFLICT keys back into plain columns.

    sqlglot parses conflict keys as ORDER BY terms and may render null
    ordering (``a NULLS LAST``), which neither engine accepts there.
    """
    tree = tree.copy()
    for conflict in tree.find_all(exp.OnConflict):
        keys = conflict.args.get("conflict_keys") or []
        conflict.set("conflict_keys", [k.this if isinstance(k, exp.Ordered) else k for k in keys])
    return tree
