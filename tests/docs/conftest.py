"""A gateway for the guide: PostgreSQL databases are copies of the migrated template.

Stopped before the test ends, and not named ``gateway``: tests/proxy's
teardown hook defers its gateways' shutdown to a next test that asks for a
``gateway``, which only its own fixture waits for.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from unittest import mock

import pytest

from ccbridge.app import create_app
from tests.proxy.conftest import (  # noqa: F401 - _databases is a fixture re-exported here
    Running,
    _bare_tls_context,
    _databases,
    serve,
    settings_for,
    stop,
)


@pytest.fixture
async def guide_gateway(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Running]:
    """A running gateway on each engine."""
    databases = request.getfixturevalue("_databases") if engine == "postgres" else None
    dsn = await databases.take() if databases is not None else None
    try:
        app = create_app(settings_for(engine, tmp_path, dsn))
        with mock.patch.object(ssl, "create_default_context", _bare_tls_context):
            server, task, url = await serve(app)
        try:
            yield Running(app, url)
        finally:
            await stop(server, task)
    finally:
        if databases is not None and dsn is not None:
            await databases.drop(dsn)
