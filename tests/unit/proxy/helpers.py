"""Small builders and fakes shared by the proxy unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ccbridge.store.snapshot import Channel

__all__ = ("FakeClock", "make_channel")


def make_channel(uid: str, pool: str = "messages", **fields: Any) -> Channel:
    """Return an active, keyed ``claude``/``responses`` channel."""
    defaults: dict[str, Any] = {
        "name": uid.upper(),
        "service_type": "claude" if pool == "messages" else "responses",
        "api_keys": (f"key-{uid}",),
    }
    defaults.update(fields)
    index = defaults.pop("index", 0)
    return Channel(uid=uid, pool=pool, index=index, **defaults)


@dataclass
class FakeClock:
    """A manually advanced clock; ``sleep`` advances it."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
