"""Immutable in-memory configuration snapshot read by the request path.

The loader (JSON files or database) builds one :class:`Snapshot` per config
revision and swaps it atomically. Everything here is plain frozen data plus
the lookup tables derived from it; nothing is computed per request.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal, TypeGuard, get_args

__all__ = (
    "DEFAULT_RATELIMIT",
    "EMPTY_MAPPING",
    "INVALID_PARSE_SENTINEL",
    "LOAD_BALANCE_STRATEGIES",
    "POOLS",
    "RATELIMIT_SETTING",
    "ActionStep",
    "Channel",
    "ClientKey",
    "CompositeMapping",
    "CompositeTarget",
    "ContentFilter",
    "ContentFilterRule",
    "DebugLogConfig",
    "FailoverConfig",
    "FailoverRule",
    "OAuthTokens",
    "OutboundHeaderPolicy",
    "Price",
    "PriceMultiplier",
    "PriceTable",
    "RateLimitConfig",
    "Snapshot",
    "channel_allowlist_from_raw",
    "freeze_mapping",
    "invalid_index_sentinel",
    "sorted_mapping_sources",
)

POOLS: Final = ("messages", "responses", "gemini", "chat")
# Literal types for the typed models (store/shapes.py), the sets for checks.
LoadBalanceStrategy = Literal["failover", "random", "round-robin"]
ChannelStatus = Literal["active", "disabled", "suspended"]
LOAD_BALANCE_STRATEGIES: Final = frozenset(get_args(LoadBalanceStrategy))
CHANNEL_STATUSES: Final = frozenset(get_args(ChannelStatus))
EMPTY_MAPPING: Final[Mapping[Any, Any]] = MappingProxyType({})

RATELIMIT_SETTING: Final = "ratelimit"
# The reference's default-ratelimit.json; stored objects are merged over it per section.
DEFAULT_RATELIMIT: Final[Mapping[str, Any]] = {
    "api": {"enabled": True, "requestsPerMinute": 100},
    "portal": {"enabled": True, "requestsPerMinute": 60},
    "authFailure": {
        "enabled": True,
        "thresholds": [
            {"failures": 5, "blockMinutes": 1},
            {"failures": 10, "blockMinutes": 5},
            {"failures": 20, "blockMinutes": 30},
        ],
    },
}

# NOTE(ccbridge): reserved channel-id prefix; these ids never match a channel,
# so a malformed allowlist denies everything instead of allowing everything.
INVALID_PARSE_SENTINEL: Final = "__invalid_parse_error__"


def invalid_index_sentinel(index: int) -> str:
    """Return the fail-closed id for an unresolvable legacy index."""
    return f"__invalid_idx_{index}__"


def freeze_mapping(value: Mapping[Any, Any] | None) -> Mapping[Any, Any]:
    """Return a read-only copy of ``value`` (``None`` becomes empty)."""
    if not value:
        return EMPTY_MAPPING
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


def sorted_mapping_sources(mapping: Mapping[str, str]) -> tuple[str, ...]:
    """Return non-empty mapping keys, longest first, then by name."""
    return tuple(sorted((k for k in mapping if k), key=lambda k: (-len(k), k)))


def _empty() -> Mapping[Any, Any]:
    return EMPTY_MAPPING


def _set(obj: object, name: str, value: object) -> None:
    # Frozen dataclasses normalise their own fields in __post_init__.
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class PriceMultiplier:
    """Per-class price multipliers of a channel (0 means 1)."""

    input: float = 1.0
    output: float = 1.0
    cache_creation: float = 1.0
    cache_read: float = 1.0


@dataclass(frozen=True, slots=True)
class ContentFilterRule:
    """One keyword of a channel content filter."""

    keyword: str
    status_code: int = 429


@dataclass(frozen=True, slots=True)
class ContentFilter:
    """Per-channel filter turning keyword hits in 2xx bodies into errors."""

    enabled: bool = False
    rules: tuple[ContentFilterRule, ...] = ()


@dataclass(frozen=True, slots=True)
class OAuthTokens:
    """OAuth credentials of an ``openai-oauth`` channel."""

    access_token: str = ""
    account_id: str = ""
    id_token: str = ""
    refresh_token: str = ""
    last_refresh: str = ""


@dataclass(frozen=True, slots=True)
class CompositeTarget:
    """A pool-qualified reference to another channel."""

    pool: str
    channel_id: str


@dataclass(frozen=True, slots=True)
class CompositeMapping:
    """One ``haiku|sonnet|opus`` route of a composite channel."""

    pattern: str
    target_channel_id: str = ""
    target_pool: str = "messages"
    failover_chain: tuple[str, ...] = ()
    failover_targets: tuple[CompositeTarget, ...] = ()
    target_model: str = ""
    target_channel: int | None = None


@dataclass(frozen=True, slots=True)
class Channel:
    """One upstream channel of a pool, keyed by its stable ``uid``."""

    uid: str
    pool: str
    index: int
    name: str
    service_type: str
    base_url: str = ""
    api_keys: tuple[str, ...] = ()
    model_mapping: Mapping[str, str] = field(default_factory=_empty)
    status: str = "active"
    priority: int = 0
    promotion_until: datetime | None = None
    response_header_timeout: int = 120
    description: str = ""
    website: str = ""
    insecure_skip_verify: bool = False
    quota_type: str = ""
    quota_limit: float = 0.0
    quota_reset_at: datetime | None = None
    quota_reset_interval: int = 0
    quota_reset_unit: str = ""
    quota_reset_mode: str = "fixed"
    quota_models: tuple[str, ...] = ()
    rate_limit_rpm: int = 0
    queue_enabled: bool = False
    queue_timeout: int = 60
    key_load_balance: str = ""
    price_multipliers: Mapping[str, PriceMultiplier] = field(default_factory=_empty)
    content_filter: ContentFilter | None = None
    oauth_tokens: OAuthTokens | None = None
    codex_service_tier_override: str = ""
    responses_encrypted_reasoning_mode: str = ""
    responses_websocket_enabled: bool = False
    continue_thinking_enabled: bool = False
    composite_mappings: tuple[CompositeMapping, ...] = ()
    # Derived once at build time for mapping.py and pricing.py.
    mapping_sources: tuple[str, ...] = field(init=False, repr=False, compare=False)
    multiplier_prefixes: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.uid:
            raise ValueError("channel uid must not be empty")
        if self.pool not in POOLS:
            raise ValueError(f"unknown pool {self.pool!r}")
        status = self.status or "active"
        if status not in CHANNEL_STATUSES:
            raise ValueError(f"unknown channel status {status!r}")
        _set(self, "status", status)
        _set(self, "api_keys", tuple(k for k in self.api_keys if k))
        _set(self, "quota_models", tuple(self.quota_models))
        _set(self, "composite_mappings", tuple(self.composite_mappings))
        _set(self, "model_mapping", freeze_mapping(self.model_mapping))
        _set(self, "price_multipliers", freeze_mapping(self.price_multipliers))
        _set(self, "mapping_sources", sorted_mapping_sources(self.model_mapping))
        prefixes = sorted_mapping_sources(
            {k: "" for k in self.price_multipliers if k != "_default"}
        )
        _set(self, "multiplier_prefixes", prefixes)

    @property
    def effective_priority(self) -> int:
        """Return the configured priority, or the index when it is 0."""
        return self.priority or self.index

    @property
    def is_active(self) -> bool:
        """Return True when the channel status is ``active``."""
        return self.status == "active"

    @property
    def is_disabled(self) -> bool:
        """Return True when the channel status is ``disabled``."""
        return self.status == "disabled"

    @property
    def is_composite(self) -> bool:
        """Return True for composite (routing-only) channels."""
        return self.service_type == "composite"

    @property
    def has_credentials(self) -> bool:
        """Return True when the channel can authenticate upstream."""
        if self.is_composite or self.api_keys:
            return True
        tokens = self.oauth_tokens
        return (
            self.service_type == "openai-oauth"
            and tokens is not None
            and bool(tokens.access_token.strip())
        )

    def in_promotion(self, now: datetime) -> bool:
        """Return True while ``promotion_until`` lies after ``now``."""
        return self.promotion_until is not None and self.promotion_until > now


def _lower_tuple(values: Iterable[str] | None) -> tuple[str, ...] | None:
    cleaned = tuple(dict.fromkeys(v.strip().lower() for v in values or () if v.strip()))
    return cleaned or None


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A client access key with its permissions (``None`` = unrestricted).

    ``allowed_channels`` maps a pool to the stable channel ids allowed there;
    a pool missing from the mapping is unrestricted.
    """

    id: int
    name: str
    key_hash: str = ""
    is_admin: bool = False
    status: str = "active"
    rate_limit_rpm: int = 0
    allowed_endpoints: frozenset[str] | None = None
    allowed_models: tuple[str, ...] | None = None
    allowed_channels: Mapping[str, frozenset[str]] = field(default_factory=_empty)
    expires_at: datetime | None = None
    budget_usd: float | None = None  # per budget_period; None: no spend budget
    budget_period: str = "total"
    token_budget: int | None = None  # per token_budget_period; None: no token budget
    token_budget_period: str = "total"

    def __post_init__(self) -> None:
        endpoints = _lower_tuple(self.allowed_endpoints)
        _set(self, "allowed_endpoints", frozenset(endpoints) if endpoints else None)
        _set(self, "allowed_models", _lower_tuple(self.allowed_models))
        channels = {pool: frozenset(ids) for pool, ids in self.allowed_channels.items() if ids}
        _set(self, "allowed_channels", freeze_mapping(channels))

    @classmethod
    def master(cls) -> ClientKey:
        """Return the unrestricted key standing for PROXY_ACCESS_KEY."""
        return cls(id=0, name="master", is_admin=True)

    @property
    def is_master(self) -> bool:
        """Return True for the master key (id 0)."""
        return self.id == 0

    @property
    def is_active(self) -> bool:
        """Return True when the key may be used."""
        return self.status == "active"

    @property
    def has_budget(self) -> bool:
        """Return True when the key has a spend or a token budget."""
        return self.budget_usd is not None or self.token_budget is not None

    def channel_allowlist(self, pool: str) -> frozenset[str] | None:
        """Return the allowed channel ids for ``pool`` or None if open."""
        return self.allowed_channels.get(pool)


def channel_allowlist_from_raw(
    raw: object, pool_channels: Sequence[Channel]
) -> frozenset[str] | None:
    """Return stable ids for a stored allowlist, failing closed.

    Args:
        raw: The stored value: JSON text, a list of ids (str) or legacy
            indices (int), or None.
        pool_channels: The pool's channels in index order, used to map
            legacy indices to stable ids.

    Returns:
        None when unrestricted; otherwise the ids, where an unresolvable
        index becomes ``__invalid_idx_N__`` and garbage becomes
        ``__invalid_parse_error__`` so nothing matches.
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError:
            return frozenset({INVALID_PARSE_SENTINEL})
        if raw is None:
            return None
    if not isinstance(raw, list):
        return frozenset({INVALID_PARSE_SENTINEL})
    ids = {_allowlist_entry(item, pool_channels) for item in raw}
    ids.discard("")
    return frozenset(ids) or None


def _allowlist_entry(item: object, pool_channels: Sequence[Channel]) -> str:
    if isinstance(item, str):
        return item.strip()
    if isinstance(item, int) and not isinstance(item, bool):
        if 0 <= item < len(pool_channels):
            return pool_channels[item].uid
        return invalid_index_sentinel(item)
    return INVALID_PARSE_SENTINEL


@dataclass(frozen=True, slots=True)
class Price:
    """USD prices per million tokens; ``None`` cache prices use defaults."""

    input_price: float
    output_price: float
    cache_creation_price: float | None = None
    cache_read_price: float | None = None
    description: str = ""
    export_to_models: bool | None = None

    @property
    def effective_cache_creation(self) -> float:
        """Return the cache-write price (default input x 1.25)."""
        if self.cache_creation_price is None:
            return self.input_price * 1.25
        return self.cache_creation_price

    @property
    def effective_cache_read(self) -> float:
        """Return the cache-read price (default input x 0.1)."""
        if self.cache_read_price is None:
            return self.input_price * 0.1
        return self.cache_read_price

    @property
    def exported(self) -> bool:
        """Return True when the model is listed by GET /v1/models."""
        return self.export_to_models is not False


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Model prices plus the prefix index pricing.py searches.

    ``id_lengths`` and ``lower_lengths`` list the distinct id lengths,
    longest first, so a longest-prefix lookup probes one dict per length.
    ``lower_ids`` maps a lower-cased id to its canonical id (the smallest
    one when ids differ only in case).
    """

    prices: Mapping[str, Price] = field(default_factory=_empty)
    currency: str = "USD"
    id_lengths: tuple[int, ...] = field(init=False, repr=False, compare=False)
    lower_ids: Mapping[str, str] = field(init=False, repr=False, compare=False)
    lower_lengths: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prices = freeze_mapping(self.prices)
        _set(self, "prices", prices)
        lower: dict[str, str] = {}
        for model_id in sorted(prices):
            lower.setdefault(model_id.lower(), model_id)
        _set(self, "lower_ids", freeze_mapping(lower))
        _set(self, "id_lengths", tuple(sorted({len(k) for k in prices if k}, reverse=True)))
        _set(self, "lower_lengths", tuple(sorted({len(k) for k in lower if k}, reverse=True)))

    def exported_models(self) -> tuple[str, ...]:
        """Return the sorted ids shown by GET /v1/models."""
        return tuple(sorted(k for k, p in self.prices.items() if p.exported))


@dataclass(frozen=True, slots=True)
class ActionStep:
    """One step of a failover action chain."""

    action: str
    wait_seconds: int = 0
    max_attempts: int = 0


@dataclass(frozen=True, slots=True)
class FailoverRule:
    """A failover rule as stored.

    ``action``, ``threshold`` and ``wait_seconds`` are the legacy format;
    the rules engine migrates them to ``action_chain``.
    """

    error_codes: str
    action_chain: tuple[ActionStep, ...] = ()
    action: str = ""
    threshold: int = 0
    wait_seconds: int = 0

    def __post_init__(self) -> None:
        _set(self, "action_chain", tuple(self.action_chain))


@dataclass(frozen=True, slots=True)
class FailoverConfig:
    """Failover settings; ``enabled`` only turns the circuit breaker off."""

    enabled: bool = False
    rules: tuple[FailoverRule, ...] = ()
    generic_resource_wait_seconds: int = 20
    model_cooldown_extra_seconds: int = 1
    model_cooldown_max_wait_seconds: int = 60

    def __post_init__(self) -> None:
        _set(self, "rules", tuple(self.rules))


@dataclass(frozen=True, slots=True)
class DebugLogConfig:
    """Debug-log capture and retention settings."""

    enabled: bool = False
    full_retention_hours: int = 24
    header_retention_hours: int = 168
    header_retention_forever: bool = False
    max_body_size: int = 1_048_576


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """The ``ratelimit`` setting: request limits and auth-failure blocking.

    The defaults are those of :data:`DEFAULT_RATELIMIT`.

    Attributes:
        api_rpm: Requests per minute per client key on /v1, for keys
            without an RPM of their own (0 = off).
        portal_rpm: Requests per minute per address on /api (0 = off).
        thresholds: (failures, block seconds), most failures first;
            empty when auth-failure blocking is off.
    """

    api_rpm: int = 100
    portal_rpm: int = 60
    thresholds: tuple[tuple[int, float], ...] = ((20, 1800.0), (10, 300.0), (5, 60.0))

    def __post_init__(self) -> None:
        _set(self, "thresholds", tuple(self.thresholds))

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> RateLimitConfig:
        """Return the config of a stored ``ratelimit`` object (lenient).

        Sections missing from ``raw`` take their defaults; a malformed
        section or value turns that limit off.
        """
        raw = {**DEFAULT_RATELIMIT, **raw}
        auth = _section(raw, "authFailure")
        steps = auth.get("thresholds") if auth.get("enabled") else None
        thresholds = sorted(
            (
                (int(t["failures"]), float(t["blockMinutes"]) * 60)
                for t in (steps if isinstance(steps, list) else ())
                if isinstance(t, dict)
                and _positive(t.get("failures"))
                and _positive(t.get("blockMinutes"))
            ),
            reverse=True,
        )
        return cls(
            api_rpm=_rpm(_section(raw, "api")),
            portal_rpm=_rpm(_section(raw, "portal")),
            thresholds=tuple(thresholds),
        )


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    return value if isinstance(value, dict) else EMPTY_MAPPING


def _rpm(limit: Mapping[str, Any]) -> int:
    rpm = limit.get("requestsPerMinute") if limit.get("enabled") else 0
    return int(rpm) if _positive(rpm) else 0


def _positive(value: Any) -> TypeGuard[int | float]:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return value > 0 and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class OutboundHeaderPolicy:
    """Request headers stripped before forwarding upstream."""

    enabled: bool = True
    strip_rules: tuple[str, ...] = ("Cf-*", "X-Forwarded-*")

    def __post_init__(self) -> None:
        _set(self, "strip_rules", tuple(self.strip_rules))


def _by_priority(channels: tuple[Channel, ...]) -> tuple[Channel, ...]:
    live = (c for c in channels if not c.is_disabled)
    return tuple(sorted(live, key=lambda c: (c.effective_priority, c.index)))


def _reindex(pool: str, channels: Iterable[Channel]) -> tuple[Channel, ...]:
    out = []
    for index, channel in enumerate(channels):
        if channel.pool != pool or channel.index != index:
            channel = replace(channel, pool=pool, index=index)
        out.append(channel)
    return tuple(out)


def _load_balance(raw: Mapping[str, str] | None) -> dict[str, str]:
    raw = raw or {}
    base = raw.get("messages") or "failover"
    result = {pool: raw.get(pool) or "failover" for pool in POOLS}
    # An empty responses strategy inherits the messages one (§2.1).
    result["messages"] = base
    result["responses"] = raw.get("responses") or base
    for pool, strategy in result.items():
        if strategy not in LOAD_BALANCE_STRATEGIES:
            raise ValueError(f"unknown load balance {strategy!r} for pool {pool}")
    return result


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One config revision: channels, keys, prices and settings.

    Build it with :meth:`build`; the derived lookup fields are computed
    once in ``__post_init__``.
    """

    revision: int
    channels: Mapping[str, tuple[Channel, ...]]
    keys_by_hash: Mapping[str, ClientKey] = field(default_factory=_empty)
    pricing: PriceTable = field(default_factory=PriceTable)
    load_balance: Mapping[str, str] = field(default_factory=_empty)
    failover: FailoverConfig = field(default_factory=FailoverConfig)
    debug_log: DebugLogConfig = field(default_factory=DebugLogConfig)
    user_agents: Mapping[str, str] = field(default_factory=_empty)
    outbound_headers: OutboundHeaderPolicy = field(default_factory=OutboundHeaderPolicy)
    ratelimit: RateLimitConfig = field(default_factory=RateLimitConfig)
    responses_websocket: bool = False  # GET /v1/responses may upgrade to a WebSocket
    channels_by_uid: Mapping[str, Channel] = field(init=False, repr=False, compare=False)
    by_priority: Mapping[str, tuple[Channel, ...]] = field(init=False, repr=False, compare=False)
    keys_by_id: Mapping[int, ClientKey] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pools = {pool: tuple(self.channels.get(pool, ())) for pool in POOLS}
        by_uid: dict[str, Channel] = {}
        for channel in (c for chans in pools.values() for c in chans):
            if channel.uid in by_uid:
                raise ValueError(f"duplicate channel uid {channel.uid!r}")
            by_uid[channel.uid] = channel
        _set(self, "channels", freeze_mapping(pools))
        _set(self, "channels_by_uid", freeze_mapping(by_uid))
        _set(self, "by_priority", freeze_mapping({p: _by_priority(c) for p, c in pools.items()}))
        _set(self, "keys_by_hash", freeze_mapping(self.keys_by_hash))
        _set(self, "keys_by_id", freeze_mapping({k.id: k for k in self.keys_by_hash.values()}))
        _set(self, "load_balance", freeze_mapping(_load_balance(self.load_balance)))
        _set(self, "user_agents", freeze_mapping(self.user_agents))

    @classmethod
    def build(
        cls,
        *,
        revision: int = 0,
        channels: Mapping[str, Iterable[Channel]] | None = None,
        keys: Iterable[ClientKey] = (),
        prices: Mapping[str, Price] | PriceTable | None = None,
        load_balance: Mapping[str, str] | None = None,
        failover: FailoverConfig | None = None,
        debug_log: DebugLogConfig | None = None,
        user_agents: Mapping[str, str] | None = None,
        outbound_headers: OutboundHeaderPolicy | None = None,
        ratelimit: RateLimitConfig | None = None,
        responses_websocket: bool = False,
    ) -> Snapshot:
        """Return a snapshot, re-indexing each pool by list position."""
        channels = channels or {}
        unknown = set(channels) - set(POOLS)
        if unknown:
            raise ValueError(f"unknown pools {sorted(unknown)}")
        table = prices if isinstance(prices, PriceTable) else PriceTable(prices or {})
        return cls(
            revision=revision,
            channels={pool: _reindex(pool, channels.get(pool, ())) for pool in POOLS},
            keys_by_hash={k.key_hash: k for k in keys if k.key_hash},
            pricing=table,
            load_balance=load_balance or {},
            failover=failover or FailoverConfig(),
            debug_log=debug_log or DebugLogConfig(),
            user_agents=user_agents or {},
            outbound_headers=outbound_headers or OutboundHeaderPolicy(),
            ratelimit=ratelimit or RateLimitConfig(),
            responses_websocket=responses_websocket,
        )

    def pool(self, pool: str) -> tuple[Channel, ...]:
        """Return the channels of ``pool`` in index order."""
        return self.channels[pool]

    def strategy(self, pool: str) -> str:
        """Return the load-balance strategy of ``pool``."""
        return self.load_balance[pool]

    def live_count(self, pool: str) -> int:
        """Return how many channels of ``pool`` are not disabled."""
        return len(self.by_priority[pool])
