"""Default model aliases: seeded into a new database once, never brought back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccbridge.store.defaults import DEFAULT_MODEL_ALIASES
from tests.admin.conftest import admin_client, start_gateway

PATH = "/api/model-aliases"


async def test_a_new_database_gets_the_defaults_and_an_emptied_table_stays_empty(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    first, close = await start_gateway(engine, tmp_path, dsn)
    try:
        async with admin_client(first.url) as api:
            seeded = await api.get(PATH)
            assert seeded.status_code == 200
            assert seeded.json() == DEFAULT_MODEL_ALIASES
            emptied = {"messagesModels": [], "responsesModels": [], "geminiModels": []}
            assert (await api.put(PATH, json=emptied)).status_code == 200
    finally:
        await close()
    again, close = await start_gateway(engine, tmp_path, dsn)
    try:
        async with admin_client(again.url) as api:
            assert (await api.get(PATH)).json() == emptied
        assert await again.db.daos.model_aliases.count() == 0
    finally:
        await close()


async def test_an_imported_aliases_file_is_kept_instead(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    mine = {"messagesModels": [{"value": "my-claude", "description": "mine"}]}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "model-aliases.json").write_text(json.dumps(mine))
    gateway, close = await start_gateway(engine, tmp_path, dsn)
    try:
        async with admin_client(gateway.url) as api:
            body = (await api.get(PATH)).json()
        assert body == {**mine, "responsesModels": [], "geminiModels": []}
    finally:
        await close()
