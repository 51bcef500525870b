"""Codegen fixtures: the generated base schema and databases to run SQL on.

PostgreSQL comes from the session server of tests/conftest.py
(``pg_server``: CCBRIDGE_TEST_PG_DSN or a private server). The codegen tests
share one database on it and each database a test asks for is a fresh
schema of its own, dropped after the test.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from codegen.dialects import DIALECTS
from tests.unit.codegen.cases import Base
from tests.unit.codegen.dbs import Db, PostgresDb, SqliteDb

if TYPE_CHECKING:
    from tests.pgserver import PgServer


@pytest.fixture(scope="session")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    """fixtures/base.yaml generated into a session temporary directory."""
    return Base.make(tmp_path_factory.mktemp("codegen-base"))


@pytest.fixture(scope="session")
def codegen_pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """A database the codegen tests share (one schema per test database)."""
    dsn = pg_server.create_database()
    yield dsn
    pg_server.drop_database(dsn)


@pytest.fixture
def make_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Db]]:
    """Return a factory of empty databases, removed after the test."""
    with contextlib.ExitStack() as stack:

        def make(dialect: str) -> Db:
            if dialect == "sqlite":
                conn = sqlite3.connect(tmp_path / f"codegen-{uuid.uuid4().hex[:8]}.db")
                stack.callback(conn.close)
                return SqliteDb(conn)
            dsn: str = request.getfixturevalue("codegen_pg_dsn")
            name = sql.Identifier(f"codegen_{uuid.uuid4().hex[:12]}")
            pg = stack.enter_context(psycopg.connect(dsn, autocommit=True))
            pg.execute(sql.SQL("CREATE SCHEMA {}").format(name))
            stack.callback(pg.execute, sql.SQL("DROP SCHEMA {} CASCADE").format(name))
            pg.execute(sql.SQL("SET search_path TO {}").format(name))
            pg.execute("SET TimeZone TO 'UTC'")
            return PostgresDb(pg)

        yield make


@pytest.fixture(params=list(DIALECTS))
def dialect(request: pytest.FixtureRequest) -> str:
    """Each dialect in turn."""
    return str(request.param)


@pytest.fixture
def sql_db(dialect: str, make_db: Callable[[str], Db]) -> Db:
    """An empty database of each dialect in turn."""
    return make_db(dialect)
