"""msgspec Structs vs pydantic v2 models on the admin paths the UI calls most.

Same shapes in both libraries (constraints, descriptions, camelCase names):
  channel create: decode + validate a POST /api/channels body (bytes in);
  key create:     decode + validate a POST /api/keys body;
  channel list:   encode GET /api/channels (40 channel views) to JSON bytes;
  key list:       encode GET /api/keys (200 keys);
  logs list:      encode a GET /api/logs page (100 rows).
Prints microseconds per call for each library and the ratio pydantic/msgspec.
Run: .venv/bin/python bench/bench_models.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
import pydantic
from pydantic import BaseModel, ConfigDict, Field

ROUNDS = 5
Name = Literal["claude", "openai", "gemini", "responses", "composite"]

# ---- msgspec -------------------------------------------------------------------------------


class MChannelIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="Display name")]
    serviceType: Annotated[Name, msgspec.Meta(description="Upstream protocol")]
    baseUrl: Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^(https?://\S*)?$")] = ""
    apiKeys: Annotated[list[Annotated[str, msgspec.Meta(min_length=1)]], msgspec.Meta()] = []
    description: str = ""
    priority: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    modelMapping: dict[str, str] = {}
    responseHeaderTimeout: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 120
    rateLimitRpm: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    status: Literal["active", "suspended", "disabled", ""] = ""


class MKeyIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    description: str = ""
    isAdmin: bool = False
    rateLimitRpm: Annotated[int, msgspec.Meta(ge=0)] = 0
    allowedModels: list[str] | None = None


class MMasked(msgspec.Struct):
    index: int
    masked: str


class MChannelView(msgspec.Struct):
    index: int
    id: str
    name: str
    serviceType: str
    baseUrl: str
    apiKeyCount: int
    maskedKeys: list[MMasked]
    status: str
    priority: int
    description: str
    modelMapping: dict[str, str]
    latency: None
    promotionUntil: str | None
    quotaLimit: float


class MKeyView(msgspec.Struct):
    id: int
    name: str
    maskedKey: str
    status: str
    isAdmin: bool
    rateLimitRpm: int
    createdAt: str
    lastUsedAt: str | None


class MLog(msgspec.Struct):
    id: str
    time: str
    model: str
    channelName: str
    status: int
    durationMs: int
    inputTokens: int
    outputTokens: int
    cost: float
    stream: bool
    error: str | None


class MLogPage(msgspec.Struct):
    logs: list[MLog]
    total: int
    nextCursor: str | None


# ---- pydantic ------------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", strict=True)


class PChannelIn(BaseModel):
    model_config = _STRICT
    name: Annotated[str, Field(min_length=1, max_length=200, description="Display name")]
    serviceType: Annotated[Name, Field(description="Upstream protocol")]
    baseUrl: Annotated[str, Field(max_length=2048, pattern=r"^(https?://\S*)?$")] = ""
    apiKeys: list[Annotated[str, Field(min_length=1)]] = []
    description: str = ""
    priority: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    modelMapping: dict[str, str] = {}
    responseHeaderTimeout: Annotated[int, Field(ge=1, le=3600)] = 120
    rateLimitRpm: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    status: Literal["active", "suspended", "disabled", ""] = ""


class PKeyIn(BaseModel):
    model_config = _STRICT
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    isAdmin: bool = False
    rateLimitRpm: Annotated[int, Field(ge=0)] = 0
    allowedModels: list[str] | None = None


class PMasked(BaseModel):
    index: int
    masked: str


class PChannelView(BaseModel):
    index: int
    id: str
    name: str
    serviceType: str
    baseUrl: str
    apiKeyCount: int
    maskedKeys: list[PMasked]
    status: str
    priority: int
    description: str
    modelMapping: dict[str, str]
    latency: None
    promotionUntil: str | None
    quotaLimit: float


class PKeyView(BaseModel):
    id: int
    name: str
    maskedKey: str
    status: str
    isAdmin: bool
    rateLimitRpm: int
    createdAt: str
    lastUsedAt: str | None


class PLog(BaseModel):
    id: str
    time: str
    model: str
    channelName: str
    status: int
    durationMs: int
    inputTokens: int
    outputTokens: int
    cost: float
    stream: bool
    error: str | None


class PLogPage(BaseModel):
    logs: list[PLog]
    total: int
    nextCursor: str | None


# ---- data ----------------------------------------------------------------------------------

CHANNEL_BODY = msgspec.json.encode(
    {
        "name": "anthropic-main",
        "serviceType": "claude",
        "baseUrl": "https://api.anthropic.com",
        "apiKeys": [f"sk-ant-{i:040d}" for i in range(5)],
        "description": "primary",
        "priority": 3,
        "modelMapping": {"claude-sonnet": "claude-sonnet-4-5", "haiku": "claude-haiku-4-5"},
        "responseHeaderTimeout": 60,
        "rateLimitRpm": 120,
        "status": "active",
    }
)
KEY_BODY = msgspec.json.encode({"name": "ci", "description": "CI runner", "rateLimitRpm": 60})


def _channel(i: int) -> dict[str, Any]:
    return {
        "index": i,
        "id": f"{i:08x}",
        "name": f"channel-{i}",
        "serviceType": "claude",
        "baseUrl": "https://api.anthropic.com",
        "apiKeyCount": 3,
        "maskedKeys": [{"index": k, "masked": "sk-ant-a...wxyz"} for k in range(3)],
        "status": "active",
        "priority": i,
        "description": "",
        "modelMapping": {"sonnet": "claude-sonnet-4-5"},
        "latency": None,
        "promotionUntil": None,
        "quotaLimit": 0.0,
    }


def _key(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "name": f"key-{i}",
        "maskedKey": "sk-ccb-a...wxyz",
        "status": "active",
        "isAdmin": False,
        "rateLimitRpm": 0,
        "createdAt": "2026-12-06T12:00:00Z",
        "lastUsedAt": None,
    }


def _log(i: int) -> dict[str, Any]:
    return {
        "id": f"req_{i:020d}",
        "time": "2026-12-06T12:00:00.123Z",
        "model": "claude-sonnet-4-5",
        "channelName": "anthropic-main",
        "status": 200,
        "durationMs": 1234,
        "inputTokens": 1200,
        "outputTokens": 345,
        "cost": 0.0123,
        "stream": True,
        "error": None,
    }


CHANNELS = [_channel(i) for i in range(40)]
KEYS = [_key(i) for i in range(200)]
PAGE = {"logs": [_log(i) for i in range(100)], "total": 5000, "nextCursor": "abc"}
M_CHANNELS = [msgspec.convert(c, MChannelView) for c in CHANNELS]
P_CHANNELS = [PChannelView.model_validate(c) for c in CHANNELS]
M_KEYS = [msgspec.convert(k, MKeyView) for k in KEYS]
P_KEYS = [PKeyView.model_validate(k) for k in KEYS]
M_PAGE = msgspec.convert(PAGE, MLogPage)
P_PAGE = PLogPage.model_validate(PAGE)
P_CHANNEL_LIST = pydantic.TypeAdapter(list[PChannelView])
P_KEY_LIST = pydantic.TypeAdapter(list[PKeyView])


def _best(fn: Callable[[], object], n: int) -> float:
    """Best of ROUNDS, microseconds per call."""
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


CASES: list[tuple[str, Callable[[], object], Callable[[], object], int]] = [
    (
        "channel create (decode+validate)",
        lambda: msgspec.json.decode(CHANNEL_BODY, type=MChannelIn),
        lambda: PChannelIn.model_validate_json(CHANNEL_BODY),
        20_000,
    ),
    (
        "key create (decode+validate)",
        lambda: msgspec.json.decode(KEY_BODY, type=MKeyIn),
        lambda: PKeyIn.model_validate_json(KEY_BODY),
        20_000,
    ),
    (
        "channel list, 40 (encode)",
        lambda: msgspec.json.encode({"channels": M_CHANNELS}),
        lambda: P_CHANNEL_LIST.dump_json(P_CHANNELS),
        2_000,
    ),
    (
        "key list, 200 (encode)",
        lambda: msgspec.json.encode({"keys": M_KEYS}),
        lambda: P_KEY_LIST.dump_json(P_KEYS),
        1_000,
    ),
    (
        "logs page, 100 (encode)",
        lambda: msgspec.json.encode(M_PAGE),
        lambda: P_PAGE.model_dump_json(),
        2_000,
    ),
    (
        "logs page, 100 (dict -> model -> JSON)",
        lambda: msgspec.json.encode(msgspec.convert(PAGE, MLogPage)),
        lambda: PLogPage.model_validate(PAGE).model_dump_json(),
        1_000,
    ),
]


def main() -> None:
    print(f"msgspec {msgspec.__version__}, pydantic {pydantic.VERSION}")
    print(f"{'path':42} {'msgspec us':>11} {'pydantic us':>12} {'pydantic/msgspec':>17}")
    for name, m, p, n in CASES:
        tm, tp = _best(m, n), _best(p, n)
        print(f"{name:42} {tm:11.2f} {tp:12.2f} {tp / tm:16.1f}x")


if __name__ == "__main__":
    main()
