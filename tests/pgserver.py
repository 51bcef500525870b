"""A throwaway PostgreSQL server for the test session.

``PgServer.start()`` runs initdb into a temporary directory and starts
postgres on a free loopback port (fsync off, socket in the same directory);
``stop()`` kills it and removes the directory. With ``CCBRIDGE_TEST_PG_DSN``
set, ``PgServer.external()`` uses that server instead (it needs CREATEDB).

PostgreSQL refuses to run as root, so as root the binaries run as the
``postgres`` user through ``runuser``.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = ("PgServer", "PgUnavailable")

BINDIR: Final = Path(os.environ.get("CCBRIDGE_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
_SERVER_OPTIONS: Final = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=300 -c listen_addresses=127.0.0.1"
)
_names = itertools.count(1)


class PgUnavailable(RuntimeError):
    """No PostgreSQL server can be had for the tests."""


@dataclass
class PgServer:
    """A PostgreSQL server the tests may create databases on.

    Attributes:
        dsn: Conninfo of a superuser (or CREATEDB role) on the server.
        root: Temporary directory of a server we started, else None.
        template: A migrated database tests copy, once made.
    """

    dsn: str
    root: Path | None = None
    template: str | None = None
    _as_postgres: list[str] = field(default_factory=list)
    _created: set[str] = field(default_factory=set)

    @classmethod
    def external(cls, dsn: str) -> PgServer:
        """Use a running server; check that it answers."""
        try:
            psycopg.connect(dsn, connect_timeout=5).close()
        except psycopg.Error as ex:
            raise PgUnavailable(f"CCBRIDGE_TEST_PG_DSN does not connect: {ex}") from None
        return cls(dsn=dsn)

    @classmethod
    def start(cls) -> PgServer:
        """Initialise and start a private server; raise PgUnavailable."""
        if not (BINDIR / "postgres").exists():
            raise PgUnavailable(
                f"PostgreSQL 15 not found in {BINDIR}: apt-get install postgresql "
                "(or set CCBRIDGE_TEST_PG_DSN)"
            )
        root = Path(tempfile.mkdtemp(prefix="ccbridge-pg-"))
        server = cls(dsn="", root=root, _as_postgres=_drop_root(root))
        atexit.register(server.stop)
        try:
            server._initdb()
            server._run_postgres()
        except BaseException:
            server.stop()
            raise
        return server

    def _initdb(self) -> None:
        assert self.root is not None
        self._run(
            "initdb",
            ["-D", str(self.root / "data"), "-U", "postgres", "--auth=trust"]
            + ["--no-sync", "--encoding=UTF8", "--locale=C"],
        )

    def _run_postgres(self) -> None:
        assert self.root is not None
        for _ in range(3):  # a free port can be taken before postgres binds it
            port = _free_port()
            options = f"{_SERVER_OPTIONS} -p {port} -k {self.root}"
            data, log = str(self.root / "data"), str(self.root / "server.log")
            try:
                self._run(
                    "pg_ctl", ["-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start"]
                )
            except PgUnavailable:
                continue
            self.dsn = make_conninfo(
                host="127.0.0.1", port=port, user="postgres", dbname="postgres"
            )
            return
        log_text = (self.root / "server.log").read_text(errors="replace")[-2000:]
        raise PgUnavailable(f"postgres did not start:\n{log_text}")

    def _run(self, tool: str, args: list[str]) -> None:
        command = [*self._as_postgres, str(BINDIR / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PgUnavailable(f"{tool} failed ({done.returncode}): {done.stderr.strip()}")

    def stop(self) -> None:
        """Stop a server we started and remove its directory.

        On an external server, drop the databases this session made.
        """
        if self.root is None:
            for dsn in [self.dsn_for(name) for name in self._created]:
                self.drop_database(dsn)
            return
        if not self.root.exists():
            return
        if (self.root / "data" / "postmaster.pid").exists():
            data = str(self.root / "data")
            subprocess.run(
                [*self._as_postgres, str(BINDIR / "pg_ctl"), "-D", data, "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, template: str = "template0") -> str:
        """Create an empty database; return a conninfo for it."""
        name = f"ccb_test_{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        self._created.add(name)
        return self.dsn_for(name)

    def drop_database(self, dsn: str) -> None:
        """Drop a database made by ``create_database``, even if in use."""
        name = str(conninfo_to_dict(dsn)["dbname"])
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self._created.discard(name)

    def dsn_for(self, dbname: str) -> str:
        """Return the server's conninfo with another database name."""
        return make_conninfo(self.dsn, dbname=dbname)


def _drop_root(root: Path) -> list[str]:
    """Hand ``root`` to the postgres user; return the command prefix."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise PgUnavailable(
            "running as root but there is no 'postgres' user: apt-get install postgresql"
        ) from None
    os.chown(root, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
