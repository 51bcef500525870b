"""Identifiers a column or table may not use unquoted, per dialect.

Read off the engines themselves (2026-11): for PostgreSQL 15,
``SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')`` (reserved
words, https://www.postgresql.org/docs/15/sql-keywords-appendix.html); for
SQLite 3.40, every keyword of https://sqlite.org/lang_keywords.html that fails
as a bare table or column name in CREATE, INDEX, SELECT, INSERT or UPDATE.
"""

from __future__ import annotations

__all__ = ("RESERVED",)

RESERVED: dict[str, frozenset[str]] = {
    "sqlite": frozenset(
        (
        "add", "all", "alter", "and", "as", "autoincrement", "between", "case", "cast",
        "check", "collate", "commit", "constraint", "create", "current_date",
        "current_time", "current_timestamp", "default", "deferrable", "delete",
        "distinct", "drop", "else", "escape", "except", "exists", "foreign", "from",
        "group", "having", "if", "in", "index", "insert", "intersect", "into", "is",
        "isnull", "join", "limit", "not", "nothing", "notnull", "null", "on", "or",
        "order", "primary", "raise", "references", "returning", "select", "set",
        "table", "then", "to", "transaction", "union", "unique", "update", "using",
        "values", "when", "where",
        )
    ),
    "postgres": frozenset(
        (
        "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric",
        "authorization", "binary", "both", "case", "cast", "check", "collate",
        "collation", "column", "concurrently", "constraint", "create", "cross",
        "current_catalog", "current_date", "current_role", "current_schema",
        "current_time", "current_timestamp", "current_user", "default", "deferrable",
        "desc", "distinct", "do", "else", "end", "except", "false", "fetch", "for",
        "foreign", "freeze", "from", "full", "grant", "group", "having", "ilike", "in",
        "initially", "inner", "intersect", "into", "is", "isnull", "join", "lateral",
        "leading", "left", "like", "limit", "localtime", "localtimestamp", "natural",
        "not", "notnull", "null", "offset", "on", "only", "or", "order", "outer",
        "overlaps", "placing", "primary", "references", "returning", "right", "select",
        "session_user", "similar", "some", "symmetric", "table", "tablesample", "then",
        "to", "trailing", "true", "union", "unique", "user", "using", "variadic",
        "verbose", "when", "where", "window", "with",
        )
    ),
}
