"""What the config history costs a config write, side by side (SQLite).

One config write (a channel's priority) on a database holding CHANNELS
channels, the default price table, and model aliases, timed three ways:
  bare: the revision-checked write without the history (lock, change,
      bump), as ConfigStore.write was before it kept the history;
  history: ConfigStore.write, which also reads the whole config before
      and after, diffs it and stores the gzipped state;
  rollback: POST /api/config/rollback's work (read a stored state, rebuild
      the tables, back up the config it replaces), for scale.
Config writes come from admins and from what ccbridge learns from traffic
(rare); the request path never waits on them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccbridge.db.migrate import migrate  # noqa: E402
from ccbridge.db.sqlite import SqliteDatabase  # noqa: E402
from ccbridge.store.backups import BEFORE_ROLLBACK, save_before  # noqa: E402
from ccbridge.store.configwrite import ConfigStore  # noqa: E402
from ccbridge.store.defaults import seed_defaults  # noqa: E402
from ccbridge.store.history import load_state, rollback  # noqa: E402
from generated.dao import Daos  # noqa: E402
from generated.rows import ChannelsRow  # noqa: E402

CHANNELS = 50
WRITES = 200


def _channel(n: int) -> ChannelsRow:
    return ChannelsRow(
        channel_id=f"ch{n:04d}",
        channel_type="messages",
        name=f"channel-{n}",
        service_type="claude",
        base_url="https://api.example",
        api_keys=[f"sk-ant-api03-bench-{n:04d}-{k}-0123456789" for k in range(3)],
        model_mapping={"sonnet": "claude-sonnet-4-5", "opus": "claude-opus-4-1"},
    )


async def _change(tx: Daos, n: int) -> None:
    (row,) = await tx.channels.list(where={"channel_id": f"ch{n % CHANNELS:04d}"})
    await tx.channels.update(dataclasses.replace(row, priority=n))


async def _bare(db: SqliteDatabase, n: int) -> None:
    async with db.transaction() as tx:
        await tx.settings.lock_revision()
        await _change(tx, n)
        await tx.settings.bump_revision()


async def _noop() -> None:
    return None


def _report(label: str, times: list[float]) -> float:
    median = statistics.median(times)
    p95 = sorted(times)[int(len(times) * 0.95)]
    print(f"{label:<10} median {median * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms")
    return median


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with SqliteDatabase(Path(folder) / "bench.db") as db:
            await migrate(db)
            await seed_defaults(db)
            async with db.transaction() as tx:
                await tx.channels.insert_many([_channel(n) for n in range(CHANNELS)])
            store = ConfigStore(db, _noop)
            bare, history, rolled = [], [], []
            for n in range(WRITES):  # interleaved, so load on the machine hits both alike
                start = time.perf_counter()
                await _bare(db, n)
                bare.append(time.perf_counter() - start)
                start = time.perf_counter()
                async with store.write() as write:
                    await _change(write.tx, n)
                history.append(time.perf_counter() - start)
            for _ in range(WRITES // 10):
                start = time.perf_counter()
                async with store.write() as write:
                    (row,) = await write.tx.config_history.page(max_rows=1, skip=5)
                    stored = await write.tx.config_history.get(row.revision)
                    assert stored is not None
                    await save_before(write, BEFORE_ROLLBACK, 20)
                    await rollback(write.tx, load_state(stored.state))
                rolled.append(time.perf_counter() - start)
            state_bytes = len(stored.state)
    print(f"{CHANNELS} channels, default prices; {WRITES} writes each")
    b = _report("bare", bare)
    h = _report("history", history)
    r = _report("rollback", rolled)
    print(f"history / bare: {h / b:.2f}x   rollback / bare: {r / b:.2f}x")
    print(f"stored state per revision: {state_bytes} bytes (gzipped)")


if __name__ == "__main__":
    asyncio.run(main())
