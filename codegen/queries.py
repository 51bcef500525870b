"""Named queries: written once, transpiled per dialect at codegen time.

Neutral SQL is PostgreSQL-flavoured (its integer division and NULL ordering
are the semantics we keep) plus two portable functions the dialects rewrite:
``NOW()`` and ``EPOCH(timestamp)``. Placeholders are ``:name``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from codegen.crud import field_order
from codegen.dialects.base import Dialect
from codegen.model import NEUTRAL_SQL, Query, Schema, SchemaError

__all__ = ("CompiledQuery", "compile_query")


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """One named query rendered for one dialect."""

    sql: str
    writes: bool
    placeholders: tuple[str, ...]


def compile_query(
    query: Query, schema: Schema, d: Dialect, file: str = "schema.yaml"
) -> CompiledQuery:
    """Parse, rewrite and render a named query for a dialect."""
    neutral = query.sql is not None
    text = query.sql if query.sql is not None else query.sql_by_dialect[d.NAME]
    if query.raw:
        # NOTE: sqlglot misreads some statements (LISTEN parses as an alias);
        # raw ones are kept verbatim and checked by the database at run time.
        return CompiledQuery(sql=text, writes=True, placeholders=())
    try:
        tree = sqlglot.parse_one(text, read=NEUTRAL_SQL if neutral else d.SQLGLOT)
    except ParseError as ex:
        raise SchemaError(
            file, query.line, f"query '{query.name}': {ex.errors[0]['description']}"
        ) from None
    except TokenError as ex:  # e.g. an unterminated string
        raise SchemaError(file, query.line, f"query '{query.name}': {ex}") from None
    if isinstance(query.returns, str):
        tree = _expand_star(tree, query, schema, file)
    if neutral:
        tree = d.rewrite(tree)
    placeholders = tuple(dict.fromkeys(p.name for p in tree.find_all(exp.Placeholder)))
    declared = tuple(name for name, _ in query.params)
    if set(placeholders) != set(declared):
        raise SchemaError(
            file,
            query.line,
            f"query '{query.name}' uses parameters {sorted(placeholders)} "
            f"but declares {sorted(declared)}",
        )
    tested = sorted(_null_tested(tree) - set(query.optional))
    if tested:
        raise SchemaError(
            file,
            query.line,
            f"query '{query.name}' tests {', '.join(tested)} IS NULL: declare "
            + ", ".join(f"'{n}: {dict(query.params)[n]} | null'" for n in tested)
            + " so its method takes None",
        )
    if d.ESCAPE_PERCENT:
        tree = _double_percent(tree)
    sql = d.render(tree, pretty=True)
    return CompiledQuery(sql=sql, writes=_writes(tree), placeholders=placeholders)


def _expand_star(tree: exp.Expr, query: Query, schema: Schema, file: str) -> exp.Expr:
    # A query returning table rows selects the row's fields, in field order.
    try:
        table = schema.table(str(query.returns))
    except KeyError:
        raise SchemaError(
            file, query.line, f"query '{query.name}' returns unknown table '{query.returns}'"
        ) from None
    if not isinstance(tree, exp.Select) or not isinstance(tree.expressions[0], exp.Star):
        raise SchemaError(
            file, query.line, f"query '{query.name}' returns rows of a table, so it must SELECT *"
        )
    return tree.select(*[c.name for c in field_order(table)], append=False)


def _null_tested(tree: exp.Expr) -> set[str]:
    """Return the parameters the query compares with NULL (``:p IS NULL``, cast or not)."""
    names = set()
    for node in tree.find_all(exp.Is):
        operand = node.this.this if isinstance(node.this, exp.Cast) else node.this
        if isinstance(operand, exp.Placeholder) and isinstance(node.expression, exp.Null):
            names.add(operand.name)
    return names


def _double_percent(tree: exp.Expr) -> exp.Expr:
    def escape(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Literal) and node.is_string and "%" in node.this:
            return exp.Literal.string(node.this.replace("%", "%%"))
        if isinstance(node, exp.Mod):
            # `a % b` would reach the driver as a broken placeholder; MOD() is the same.
            args = [node.this.transform(escape), node.expression.transform(escape)]
            return exp.Anonymous(this="MOD", expressions=args)
        return node

    return tree.transform(escape)


def _writes(tree: exp.Expr) -> bool:
    if isinstance(tree, exp.Select):
        return bool(tree.args.get("locks"))
    return not isinstance(tree, (exp.Union, exp.Pragma))
