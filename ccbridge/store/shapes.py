"""Typed shapes of the config documents: the JSON settings sections.

One msgspec Struct per object; each field's ``Meta`` carries its range and
its description (meaning, unit, default). The admin API decodes request
bodies into these types and derives its OpenAPI components from them
(``ccbridge/admin/model.py``); the store reads stored sections through them
and restore validates with them, so JSON mode and the importer can share
them too (this module imports nothing above ``store``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec

from ccbridge.store.snapshot import DEFAULT_RATELIMIT, LOAD_BALANCE_STRATEGIES

__all__ = (
    "NO_NUL",
    "SECTION_SHAPES",
    "AuthFailure",
    "DebugLog",
    "Failover",
    "FailoverRule",
    "FailoverStep",
    "Limit",
    "OutboundHeaderPolicy",
    "PortalLimit",
    "RateLimit",
    "Threshold",
    "UserAgent",
    "UserAgentEntry",
    "normalise_section",
    "to_json",
)

T = TypeVar("T")
# Text both engines can store: no NUL character.
NO_NUL: Final = r"^[^\x00]*$"
# Non-blank text without NUL (the server strips surrounding spaces).
NOT_BLANK: Final = r"^[^\x00]*[^\x00\s][^\x00]*$"
# Empty, or not blank.
EMPTY_OR_NOT_BLANK: Final = r"^([^\x00]*[^\x00\s][^\x00]*)?$"


def _int(lo: int, hi: int, description: str) -> Any:
    return Annotated[int, msgspec.Meta(ge=lo, le=hi, description=description)]


class _Shape(msgspec.Struct, forbid_unknown_fields=True, rename=None):
    """Base: unknown fields are refused."""


# ---- ratelimit -------------------------------------------------------------------------------

_API = DEFAULT_RATELIMIT["api"]
_PORTAL = DEFAULT_RATELIMIT["portal"]


class Limit(_Shape):
    """Requests per minute per client key on the proxy (/v1)."""

    enabled: Annotated[
        bool, msgspec.Meta(description=f"Whether the limit applies. Default {_API['enabled']}.")
    ] = _API["enabled"]
    requestsPerMinute: _int(
        0,
        1_000_000,
        f"Requests per minute per client key without an RPM of its own; 0 = no limit. "
        f"Default {_API['requestsPerMinute']}.",
    ) = _API["requestsPerMinute"]


class PortalLimit(_Shape):
    """Requests per minute per client address on the admin API (/api)."""

    enabled: Annotated[
        bool, msgspec.Meta(description=f"Whether the limit applies. Default {_PORTAL['enabled']}.")
    ] = _PORTAL["enabled"]
    requestsPerMinute: _int(
        0,
        1_000_000,
        f"Requests per minute per client address on /api; 0 = no limit. "
        f"Default {_PORTAL['requestsPerMinute']}.",
    ) = _PORTAL["requestsPerMinute"]


class Threshold(_Shape):
    """Block an address for a while once it reached a number of failed authentications."""

    failures: _int(1, 1_000_000, "Failed authentications (since the last success) that trigger it.")
    blockMinutes: _int(1, 525_600, "How long the address is then blocked, in minutes.")


def _default_thresholds() -> list[Threshold]:
    return [Threshold(**t) for t in DEFAULT_RATELIMIT["authFailure"]["thresholds"]]


class AuthFailure(_Shape):
    """Blocking of client addresses that fail to authenticate, on every path."""

    enabled: Annotated[
        bool, msgspec.Meta(description="Whether blocking applies. Default true.")
    ] = True
    thresholds: Annotated[
        list[Threshold],
        msgspec.Meta(
            max_length=20,
            description="Steps of the block; the largest reached applies. Default: none "
            "when the object is sent (5/1, 10/5, 20/30 when `authFailure` is absent).",
        ),
    ] = msgspec.field(default_factory=list)


class RateLimit(_Shape):
    """The `ratelimit` setting: request limits and auth-failure blocking."""

    api: Annotated[Limit, msgspec.Meta(description="Proxy (/v1) limit.")] = msgspec.field(
        default_factory=Limit
    )
    portal: Annotated[PortalLimit, msgspec.Meta(description="Admin API (/api) limit.")] = (
        msgspec.field(default_factory=PortalLimit)
    )
    authFailure: Annotated[
        AuthFailure,
        msgspec.Meta(description="Auth-failure blocking. Default: on, 5/1, 10/5, 20/30 minutes."),
    ] = msgspec.field(default_factory=lambda: AuthFailure(thresholds=_default_thresholds()))


# ---- debug log -------------------------------------------------------------------------------

_HOURS = 24 * 365 * 10


class DebugLog(_Shape):
    """The `debug_log` setting: capture of request and response bodies."""

    enabled: Annotated[
        bool, msgspec.Meta(description="Whether bodies are captured. Default false.")
    ] = False
    retentionHours: _int(0, _HOURS, "Hours captured bodies are kept; 0 = default. Default 0.") = 0
    fullRetentionHours: _int(0, _HOURS, "Hours full captures are kept. Default 24.") = 24
    headerRetentionHours: _int(0, _HOURS, "Hours captured headers are kept. Default 168.") = 168
    headerRetentionForever: Annotated[
        bool, msgspec.Meta(description="Keep captured headers forever. Default false.")
    ] = False
    maxBodySize: _int(0, 100 << 20, "Largest body captured, in bytes. Default 1048576.") = 1_048_576


# ---- user agent ------------------------------------------------------------------------------


class UserAgentEntry(_Shape, omit_defaults=True):
    """The user agent pinned for one pool."""

    latest: Annotated[
        str,
        msgspec.Meta(max_length=500, pattern=NO_NUL, description="User-Agent sent upstream."),
    ] = ""
    lastCapturedAt: Annotated[
        str,
        msgspec.Meta(
            max_length=64, pattern=NO_NUL, description="When it was captured (RFC 3339), if so."
        ),
    ] = ""


class UserAgent(_Shape):
    """The `user_agent` setting: user agents pinned per pool."""

    messages: Annotated[UserAgentEntry, msgspec.Meta(description="Messages pool.")] = msgspec.field(
        default_factory=lambda: UserAgentEntry(latest="claude-cli/2.1.12 (external, cli)")
    )
    responses: Annotated[UserAgentEntry, msgspec.Meta(description="Responses pool.")] = (
        msgspec.field(
            default_factory=lambda: UserAgentEntry(latest="codex_cli_rs/0.73.0 (Linux; x86_64)")
        )
    )


# ---- outbound header policy ------------------------------------------------------------------


class OutboundHeaderPolicy(_Shape):
    """The `outbound_header_policy` setting: client headers not forwarded upstream."""

    enabled: Annotated[bool, msgspec.Meta(description="Whether rules apply. Default true.")] = True
    stripRules: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=200, pattern=NOT_BLANK)]],
        msgspec.Meta(
            max_length=200,
            description="Header names to drop; `*` matches any suffix. "
            "Default Cf-*, X-Forwarded-*.",
        ),
    ] = msgspec.field(default_factory=lambda: ["Cf-*", "X-Forwarded-*"])
    initialized: Annotated[
        bool, msgspec.Meta(description="Set once the defaults were written. Default true.")
    ] = True


# ---- failover --------------------------------------------------------------------------------


class FailoverStep(_Shape, omit_defaults=True):
    """One step of an action chain."""

    action: Annotated[
        Literal["retry", "failover", "suspend", "none"],
        msgspec.Meta(description="What to do: retry, fail over, suspend the channel, nothing."),
    ]
    waitSeconds: _int(0, 86_400, "Seconds to wait first. Default 0.") = 0
    maxAttempts: _int(0, 1000, "Times this step runs; 0 = once. Default 0.") = 0


class FailoverRule(_Shape, omit_defaults=True):
    """Which upstream errors a rule matches and what then happens."""

    errorCodes: Annotated[
        str,
        msgspec.Meta(
            max_length=200,
            pattern=NOT_BLANK,
            description="Comma-separated HTTP statuses or error codes the rule matches.",
        ),
    ]
    actionChain: Annotated[
        list[FailoverStep], msgspec.Meta(max_length=20, description="Steps, in order.")
    ] = msgspec.field(default_factory=list)
    action: Annotated[
        str,
        msgspec.Meta(
            max_length=50, pattern=NO_NUL, description="Legacy single action. Default ''."
        ),
    ] = ""
    threshold: _int(0, 1000, "Legacy: errors before the action. Default 0.") = 0
    waitSeconds: _int(0, 86_400, "Legacy: seconds to wait. Default 0.") = 0


def _default_rules() -> list[FailoverRule]:
    from ccbridge.store.defaults import default_failover_section

    return msgspec.convert(default_failover_section()["rules"], list[FailoverRule])


class Failover(_Shape):
    """The `failover` setting: what upstream errors cause."""

    enabled: Annotated[
        bool, msgspec.Meta(description="Whether the rules apply. Default false.")
    ] = False
    rules: Annotated[
        Annotated[list[FailoverRule], msgspec.Meta(max_length=100)] | None,
        msgspec.Meta(description="Rules, first match wins; null = none. Default: built-in."),
    ] = msgspec.field(default_factory=_default_rules)
    genericResourceWaitSeconds: _int(
        1, 3600, "Seconds to wait on a generic resource-exhausted error. Default 20."
    ) = 20
    modelCooldownExtraSeconds: _int(
        1, 3600, "Seconds added to an upstream model cooldown. Default 1."
    ) = 1
    modelCooldownMaxWaitSeconds: _int(
        1, 3600, "Longest model cooldown waited for, in seconds. Default 60."
    ) = 60


# settings key -> shape of its JSON object
SECTION_SHAPES: Final[dict[str, type[msgspec.Struct]]] = {
    "ratelimit": RateLimit,
    "debug_log": DebugLog,
    "user_agent": UserAgent,
    "outbound_header_policy": OutboundHeaderPolicy,
    "failover": Failover,
}


def to_json(value: Any) -> Any:
    """Return a shape (or anything holding shapes) as plain JSON values."""
    return msgspec.to_builtins(value)


def normalise_section(key: str, value: Any) -> dict[str, Any] | None:
    """Return a stored section's object through its shape, or None if it does not fit."""
    try:
        return to_json(msgspec.convert(value, SECTION_SHAPES[key], strict=True))
    except msgspec.ValidationError:
        return None


# ---- pricing.json, model-aliases.json, user aliases -----------------------------------------

ModelId = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NOT_BLANK)]
_PRICE = "USD (or `currency`) per million tokens, 0-1000000"


class Price(_Shape):
    """One model's prices (pricing.json)."""

    inputPrice: Annotated[float, msgspec.Meta(ge=0, le=1e6, description=f"Input tokens, {_PRICE}.")]
    outputPrice: Annotated[
        float, msgspec.Meta(ge=0, le=1e6, description=f"Output tokens, {_PRICE}.")
    ]
    cacheCreationPrice: Annotated[
        Annotated[float, msgspec.Meta(ge=0, le=1e6)] | None,
        msgspec.Meta(description=f"Cache writes, {_PRICE}; null = input x 1.25. Default null."),
    ] = None
    cacheReadPrice: Annotated[
        Annotated[float, msgspec.Meta(ge=0, le=1e6)] | None,
        msgspec.Meta(description=f"Cache reads, {_PRICE}; null = input x 0.1. Default null."),
    ] = None
    description: Annotated[
        Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)] | None,
        msgspec.Meta(description="Display name. Default ''."),
    ] = None
    exportToModels: Annotated[
        bool | None,
        msgspec.Meta(description="List the model in GET /v1/models. Default true."),
    ] = None


class Pricing(_Shape):
    """The price table (pricing.json)."""

    models: Annotated[
        dict[ModelId, Price],
        msgspec.Meta(max_length=5000, description="Model id -> its prices (at most 5000)."),
    ]
    currency: Annotated[
        Annotated[str, msgspec.Meta(max_length=10, pattern=EMPTY_OR_NOT_BLANK)] | None,
        msgspec.Meta(description="Currency of every price; empty or null = USD. Default USD."),
    ] = None


class ModelAlias(_Shape):
    """A model name suggested by the admin UI."""

    value: Annotated[
        str, msgspec.Meta(max_length=200, pattern=NOT_BLANK, description="Model name.")
    ]
    description: Annotated[
        Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)] | None,
        msgspec.Meta(description="Shown beside it. Default ''."),
    ] = None


_Aliases = Annotated[list[ModelAlias], msgspec.Meta(max_length=1000)]


class ModelAliases(_Shape):
    """Model suggestions per pool (model-aliases.json); a missing list is emptied."""

    messagesModels: Annotated[
        _Aliases | None, msgspec.Meta(description="Messages pool, in order. Default [].")
    ] = None
    responsesModels: Annotated[
        _Aliases | None, msgspec.Meta(description="Responses pool, in order. Default [].")
    ] = None
    geminiModels: Annotated[
        _Aliases | None, msgspec.Meta(description="Gemini pool, in order. Default [].")
    ] = None


UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=NOT_BLANK)]
Alias = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NOT_BLANK)]
UserAliases = Annotated[
    dict[UserId, Alias],
    msgspec.Meta(description="Client user id -> display name; names are unique (else 409)."),
]


# ---- backup document -------------------------------------------------------------------------

LoadBalance = Literal[tuple(sorted(LOAD_BALANCE_STRATEGIES))]  # type: ignore[valid-type]
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
_Names = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=1000, pattern=NOT_BLANK)]],
    msgspec.Meta(max_length=1000),
]
# A channel object of config.json; checked field by field by the admin layer.
ChannelObject = dict[str, Any]
_Channels = Annotated[list[ChannelObject], msgspec.Meta(max_length=10_000)]


def _lb(pool: str) -> Any:
    return Annotated[
        LoadBalance | None,
        msgspec.Meta(
            description=f"How the {pool} pool picks a channel; null = keep. Default failover."
        ),
    ]


def _channels(pool: str) -> Any:
    return Annotated[
        _Channels | None,
        msgspec.Meta(description=f"Channel objects of the {pool} pool; missing = none."),
    ]


class BackupConfig(_Shape):
    """The config.json part of a backup: channels per pool and the settings sections."""

    upstream: _channels("messages") = None
    responsesUpstream: _channels("responses") = None
    geminiUpstream: _channels("gemini") = None
    chatUpstream: _channels("chat") = None
    loadBalance: _lb("messages") = None
    responsesLoadBalance: _lb("responses") = None
    geminiLoadBalance: _lb("gemini") = None
    chatLoadBalance: _lb("chat") = None
    debugLog: Annotated[
        DebugLog | None, msgspec.Meta(description="Debug-log capture; null = keep.")
    ] = None
    failover: Annotated[
        Failover | None, msgspec.Meta(description="Failover rules; null = keep.")
    ] = None
    userAgent: Annotated[
        UserAgent | None, msgspec.Meta(description="Pinned user agents; null = keep.")
    ] = None
    outboundHeaderPolicy: Annotated[
        OutboundHeaderPolicy | None,
        msgspec.Meta(description="Outbound header stripping; null = keep."),
    ] = None
    currentUpstream: Annotated[Any, msgspec.Meta(description="Reference field; ignored.")] = None
    currentResponsesUpstream: Annotated[
        Any, msgspec.Meta(description="Reference field; ignored.")
    ] = None
    responsesWebSocket: Annotated[Any, msgspec.Meta(description="Reference field; ignored.")] = None


class BackupKey(_Shape):
    """A client key of a backup, by hash (export with includeKeys=true)."""

    name: Annotated[
        str, msgspec.Meta(max_length=200, pattern=NOT_BLANK, description="Display name.")
    ]
    keyHash: Annotated[
        str,
        msgspec.Meta(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key, lowercase hex."),
    ]
    keyPrefix: Annotated[
        Annotated[str, msgspec.Meta(max_length=20, pattern=NO_NUL)] | None,
        msgspec.Meta(description="First characters of the key, shown in lists. Default ''."),
    ] = None
    description: Annotated[
        Annotated[str, msgspec.Meta(max_length=10_000, pattern=NO_NUL)] | None,
        msgspec.Meta(description="Free text. Default ''."),
    ] = None
    status: Annotated[
        Literal["active", "disabled", "revoked"] | None,
        msgspec.Meta(description="Key status. Default active."),
    ] = None
    isAdmin: Annotated[bool, msgspec.Meta(description="May use /api. Default false.")] = False
    rateLimitRpm: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None,
        msgspec.Meta(description="Requests per minute; 0 = the global limit. Default 0."),
    ] = None
    allowedEndpoints: Annotated[
        _Names | None, msgspec.Meta(description="Allowed endpoints; null = all.")
    ] = None
    allowedChannelsMsg: Annotated[
        _Names | None, msgspec.Meta(description="Messages channel ids; null = all.")
    ] = None
    allowedChannelsResp: Annotated[
        _Names | None, msgspec.Meta(description="Responses channel ids; null = all.")
    ] = None
    allowedChannelsGemini: Annotated[
        _Names | None, msgspec.Meta(description="Gemini channel ids; null = all.")
    ] = None
    allowedChannelsChat: Annotated[
        _Names | None, msgspec.Meta(description="Chat channel ids; null = all.")
    ] = None
    allowedModels: Annotated[
        _Names | None, msgspec.Meta(description="Allowed models; null = all.")
    ] = None
    createdAt: Annotated[
        Timestamp | None, msgspec.Meta(description="Creation time (RFC 3339). Default now.")
    ] = None
    lastUsedAt: Annotated[Timestamp | None, msgspec.Meta(description="Last use (RFC 3339).")] = None
    id: Annotated[Any, msgspec.Meta(description="Id on the exporting instance; ignored.")] = None
    updatedAt: Annotated[
        Any, msgspec.Meta(description="Exporting instance's update time; ignored.")
    ] = None


class Backup(_Shape):
    """A backup document; each part present replaces that part of the configuration."""

    config: Annotated[BackupConfig, msgspec.Meta(description="Channels and settings sections.")]
    version: Annotated[
        str, msgspec.Meta(max_length=20, pattern=NO_NUL, description="Format version (1.0).")
    ] = ""
    createdAt: Annotated[
        str,
        msgspec.Meta(max_length=64, pattern=NO_NUL, description="When it was taken (RFC 3339)."),
    ] = ""
    pricing: Annotated[Pricing | None, msgspec.Meta(description="Price table; null = keep.")] = None
    aliases: Annotated[
        ModelAliases | None, msgspec.Meta(description="Model suggestions; null = keep.")
    ] = None
    userAliases: Annotated[
        UserAliases | None, msgspec.Meta(description="User aliases; null = keep.")
    ] = None
    ratelimit: Annotated[
        RateLimit | None, msgspec.Meta(description="Rate limits; null = keep.")
    ] = None
    apiKeys: Annotated[
        Annotated[list[BackupKey], msgspec.Meta(max_length=100_000)] | None,
        msgspec.Meta(description="Client keys by hash; null = keep the current keys."),
    ] = None
