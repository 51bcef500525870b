"""Invalid schema.yaml: every error is ``schema.yaml:LINE: message``.

Each case is a small schema; the expected line is the line of the
offending key (counted from the first line of the text).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen.dialects import DIALECTS
from codegen.model import SchemaError, parse_schema
from codegen.queries import compile_query
from codegen.reserved import RESERVED
from tests.unit.codegen.cases import run_codegen

TYPES = "integer, bigint, real, text, boolean, timestamp, json, blob"
COLUMN_KEYS = (
    "autoincrement, default, destructive, doc, nullable, primary_key, references, renamed_from, "
    "type, unique"
)

HEAD = """\
tables:
  t:
    columns:
      id: {type: integer, primary_key: true}
"""  # lines 1-4; a case's own lines start at 5

CASES: dict[str, tuple[str, str]] = {
    "unknown type": (
        HEAD + "      n: {type: varchar}\n",
        f"schema.yaml:5: column 't.n' has unknown type 'varchar' (expected one of {TYPES})",
    ),
    "unknown type, block style": (
        HEAD + "      n:\n        doc: a number\n        type: int\n",
        f"schema.yaml:7: column 't.n' has unknown type 'int' (expected one of {TYPES})",
    ),
    "missing type": (
        HEAD + "      n: {nullable: false}\n",
        f"schema.yaml:5: column 't.n' has unknown type None (expected one of {TYPES})",
    ),
    "duplicate column": (
        HEAD + "      n: {type: text}\n      id: {type: text}\n",
        "schema.yaml:6: duplicate key 'id'",
    ),
    "duplicate table": (
        HEAD + "  t:\n    columns:\n      id: {type: integer, primary_key: true}\n",
        "schema.yaml:5: duplicate key 't'",
    ),
    "text default on integer": (
        HEAD + "      n: {type: integer, default: 'x'}\n",
        "schema.yaml:5: default of 't.n' is 'x', which is not a integer",
    ),
    "boolean default on integer": (
        HEAD + "      n: {type: integer, default: true}\n",
        "schema.yaml:5: default of 't.n' is True, which is not a integer",
    ),
    "integer default on boolean": (
        HEAD + "      b: {type: boolean, default: 0}\n",
        "schema.yaml:5: default of 't.b' is 0, which is not a boolean",
    ),
    "yesterday on timestamp": (
        HEAD + "      at: {type: timestamp, default: yesterday}\n",
        "schema.yaml:5: default of 't.at' is 'yesterday', which is not a timestamp"
        " (only 'now' is allowed)",
    ),
    "default on blob": (
        HEAD + "      b: {type: blob, default: abc}\n",
        "schema.yaml:5: default of 't.b' is 'abc', which is not a blob"
        " (blob columns take no default)",
    ),
    "seed value of the wrong type": (
        HEAD + "    seed:\n      - {id: one}\n",
        "schema.yaml:6: default of 't.id' is 'one', which is not a integer",
    ),
    "seed row lacks a required column": (
        HEAD + "      name: {type: text, nullable: false}\n    seed:\n      - {id: 1}\n",
        "schema.yaml:7: seed row lacks required column(s) name",
    ),
    "two autoincrement columns": (
        "tables:\n  t:\n    columns:\n"
        "      id: {type: integer, primary_key: true, autoincrement: true}\n"
        "      n: {type: integer, autoincrement: true}\n",
        "schema.yaml:5: table 't' has more than one autoincrement column",
    ),
    "autoincrement outside the key": (
        HEAD + "      n: {type: integer, autoincrement: true}\n",
        "schema.yaml:5: autoincrement column 't.n' must be the whole primary key",
    ),
    "autoincrement text": (
        "tables:\n  t:\n    columns:\n"
        "      id: {type: text, primary_key: true, autoincrement: true}\n",
        "schema.yaml:4: autoincrement column 't.id' must be integer or bigint",
    ),
    "nullable primary key": (
        "tables:\n  t:\n    columns:\n"
        "      id: {type: integer, primary_key: true, nullable: true}\n",
        "schema.yaml:4: primary key column 't.id' cannot be nullable",
    ),
    "key on the columns and the table": (
        HEAD + "    primary_key: [id]\n",
        "schema.yaml:5: declare the primary key on the columns or on the table, not both",
    ),
    "table key names a missing column": (
        "tables:\n  t:\n    columns:\n      a: {type: text}\n    primary_key: [a, b]\n",
        "schema.yaml:5: primary key column 'b' is not a column of 't'",
    ),
    "table without a primary key": (
        "tables:\n  t:\n    columns:\n      a: {type: text}\n",
        "schema.yaml:2: table 't' has no primary key: mark a column 'primary_key: true' or list "
        "'primary_key'",
    ),
    "reserved in both": (
        HEAD + "      order: {type: integer}\n",
        "schema.yaml:5: column name 'order' is reserved in sqlite and postgres",
    ),
    "reserved in postgres only": (
        HEAD + "      offset: {type: integer}\n",
        "schema.yaml:5: column name 'offset' is reserved in postgres",
    ),
    "reserved in sqlite only": (
        HEAD + "      index: {type: integer}\n",
        "schema.yaml:5: column name 'index' is reserved in sqlite",
    ),
    "reserved table name": (
        "tables:\n  user:\n    columns:\n      id: {type: integer, primary_key: true}\n",
        "schema.yaml:2: table name 'user' is reserved in postgres",
    ),
    "not snake_case": (
        HEAD + "      createdAt: {type: timestamp}\n",
        "schema.yaml:5: column name 'createdAt' must be lower snake_case",
    ),
    "unknown column key": (
        HEAD + "      n: {type: text, nulable: false}\n",
        f"schema.yaml:5: unknown key 'nulable' (expected one of {COLUMN_KEYS})",
    ),
    "unknown table key": (
        HEAD + "    index: {}\n",
        "schema.yaml:5: unknown key 'index' (expected one of bootstrap, columns, doc, "
        "dropped_columns, indexes, primary_key, renamed_from, seed)",
    ),
    "unknown top-level key": (
        HEAD + "views: {}\n",
        "schema.yaml:5: unknown key 'views' (expected one of dropped_tables, queries, tables)",
    ),
    "unknown index key": (
        HEAD + "    indexes:\n      ix_t: {columns: [id], include: [id]}\n",
        "schema.yaml:6: unknown key 'include' (expected one of columns, unique, where)",
    ),
    "duplicate index name in a table": (
        HEAD + "      u: {type: text, unique: true}\n    indexes:\n      uq_t_u: {columns: [u]}\n",
        "schema.yaml:7: duplicate index name 'uq_t_u'",
    ),
    "duplicate index name across tables": (
        HEAD
        + "    indexes:\n      ix_a: {columns: [id]}\n"
        + "  s:\n    columns:\n      id: {type: integer, primary_key: true}\n"
        + "    indexes:\n      ix_a: {columns: [id]}\n",
        "schema.yaml:11: duplicate index name 'ix_a'",
    ),
    "index on a missing column": (
        HEAD + "    indexes:\n      ix_t:\n        columns: [id, nope]\n",
        "schema.yaml:7: index 'ix_t' names missing column 't.nope'",
    ),
    "index without columns": (
        HEAD + "    indexes:\n      ix_t: {columns: []}\n",
        "schema.yaml:6: index 'ix_t' needs at least one column",
    ),
    "foreign key to a missing table": (
        HEAD + "      p_id: {type: integer, references: {table: p, column: id}}\n",
        "schema.yaml:5: foreign key 't.p_id' references missing table 'p'",
    ),
    "foreign key to a missing column": (
        HEAD + "      p_id: {type: integer, references: {table: t, column: nope}}\n",
        "schema.yaml:5: foreign key 't.p_id' references missing column 't.nope'",
    ),
    "foreign key to a column that is not a key": (
        HEAD
        + "      n: {type: integer}\n"
        + "      p_id: {type: integer, references: {table: t, column: n}}\n",
        "schema.yaml:6: foreign key target 't.n' is not a primary or unique key",
    ),
    "foreign key without a column": (
        HEAD + "      p_id: {type: integer, references: {table: t}}\n",
        "schema.yaml:5: 'references' needs 'table' and 'column'",
    ),
    "unknown on_delete": (
        HEAD
        + "      p_id:\n        type: integer\n"
        + "        references: {table: t, column: id, on_delete: explode}\n",
        "schema.yaml:7: on_delete must be one of cascade, set null, restrict, no action",
    ),
    "dropped column still declared": (
        HEAD + "    dropped_columns: [id]\n",
        "schema.yaml:5: column 't.id' is marked dropped but still declared",
    ),
    "dropped table still declared": (
        HEAD + "dropped_tables: [t]\n",
        "schema.yaml:5: table 't' is marked dropped but still declared",
    ),
    "flag that is not a boolean": (
        HEAD + "      n: {type: text, unique: 'yes'}\n",
        "schema.yaml:5: 'unique' must be true or false",
    ),
    "no tables": ("tables: {}\n", "schema.yaml:1: 'tables' must be a non-empty mapping"),
    "invalid YAML": (
        HEAD + "      n: {type: text\n",
        "schema.yaml:6: invalid YAML: expected ',' or '}', but got '<stream end>'",
    ),
    "query name": (
        HEAD + "queries:\n  by_id:\n    sql: SELECT 1\n",
        "schema.yaml:6: query name 'by_id' must be '<table or group>.<method>' in snake_case",
    ),
    "unknown query key": (
        HEAD + "queries:\n  t.q:\n    sql: SELECT 1\n    kind: exec\n    cache: true\n",
        "schema.yaml:9: unknown key 'cache'"
        " (expected one of dialects, doc, kind, params, raw, returns, sql)",
    ),
    "unknown query kind": (
        HEAD + "queries:\n  t.q:\n    sql: SELECT 1\n    kind: all\n",
        "schema.yaml:8: query kind must be one of one, many, exec, scalar",
    ),
    "query without returns": (
        HEAD + "queries:\n  t.q:\n    sql: SELECT id FROM t\n",
        "schema.yaml:6: query 't.q' of kind 'many' needs 'returns'",
    ),
    "scalar of two columns": (
        HEAD
        + "queries:\n  t.q:\n    kind: scalar\n"
        + "    returns: {a: integer, b: integer}\n    sql: SELECT 1, 2\n",
        "schema.yaml:8: a scalar query returns exactly one column",
    ),
    "parameter of unknown type": (
        HEAD
        + "queries:\n  t.q:\n    kind: exec\n"
        + "    params: {id: int}\n    sql: DELETE FROM t WHERE id = :id\n",
        f"schema.yaml:8: 'id' has unknown type 'int' "
        f"(expected one of {TYPES}, or 'TYPE | null' to take None)",
    ),
    "nullable parameter of unknown type": (
        HEAD
        + "queries:\n  t.q:\n    kind: exec\n"
        + "    params: {id: int | null}\n    sql: DELETE FROM t WHERE id = :id\n",
        f"schema.yaml:8: 'id' has unknown type 'int' "
        f"(expected one of {TYPES}, or 'TYPE | null' to take None)",
    ),
    "sql for one dialect of two": (
        HEAD + "queries:\n  t.q:\n    kind: exec\n    sql: {sqlite: DELETE FROM t}\n",
        "schema.yaml:8: 'sql' must be one string or one per dialect (sqlite, postgres)",
    ),
    "unknown dialect": (
        HEAD + "queries:\n  t.q:\n    kind: exec\n    dialects: [mysql]\n    sql: DELETE FROM t\n",
        "schema.yaml:8: unknown dialect 'mysql'",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_invalid_schema(case: str) -> None:
    text, message = CASES[case]
    with pytest.raises(SchemaError) as caught:
        parse_schema(text)
    assert str(caught.value) == message


def test_reserved_words_differ_per_dialect() -> None:
    # The cases above rely on these memberships.
    assert {"order", "offset", "index", "user"} <= RESERVED["sqlite"] | RESERVED["postgres"]
    assert ("order" in RESERVED["sqlite"], "order" in RESERVED["postgres"]) == (True, True)
    assert ("offset" in RESERVED["sqlite"], "offset" in RESERVED["postgres"]) == (False, True)
    assert ("index" in RESERVED["sqlite"], "index" in RESERVED["postgres"]) == (True, False)


INDEX_HEAD = HEAD + (
    "      a: {type: text}\n      ok: {type: boolean}\n"
    "    indexes:\n      ix_t:\n        columns: [a]\n"
)  # the index's `where` goes on line 10

PREDICATE_CASES: dict[str, tuple[str, str]] = {
    "empty": ('""', "where must be an SQL predicate string"),
    "not a string": ("[a]", "where must be an SQL predicate string"),
    "does not parse": ("a = (1", "where: Expecting )"),
    "unclosed string": ('"a = \'x"', "where: Error tokenizing 'a = ''"),
    "two statements": ("a = 1; a = 2", "where must be one boolean expression"),
    "a number": ("a + 1", "where must be one boolean expression"),
    "a text column": ("a", "where must be one boolean expression"),
    "an alias": ("a = 1 b", "where must be one boolean expression"),
    "subquery": ("a IN (SELECT id FROM t)", "where may not hold a subquery"),
    "exists": ("EXISTS (SELECT 1)", "where may not hold a subquery"),
    "named parameter": ("a = :a", "where may not take parameters"),
    "numbered parameter": ("a = $1", "where may not take parameters"),
    "current time": (
        "a < NOW()",
        "where must be deterministic (no NOW(), CURRENT_DATE or RANDOM())",
    ),
    "random": (
        "RANDOM() < 0.5",
        "where must be deterministic (no NOW(), CURRENT_DATE or RANDOM())",
    ),
    "missing column": ("nope = 1", "where names 'nope', which is not a column of 't'"),
    "unquoted string": ("a = pending", "where names 'pending', which is not a column of 't'"),
    "other table": ("u.a = 1", "where names 'u.a', which is not a column of 't'"),
}


@pytest.mark.parametrize("case", PREDICATE_CASES)
def test_invalid_index_predicate(case: str) -> None:
    where, message = PREDICATE_CASES[case]
    with pytest.raises(SchemaError) as caught:
        parse_schema(INDEX_HEAD + f"        where: {where}\n")
    assert str(caught.value) == f"schema.yaml:10: index 'ix_t' {message}"


QUERY_HEAD = HEAD + "queries:\n"  # the query's name is on line 6


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "  t.by_id:\n    returns: t\n    kind: one\n    sql: SELECT * FROM t WHERE id = :id\n",
            "schema.yaml:6: query 't.by_id' uses parameters ['id'] but declares []",
        ),
        (
            "  t.purge:\n    kind: exec\n    params: {id: integer, before: timestamp}\n"
            "    sql: DELETE FROM t WHERE id = :id\n",
            "schema.yaml:6: query 't.purge' uses parameters ['id'] but declares ['before', 'id']",
        ),
        (
            "  t.rows:\n    returns: t\n    sql: SELECT id FROM t\n",
            "schema.yaml:6: query 't.rows' returns rows of a table, so it must SELECT *",
        ),
        (
            "  t.rows:\n    returns: nope\n    sql: SELECT * FROM t\n",
            "schema.yaml:6: query 't.rows' returns unknown table 'nope'",
        ),
        (
            # "NULL = any" filters: the method must take None, or a caller's None matches nothing.
            "  t.purge:\n    kind: exec\n    params: {id: bigint, n: integer}\n"
            "    sql: DELETE FROM t WHERE (CAST(:id AS BIGINT) IS NULL OR id = :id)"
            " AND (:n IS NULL OR id > :n)\n",
            "schema.yaml:6: query 't.purge' tests id, n IS NULL: declare 'id: bigint | null', "
            "'n: integer | null' so its method takes None",
        ),
    ],
)
def test_invalid_query(query: str, message: str) -> None:
    schema = parse_schema(QUERY_HEAD + query)
    for d in DIALECTS.values():
        with pytest.raises(SchemaError) as caught:
            compile_query(schema.queries[0], schema, d)
        assert str(caught.value) == message


def test_query_that_does_not_parse() -> None:
    schema = parse_schema(QUERY_HEAD + "  t.bad:\n    kind: exec\n    sql: DELETE FROM WHERE\n")
    with pytest.raises(SchemaError) as caught:
        compile_query(schema.queries[0], schema, DIALECTS["sqlite"])
    # The rest is sqlglot's own description of the token.
    assert str(caught.value).startswith(
        "schema.yaml:6: query 't.bad': Expected table name but got <Token "
    )


def test_query_that_does_not_tokenize() -> None:
    schema = parse_schema(
        QUERY_HEAD + '  t.bad:\n    kind: exec\n    sql: "DELETE FROM t WHERE id = \'1"\n'
    )
    with pytest.raises(SchemaError) as caught:
        compile_query(schema.queries[0], schema, DIALECTS["sqlite"])
    assert str(caught.value).startswith("schema.yaml:6: query 't.bad': Error tokenizing")


def test_invalid_query_stops_codegen_before_writing(tmp_path: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        QUERY_HEAD
        + "  t.by_id:\n    returns: t\n    kind: one\n    sql: SELECT * FROM t WHERE id = :id\n"
    )
    status, stdout, stderr = run_codegen("--schema", schema, "--out", tmp_path / "generated")
    assert (status, stdout) == (1, "")
    assert (
        stderr == "codegen: schema.yaml:6: query 't.by_id' uses parameters ['id'] but declares []\n"
    )
    assert not (tmp_path / "generated").exists()


def test_error_names_the_file(tmp_path: Path) -> None:
    from codegen.model import load_schema

    path = tmp_path / "other.yaml"
    path.write_text(CASES["unknown type"][0])
    with pytest.raises(
        SchemaError, match=r"^other\.yaml:5: column 't\.n' has unknown type 'varchar'"
    ):
        load_schema(path)
