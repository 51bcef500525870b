"""split_statements: how migration files are cut into statements."""

from __future__ import annotations

import pytest

from ccbridge.db.base import split_statements


def test_splits_on_semicolons_at_line_ends() -> None:
    text = "-- header\n\nCREATE TABLE a (x INT);\nCREATE INDEX i\n  ON a(x);\n"
    assert split_statements(text) == [
        "-- header\n\nCREATE TABLE a (x INT);",
        "CREATE INDEX i\n  ON a(x);",
    ]


def test_semicolons_inside_strings_and_comments_do_not_split() -> None:
    text = "INSERT INTO t VALUES ('a;\nb;');\n-- not; a statement;\nUPDATE t SET x = 1;\n"
    assert split_statements(text) == [
        "INSERT INTO t VALUES ('a;\nb;');",
        "-- not; a statement;\nUPDATE t SET x = 1;",
    ]


def test_trailing_comments_are_dropped() -> None:
    assert split_statements("SELECT 1;\n-- the end\n\n") == ["SELECT 1;"]
    assert split_statements("-- only a comment\n") == []


def test_unterminated_statement_is_an_error() -> None:
    with pytest.raises(ValueError, match="does not end with ';'"):
        split_statements("SELECT 1;\nSELECT 2\n")


def test_generated_migrations_split_cleanly() -> None:
    from ccbridge.db.migrate import load_migrations

    for dialect in ("sqlite", "postgres"):
        for migration in load_migrations(dialect):
            statements = split_statements(migration.sql)
            assert statements and all(s.endswith(";") for s in statements)
