"""generated/catalog.py: defaults as each engine's DDL spells them, foreign keys, column order."""

from __future__ import annotations

from codegen.catalog import expected_catalog, order_dependent_tables
from codegen.model import parse_schema

TABLES = """
tables:
  p:
    columns:
      id: {type: integer, primary_key: true, autoincrement: true}
      name: {type: text, nullable: false, default: x}
      at: {type: timestamp, default: now}
      flag: {type: boolean, default: true}
      gone: {type: text, default: null}
  c:
    columns:
      p_id:
        type: integer
        primary_key: true
        references: {table: p, column: id, on_delete: cascade}
      n: {type: real, default: 0}
"""
POSITIONAL = """
  p.all_raw:
    returns: {id: integer, name: text}
    sql: SELECT * FROM p
  c.copy:
    kind: exec
    sql: INSERT INTO c SELECT p_id, n FROM c
"""
NAMED = """
  p.named:
    returns: p
    sql: SELECT * FROM p
"""


def test_expected_defaults_foreign_keys_and_order() -> None:
    schema = parse_schema(TABLES + "queries:" + POSITIONAL + NAMED)
    catalog = expected_catalog(schema)
    sqlite, postgres = (catalog[d]["tables"] for d in ("sqlite", "postgres"))
    assert {c: spec[3] for c, spec in sqlite["p"]["columns"].items()} == {
        "id": None,
        "name": "'x'",
        "at": "(STRFTIME('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')",
        "flag": "1",
        "gone": None,
    }
    assert {c: spec[3] for c, spec in postgres["p"]["columns"].items()} == {
        "id": None,
        "name": "'x'",
        "at": "CURRENT_TIMESTAMP",
        "flag": "TRUE",
        "gone": None,
    }
    assert postgres["c"]["foreign_keys"] == {"p_id": ["p", "id", "CASCADE"]}
    assert sqlite["p"]["foreign_keys"] == {}
    # p.all_raw reads p by position and c.copy inserts into c by position;
    # p.named's SELECT * is expanded by codegen, so it alone would not count.
    assert sqlite["p"]["column_order"] == ["id", "name", "at", "flag", "gone"]
    assert sqlite["c"]["column_order"] == ["p_id", "n"]


def test_expanded_star_does_not_make_order_matter() -> None:
    schema = parse_schema(TABLES + "queries:" + NAMED)
    assert order_dependent_tables(schema, "sqlite") == set()
    assert expected_catalog(schema)["postgres"]["tables"]["p"]["column_order"] is None
