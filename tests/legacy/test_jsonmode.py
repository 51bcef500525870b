"""STORAGE_BACKEND=json: the legacy files drive the proxy, both ways."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import anthropic
import httpx
import pytest

from ccbridge.app import create_app
from tests.fakes.upstream import FakeUpstream, messages_json_reply
from tests.proxy.conftest import MASTER_KEY, Running, serve, settings_for, stop
from tests.waiting import eventually


def _config(channels: list[dict]) -> dict:
    return {"upstream": channels, "loadBalance": "failover", "responsesUpstream": []}


def _channel(name: str, url: str, channel_id: str) -> dict:
    return {
        "id": channel_id,
        "name": name,
        "baseUrl": url,
        "apiKeys": ["sk-ant-json-1"],
        "serviceType": "claude",
    }


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(default=messages_json_reply()) as up:
        yield up


@pytest.fixture
async def json_gateway(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, upstream: FakeUpstream
) -> AsyncIterator[Running]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text(
        json.dumps(_config([_channel("first", upstream.url, "aaaa1111")]))
    )
    (data / "pricing.json").write_text(
        json.dumps(
            {
                "models": {"claude-sonnet-4-5": {"inputPrice": 3, "outputPrice": 15}},
                "currency": "USD",
            }
        )
    )
    dsn = request.getfixturevalue("pg_dsn") if engine == "postgres" else None
    app = create_app(settings_for(engine, tmp_path, dsn, STORAGE_BACKEND="json"))
    server, task, url = await serve(app)
    try:
        yield Running(app, url)
    finally:
        await stop(server, task)


async def test_files_are_the_configuration(
    json_gateway: Running, upstream: FakeUpstream, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    snapshot = json_gateway.rt.snapshot
    assert [c.name for c in snapshot.pool("messages")] == ["first"]
    assert set(snapshot.pricing.prices) == {"claude-sonnet-4-5"}
    client = anthropic.AsyncAnthropic(base_url=json_gateway.url, api_key=MASTER_KEY, max_retries=0)
    await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    rows = await json_gateway.logs()
    assert rows[-1].channel_uid == "aaaa1111" and rows[-1].status == "completed"

    # An edit on disk is picked up (and its channel keeps its stable id).
    edited = _config(
        [
            _channel("renamed", upstream.url, "aaaa1111"),
            _channel("second", upstream.url, "bbbb2222"),
        ]
    )
    (data / "config.json").write_text(json.dumps(edited))

    async def reloaded() -> bool:
        return [c.name for c in json_gateway.rt.snapshot.pool("messages")] == ["renamed", "second"]

    await eventually(reloaded)

    # A broken file keeps the running configuration.
    revision = json_gateway.rt.snapshot.revision
    (data / "config.json").write_text('{"upstream": [ {"name": "half"')
    await asyncio.sleep(1.5)
    assert json_gateway.rt.snapshot.revision == revision
    assert [c.name for c in json_gateway.rt.snapshot.pool("messages")] == ["renamed", "second"]
    assert json_gateway.gateway.runtime.json_mode is not None
    assert "config.json" in json_gateway.gateway.runtime.json_mode.last_error


async def test_admin_writes_go_to_the_files(json_gateway: Running, tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with httpx.AsyncClient(
        base_url=json_gateway.url, headers={"x-api-key": MASTER_KEY}
    ) as http:
        answer = await http.put(
            "/api/pricing/models",
            json={"model": "claude-haiku-4-5", "inputPrice": 1, "outputPrice": 5},
        )
        assert answer.status_code == 200, answer.text
        answer = await http.put("/api/channels/aaaa1111", json={"name": "first-renamed"})
        assert answer.status_code == 200, answer.text
    pricing = json.loads((data / "pricing.json").read_text())
    assert set(pricing["models"]) == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    config = json.loads((data / "config.json").read_text())
    assert [c["name"] for c in config["upstream"]] == ["first-renamed"]
    assert config["upstream"][0]["apiKeys"] == ["sk-ant-json-1"]  # the file keeps keys in clear
    backups = list((data / "backups").glob("config-*.json"))
    assert backups, "the replaced config.json is kept as a backup"
    assert not list(data.glob(".config.json.*")), "no temporary file is left behind"
    # The written files read back to the same configuration.
    assert json_gateway.gateway.runtime.json_mode is not None
    revision = json_gateway.rt.snapshot.revision
    assert await json_gateway.gateway.runtime.json_mode.load()
    assert [c.name for c in json_gateway.rt.snapshot.pool("messages")] == ["first-renamed"]
    assert json_gateway.rt.snapshot.revision == revision + 1
