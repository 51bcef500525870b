"""Helpers shared by the tests/admin/test_logs_*.py modules (no tests here).

Synthetic rows go through the gateway's own writer (`write_rows`), so they
get rollups and stream events exactly as proxied requests do; real rows
come from the fake upstream through the Anthropic SDK (`ask`).
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic

from generated.rows import RequestLogsRow
from tests.admin.conftest import MASTER_KEY, Running
from tests.fakes.upstream import DEFAULT_CLAUDE_MODEL

__all__ = (
    "BASE",
    "StaticRecord",
    "approx_equal",
    "ask",
    "drain",
    "exact_percentile",
    "log_row",
    "sdk",
    "user_id",
    "with_status",
    "write_rows",
)

# A fixed past instant, mid-hour, so windows around it cut hours and days.
BASE = datetime(2026, 3, 10, 14, 25, 0, tzinfo=UTC)


class StaticRecord:
    """A LogSource that renders a fixed row (the writer's input type)."""

    fresh = False  # the row may be stored already: the writer reads it

    def __init__(self, row: RequestLogsRow) -> None:
        self.id = row.id
        self.row = row
        self.written: RequestLogsRow | None = None

    def to_row(self) -> RequestLogsRow:
        """Return the row."""
        return self.row


def log_row(n: int, at: datetime, **fields: Any) -> RequestLogsRow:
    """Return a finished synthetic log row; fields override the defaults."""
    values: dict[str, Any] = {
        "id": f"req_{int(at.timestamp() * 1e6):017d}{n:06d}",
        "initial_time": at,
        "provider": "claude",
        "model": "claude-sonnet-4-5",
        "status": "completed",
        "complete_time": at + timedelta(milliseconds=fields.get("duration_ms", 1000)),
        "duration_ms": 1000,
        "provider_name": "alpha",
        "channel_name": "alpha",
        "channel_uid": "aaaa0001",
        "channel_id": 0,
        "input_tokens": 100,
        "output_tokens": 50,
        "total_tokens": 150,
        "price": 0.01,
        "http_status": 200,
        "endpoint": "/v1/messages",
        "client_id": "client-a",
        "session_id": "session-1",
        "api_key_id": 0,
        "created_at": at,
    }
    values.update(fields)
    if "total_tokens" not in fields:
        values["total_tokens"] = values["input_tokens"] + values["output_tokens"]
    return RequestLogsRow(**values)


async def drain(gateway: Running) -> None:
    """Wait until everything handed to the writer is committed.

    Items leave the queue inside the writer's flush lock, so once the queue
    is empty, taking that lock waits out the flush that holds them.
    """
    writer = gateway.rt.writer
    for _ in range(2000):
        if writer.pending == 0:
            async with writer.paused():
                if writer.pending == 0:
                    return
        await asyncio.sleep(0.005)
    raise AssertionError("writer did not drain")


async def write_rows(gateway: Running, rows: list[RequestLogsRow], *, batch: int = 0) -> None:
    """Hand rows to the gateway's writer (in batches of one flush each) and wait."""
    size = batch or len(rows) or 1
    for start in range(0, len(rows), size):
        for row in rows[start : start + size]:
            waiting = gateway.rt.writer.log(StaticRecord(row))
            if waiting is not None:
                await waiting
        await drain(gateway)


def user_id(client: str, session: str) -> str:
    """Return a Claude Code ``metadata.user_id`` for a client and session."""
    return json.dumps({"device_id": "dev", "account_uuid": client, "session_id": session})


def sdk(gateway: Running, key: str = MASTER_KEY) -> anthropic.AsyncAnthropic:
    """Return the Anthropic SDK pointed at a gateway."""
    return anthropic.AsyncAnthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)


async def ask(
    client: anthropic.AsyncAnthropic,
    *,
    model: str = DEFAULT_CLAUDE_MODEL,
    who: tuple[str, str] | None = None,
) -> Any:
    """Send one small Messages request; return the SDK's answer."""
    extra = {"metadata": {"user_id": user_id(*who)}} if who else {}
    return await client.messages.create(
        model=model, max_tokens=16, messages=[{"role": "user", "content": "hi"}], **extra
    )


def exact_percentile(values: list[int], p: float) -> float:
    """Return the reference's interpolated percentile of raw values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = p / 100 * (len(ordered) - 1)
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def approx_equal(a: Any, b: Any, path: str = "") -> None:
    """Assert two JSON values are equal, floats to 1e-9 relative."""
    if isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {a} != {b}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            approx_equal(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            approx_equal(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def with_status(row: RequestLogsRow, status: str, **fields: Any) -> RequestLogsRow:
    """Return a row in another state."""
    return replace(row, status=status, **fields)
