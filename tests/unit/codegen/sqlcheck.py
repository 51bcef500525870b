"""Exact-SQL assertions per dialect, in the spirit of sqlglot's validate_all.

``assert_sql(expr, sqlite="…", postgres="…")`` renders one expression (or
what a callable builds for each dialect) with codegen's own dialects and
compares the text exactly. ``assert_round_trip`` parses emitted SQL back
with sqlglot in its dialect and expects the same text again.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp

from codegen.dialects import DIALECTS, Dialect

__all__ = ("assert_round_trip", "assert_sql", "render")

Built = exp.Expression | str
Source = exp.Expression | Callable[[Dialect], Built]


def render(source: Source, d: Dialect) -> str:
    """Return the SQL a source makes in one dialect."""
    built = source(d) if callable(source) else source
    return built if isinstance(built, str) else d.render(built)


def assert_sql(source: Source, *, sqlite: str, postgres: str) -> None:
    """Assert the exact SQL of an expression in every dialect.

    Args:
        source: An expression, or a callable building one (or SQL text) for a
            dialect, e.g. ``lambda d: column_def(col, table, d)``.
        sqlite: The expected SQLite text.
        postgres: The expected PostgreSQL text.
    """
    expected = {"sqlite": sqlite, "postgres": postgres}
    assert set(expected) == set(DIALECTS), "assert_sql must cover every dialect"
    actual = {name: render(source, d) for name, d in DIALECTS.items()}
    assert actual == expected


def round_trip(text: str, d: Dialect) -> str:
    """Return ``text`` parsed by sqlglot in the dialect and rendered again."""
    return d.render(sqlglot.parse_one(text, read=d.SQLGLOT))


def assert_round_trip(text: str, d: Dialect) -> None:
    """Assert that emitted SQL survives a parse and re-render unchanged.

    NOTE: sqlglot's SQLite writer prints the BOOLEAN type as INTEGER; codegen
    declares SQLite types as USERDEFINED to keep the BOOLEAN affinity name
    (codegen/dialects/sqlite.py), so that one difference is expected.
    """
    expected = text.replace(" BOOLEAN", " INTEGER") if d.NAME == "sqlite" else text
    assert round_trip(text, d) == expected
