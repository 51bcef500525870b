"""Load the JSON and SSE fixtures under tests/fixtures/convert/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from ccbridge.convert.bridge import BridgeOptions, MessagesBridge

__all__ = ("FIXTURES", "bridge_for", "load", "names")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "convert"

BASE_REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "stream": True,
    "messages": [{"role": "user", "content": "Hi"}],
}


def names(folder: str, suffix: str = ".json") -> list[str]:
    """Return the fixture names (file stems) in a folder."""
    return sorted(p.name.removesuffix(suffix) for p in (FIXTURES / folder).glob("*" + suffix))


def load(folder: str, name: str) -> Any:
    """Return a parsed JSON fixture."""
    return orjson.loads((FIXTURES / folder / f"{name}.json").read_bytes())


def bridge_for(case: dict[str, Any], *, model: str = "upstream-model") -> MessagesBridge:
    """Return the bridge a fixture case describes."""
    body = {**BASE_REQUEST, **case.get("request", {})}
    return MessagesBridge(
        case["target"], body, model=model, options=BridgeOptions(**case.get("options", {}))
    )
