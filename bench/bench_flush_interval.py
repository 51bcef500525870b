"""The writer's flush interval: what a shorter crash window costs.

Requests arrive at a fixed rate (each handed to the writer as a pending row
and again, 5-50 ms later, as its final row, as the relay does) into a real
Writer on SQLite. For each interval it reports the CPU time of the process
per 1,000 requests and the flushes per second: on a saturated core, the CPU
time is what the shorter interval takes from proxy throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ccbridge.db.migrate import migrate  # noqa: E402
from ccbridge.db.sqlite import SqliteDatabase  # noqa: E402
from ccbridge.store.writer import Writer  # noqa: E402
from generated.rows import RequestLogsRow  # noqa: E402


class _Record:
    __slots__ = ("fresh", "id", "row", "written")

    def __init__(self, n: int) -> None:
        self.id = f"bench-{n}"
        self.fresh = True
        self.written: RequestLogsRow | None = None
        self.row = RequestLogsRow(self.id, datetime.now(UTC), "claude", "m", status="pending")

    def to_row(self) -> RequestLogsRow:
        return self.row


async def _finish(writer: Writer, record: _Record, after: float) -> None:
    await asyncio.sleep(after)
    record.row = RequestLogsRow(
        record.id, record.row.initial_time, "claude", "m", "completed", input_tokens=10
    )
    writer.log(record)


async def one(interval: float, rate: int, seconds: float, folder: Path) -> tuple[float, float]:
    """Return (CPU ms per 1,000 requests, flushes per second)."""
    db = SqliteDatabase(folder / f"bench-{interval}.db")
    await db.open()
    await migrate(db)
    writer = Writer(db, interval=interval)
    await writer.start()
    rng = random.Random(1)
    tasks = []
    total = int(rate * seconds)
    cpu, wall = time.process_time(), time.monotonic()
    for n in range(total):
        record = _Record(n)
        writer.log(record)
        tasks.append(asyncio.create_task(_finish(writer, record, rng.uniform(0.005, 0.05))))
        await asyncio.sleep(max(wall + (n + 1) / rate - time.monotonic(), 0))
    await asyncio.gather(*tasks)
    await writer.stop()
    used = time.process_time() - cpu
    flushes = writer.flushes / (time.monotonic() - wall)
    await db.close()
    return used * 1000 / (total / 1000), flushes


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=int, default=1500, help="requests per second")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    print(f"{args.rate} requests/s for {args.seconds:g}s into a Writer on SQLite")
    print(f"{'interval':>9} {'CPU ms / 1k requests':>21} {'flushes/s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for interval in (0.2, 0.1, 0.05):
            cpu, flushes = await one(interval, args.rate, args.seconds, Path(tmp))
            print(f"{interval:>8g}s {cpu:>21.1f} {flushes:>10.1f}")


if __name__ == "__main__":
    asyncio.run(main())
