"""The serving process's garbage-collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccbridge import gctune
from ccbridge.app import create_app
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
