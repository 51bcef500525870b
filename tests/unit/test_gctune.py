"""The serving process's garbage-collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccbridge import gctune
from ccbridge.app import create_app
from ccbridge.db.migrate import migrate
from ccbridge.db.sqlite import SqliteDatabase
from ccbridge.store.defaults import seed_defaults
from ccbridge.store.loader import load_snapshot
from generated.rows import ApiKeysRow, ChannelsRow
from tests.proxy.conftest import serve, settings_for, stop


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_startup_objects_and_raises_gen0(restored_gc: None) -> None:
    gc.unfreeze()
    _, gen1, gen2 = gc.get_threshold()
    gctune.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (gctune.GEN0_THRESHOLD, gen1, gen2)


@pytest.mark.parametrize("serving", [True, False])
async def test_only_a_serving_app_tunes_its_process(
    serving: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restored_gc: None
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gctune, "settle", lambda: calls.append("settle"))
    app = create_app(settings_for("sqlite", tmp_path, None), serving=serving)
    server, task, _ = await serve(app)
    await stop(server, task)
    assert calls == (["settle"] if serving else [])


async def test_a_replaced_snapshot_is_freed_without_the_collector(tmp_path: Path) -> None:
    # Frozen objects are never collected: a snapshot of startup that held a
    # reference cycle would stay in memory after the first reload replaced it.
    async with SqliteDatabase(tmp_path / "cc.db") as db:
        await migrate(db)
        await seed_defaults(db)
        async with db.transaction() as tx:
            await tx.channels.insert(
                ChannelsRow(
                    channel_id="ch000001",
                    channel_type="messages",
                    name="primary",
                    service_type="claude",
                    base_url="https://api.example.test",
                    api_keys=["sk-ant-api03-one", "sk-ant-api03-two"],
                    model_mapping={"opus": "claude-opus-4-1"},
                )
            )
            await tx.api_keys.insert(
                ApiKeysRow("dev", "ab" * 32, "sk-cc", allowed_models=["claude-*"])
            )
            await tx.settings.bump_revision()
        snapshot = await load_snapshot(db)
        assert snapshot.channels["messages"] and snapshot.keys_by_hash
        gc.collect()
        del snapshot
        assert gc.collect() == 0
