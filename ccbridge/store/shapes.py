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
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeVar, cast

import msgspec

from ccbridge.store.snapshot import DEFAULT_RATELIMIT, LoadBalanceStrategy

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
    "ResponsesWebSocket",
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
    requestsPerMinute: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=1_000_000,
            description="Requests per minute per client key without an RPM of its own; "
            f"0 = no limit. Default {_API['requestsPerMinute']}.",
        ),
    ] = _API["requestsPerMinute"]


class PortalLimit(_Shape):
    """Requests per minute per client address on the admin API (/api)."""

    enabled: Annotated[
        bool, msgspec.Meta(description=f"Whether the limit applies. Default {_PORTAL['enabled']}.")
    ] = _PORTAL["enabled"]
    requestsPerMinute: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=1_000_000,
            description=f"Requests per minute per client address on /api; 0 = no limit. "
            f"Default {_PORTAL['requestsPerMinute']}.",
        ),
    ] = _PORTAL["requestsPerMinute"]


class Threshold(_Shape):
    """Block an address for a while once it reached a number of failed authentications."""

    failures: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=1_000_000,
            description="Failed authentications (since the last success) that trigger it.",
        ),
    ]
    blockMinutes: Annotated[
        int,
        msgspec.Meta(
            ge=1, le=525_600, description="How long the address is then blocked, in minutes."
        ),
    ]


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
    retentionHours: Annotated[
        int,
        msgspec.Meta(
            ge=0, le=_HOURS, description="Hours captured bodies are kept; 0 = default. Default 0."
        ),
    ] = 0
    fullRetentionHours: Annotated[
        int, msgspec.Meta(ge=0, le=_HOURS, description="Hours full captures are kept. Default 24.")
    ] = 24
    headerRetentionHours: Annotated[
        int,
        msgspec.Meta(ge=0, le=_HOURS, description="Hours captured headers are kept. Default 168."),
    ] = 168
    headerRetentionForever: Annotated[
        bool, msgspec.Meta(description="Keep captured headers forever. Default false.")
    ] = False
    maxBodySize: Annotated[
        int,
        msgspec.Meta(
            ge=0, le=100 << 20, description="Largest body captured, in bytes. Default 1048576."
        ),
    ] = 1_048_576


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


class ResponsesWebSocket(_Shape):
    """The `responses_websocket` setting: whether GET /v1/responses upgrades to a WebSocket."""

    enabled: Annotated[
        bool,
        msgspec.Meta(
            description="Whether Responses clients (Codex) may use a WebSocket; refused "
            "with 426 while off. Default false."
        ),
    ] = False


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
    waitSeconds: Annotated[
        int, msgspec.Meta(ge=0, le=86_400, description="Seconds to wait first. Default 0.")
    ] = 0
    maxAttempts: Annotated[
        int, msgspec.Meta(ge=0, le=1000, description="Times this step runs; 0 = once. Default 0.")
    ] = 0


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
    threshold: Annotated[
        int, msgspec.Meta(ge=0, le=1000, description="Legacy: errors before the action. Default 0.")
    ] = 0
    waitSeconds: Annotated[
        int, msgspec.Meta(ge=0, le=86_400, description="Legacy: seconds to wait. Default 0.")
    ] = 0


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
    genericResourceWaitSeconds: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=3600,
            description="Seconds to wait on a generic resource-exhausted error. Default 20.",
        ),
    ] = 20
    modelCooldownExtraSeconds: Annotated[
        int,
        msgspec.Meta(
            ge=1, le=3600, description="Seconds added to an upstream model cooldown. Default 1."
        ),
    ] = 1
    modelCooldownMaxWaitSeconds: Annotated[
        int,
        msgspec.Meta(
            ge=1, le=3600, description="Longest model cooldown waited for, in seconds. Default 60."
        ),
    ] = 60


# settings key -> shape of its JSON object
SECTION_SHAPES: Final[dict[str, type[msgspec.Struct]]] = {
    "ratelimit": RateLimit,
    "debug_log": DebugLog,
    "user_agent": UserAgent,
    "outbound_header_policy": OutboundHeaderPolicy,
    "failover": Failover,
    "responses_websocket": ResponsesWebSocket,
}


def to_json(value: Any) -> Any:
    """Return a shape (or anything holding shapes) as plain JSON values."""
    return msgspec.to_builtins(value)


def normalise_section(key: str, value: Any) -> dict[str, Any] | None:
    """Return a stored section's object through its shape, or None if it does not fit."""
    try:
        shaped: dict[str, Any] = to_json(msgspec.convert(value, SECTION_SHAPES[key], strict=True))
    except msgspec.ValidationError:
        return None
    return shaped


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


# ---- channel objects (config.json) -----------------------------------------------------------

LoadBalance = LoadBalanceStrategy
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]

# Client key budgets (ccbridge/store/budgets.py: PERIODS).
UsdBudget = Annotated[float, msgspec.Meta(ge=0, le=1e9)]
TokenBudget = Annotated[int, msgspec.Meta(ge=0, le=10**15)]
BudgetPeriod = Literal["daily", "weekly", "monthly", "total"]

_URL: Final = r"^\s*([hH][tT][tT][pP][sS]?://[^\s\x00]*)?\s*$"
# Upstream keys: printable ASCII without spaces.
KEY_PATTERN: Final = r"^[!-~]+$"
_CHANNEL_ID: Final = r"^(?!__invalid_)[A-Za-z0-9_-]{1,64}$"
SERVICE_TYPES: Final = (
    "claude",
    "composite",
    "gemini",
    "openai",
    "openai-oauth",
    "openai_chat",
    "openaiold",
    "responses",
)
# Service types each pool may hold (composite: messages only; openai-oauth: messages, responses).
POOL_SERVICE_TYPES: Final = {
    "messages": SERVICE_TYPES,
    "responses": tuple(t for t in SERVICE_TYPES if t != "composite"),
    "gemini": tuple(t for t in SERVICE_TYPES if t not in ("composite", "openai-oauth")),
    "chat": tuple(t for t in SERVICE_TYPES if t not in ("composite", "openai-oauth")),
}
Text200 = Annotated[str, msgspec.Meta(max_length=200, pattern=NOT_BLANK)]


def _d(kind: Any, description: str, **meta: Any) -> Any:
    if meta:
        kind = Annotated[kind, msgspec.Meta(**meta)]
    return Annotated[kind | None, msgspec.Meta(description=description)]


class Multipliers(_Shape, omit_defaults=True):
    """Cost multipliers of one model (1 = list price)."""

    inputMultiplier: Annotated[
        Annotated[float, msgspec.Meta(ge=0, le=1000)] | None,
        msgspec.Meta(description="Input tokens. Default 1."),
    ] = None
    outputMultiplier: Annotated[
        Annotated[float, msgspec.Meta(ge=0, le=1000)] | None,
        msgspec.Meta(description="Output tokens. Default 1."),
    ] = None
    cacheCreationMultiplier: Annotated[
        Annotated[float, msgspec.Meta(ge=0, le=1000)] | None,
        msgspec.Meta(description="Cache writes. Default 1."),
    ] = None
    cacheReadMultiplier: Annotated[
        Annotated[float, msgspec.Meta(ge=0, le=1000)] | None,
        msgspec.Meta(description="Cache reads. Default 1."),
    ] = None


_Secret = Annotated[str, msgspec.Meta(max_length=20_000, pattern=NO_NUL)]


class OAuthTokens(_Shape, omit_defaults=True):
    """OAuth tokens of an openai-oauth channel (never shown back)."""

    access_token: Annotated[_Secret | None, msgspec.Meta(description="Access token.")] = None
    account_id: Annotated[_Secret | None, msgspec.Meta(description="Account id.")] = None
    id_token: Annotated[_Secret | None, msgspec.Meta(description="Id token.")] = None
    refresh_token: Annotated[_Secret | None, msgspec.Meta(description="Refresh token.")] = None
    last_refresh: Annotated[_Secret | None, msgspec.Meta(description="Last refresh time.")] = None


class FailoverTarget(_Shape, omit_defaults=True):
    """A channel a composite mapping fails over to."""

    pool: Annotated[
        Literal["messages", "responses", "gemini", "chat"] | None,
        msgspec.Meta(description="Pool of the channel."),
    ] = None
    channelId: Annotated[Text200 | None, msgspec.Meta(description="Stable channel id.")] = None


_Names50 = Annotated[list[Text200], msgspec.Meta(max_length=50)]


class CompositeMapping(_Shape, omit_defaults=True):
    """Routes models matching a pattern of a composite channel to another channel."""

    pattern: Annotated[Text200, msgspec.Meta(description="Model name pattern (`*` wildcard).")]
    targetChannelId: Annotated[
        Annotated[str, msgspec.Meta(max_length=200, pattern=NO_NUL)] | None,
        msgspec.Meta(description="Stable id of the target channel; '' = none."),
    ] = None
    targetPool: Annotated[
        Literal["messages", "responses"] | None,
        msgspec.Meta(description="Pool of the target. Default messages."),
    ] = None
    failoverChain: Annotated[
        _Names50 | None, msgspec.Meta(description="Channel ids tried next, in order.")
    ] = None
    failoverTargets: Annotated[
        Annotated[list[FailoverTarget], msgspec.Meta(max_length=50)] | None,
        msgspec.Meta(description="Targets tried next."),
    ] = None
    targetModel: Annotated[
        Annotated[str, msgspec.Meta(max_length=200, pattern=NO_NUL)] | None,
        msgspec.Meta(description="Model name sent to the target; '' = same."),
    ] = None
    targetChannel: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None,
        msgspec.Meta(description="Legacy: target channel index."),
    ] = None


class FilterRule(_Shape, omit_defaults=True):
    """Answer a request whose text holds a keyword with a status."""

    keyword: Annotated[Text200, msgspec.Meta(description="Keyword searched in the request.")]
    statusCode: Annotated[
        Annotated[int, msgspec.Meta(ge=100, le=599)] | None,
        msgspec.Meta(description="HTTP status answered. Default: the filter's."),
    ] = None


class ContentFilter(_Shape, omit_defaults=True):
    """Refuse requests holding keywords."""

    enabled: Annotated[
        bool | None, msgspec.Meta(description="Whether it applies. Default false.")
    ] = None
    rules: Annotated[
        Annotated[list[FilterRule], msgspec.Meta(max_length=500)] | None,
        msgspec.Meta(description="Keyword rules."),
    ] = None
    keywords: Annotated[
        Annotated[list[Text200], msgspec.Meta(max_length=500)] | None,
        msgspec.Meta(description="Legacy keywords."),
    ] = None
    statusCode: Annotated[
        Annotated[int, msgspec.Meta(ge=100, le=599)] | None,
        msgspec.Meta(description="HTTP status answered. Default 400."),
    ] = None


def _timestamp(description: str) -> Any:
    return Annotated[Timestamp | None, msgspec.Meta(description=description)]


# camelCase field -> (type, description); every field optional (absent or null = unchanged/default)
_CHANNEL_FIELDS: Final[list[tuple[str, Any]]] = [
    (
        "id",
        _d(
            str, "Stable id (letters, digits, _ and -); generated when absent.", pattern=_CHANNEL_ID
        ),
    ),
    (
        "name",
        _d(
            str,
            "Display name, unique in the pool (case-insensitive).",
            max_length=200,
            pattern=NOT_BLANK,
        ),
    ),
    (
        "baseUrl",
        _d(
            str,
            "Upstream base URL, http(s); '' = the service's default.",
            max_length=2048,
            pattern=_URL,
        ),
    ),
    (
        "apiKeys",
        _d(
            list[Annotated[str, msgspec.Meta(max_length=4096, pattern=KEY_PATTERN)]],
            "Upstream API keys, tried in order; printable ASCII, no repeats.",
            max_length=500,
            extra_json_schema={"uniqueItems": True},
        ),
    ),
    ("description", _d(str, "Free text. Default ''.", max_length=2000, pattern=NO_NUL)),
    ("website", _d(str, "Provider website, http(s). Default ''.", max_length=2048, pattern=_URL)),
    ("insecureSkipVerify", _d(bool, "Skip TLS certificate checks upstream. Default false.")),
    (
        "modelMapping",
        _d(
            dict[
                Annotated[str, msgspec.Meta(max_length=500, pattern=NOT_BLANK)],
                Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)],
            ],
            "Requested model -> model sent upstream. Default {}.",
            max_length=1000,
        ),
    ),
    (
        "responseHeaderTimeout",
        _d(int, "Seconds to wait for upstream headers. Default 120.", ge=1, le=3600),
    ),
    (
        "priority",
        _d(int, "Order in the pool, lower first. Default: the index.", ge=0, le=1_000_000),
    ),
    ("status", _d(Literal["active", "suspended", "disabled", ""], "Channel status; '' = active.")),
    ("promotionUntil", _timestamp("Preferred until this time (RFC 3339); null = not promoted.")),
    (
        "priceMultipliers",
        _d(dict[Text200, Multipliers], "Model ('*' = any) -> cost multipliers.", max_length=500),
    ),
    (
        "oauthTokens",
        Annotated[OAuthTokens | None, msgspec.Meta(description="OAuth tokens (openai-oauth).")],
    ),
    (
        "codexServiceTierOverride",
        _d(
            Literal["", "off", "force_priority", "force_default"],
            "Codex service tier override. Default ''.",
        ),
    ),
    (
        "responsesEncryptedReasoningMode",
        _d(
            Literal["", "auto", "always", "off", "on"],
            "Encrypted reasoning (on = always). Default ''.",
        ),
    ),
    ("responsesWebSocketEnabled", _d(bool, "Use the Responses WebSocket upstream. Default false.")),
    ("continueThinkingEnabled", _d(bool, "Continue thinking across turns. Default false.")),
    ("quotaType", _d(Literal["", "requests", "credit"], "What the quota counts; '' = no quota.")),
    ("quotaLimit", _d(float, "Quota per period (requests or credit). Default 0.", ge=0, le=1e12)),
    ("quotaResetAt", _timestamp("Next quota reset (RFC 3339).")),
    (
        "quotaResetInterval",
        _d(int, "Quota period length, in quotaResetUnit. Default 0.", ge=0, le=100_000),
    ),
    (
        "quotaResetUnit",
        _d(Literal["", "hours", "days", "weeks", "months"], "Unit of the quota period."),
    ),
    ("quotaModels", _d(list[Text200], "Models the quota counts; [] = all.", max_length=500)),
    ("quotaResetMode", _d(Literal["", "fixed", "rolling"], "Quota period kind. Default fixed.")),
    (
        "rateLimitRpm",
        _d(int, "Requests per minute to this channel; 0 = none. Default 0.", ge=0, le=1_000_000),
    ),
    ("queueEnabled", _d(bool, "Queue requests over the RPM instead of failing. Default false.")),
    ("queueTimeout", _d(int, "Seconds a queued request waits. Default 60.", ge=0, le=86_400)),
    (
        "keyLoadBalance",
        _d(LoadBalance | Literal[""], "How keys are picked; '' = failover."),
    ),
    (
        "compositeMappings",
        _d(list[CompositeMapping], "Routing of a composite channel.", max_length=50),
    ),
    ("contentFilter", Annotated[ContentFilter | None, msgspec.Meta(description="Keyword filter.")]),
    # Read-only fields of the list view, accepted and ignored so a view can be sent back.
    ("index", Annotated[Any, msgspec.Meta(description="Read-only; ignored.")]),
    ("apiKeyCount", Annotated[Any, msgspec.Meta(description="Read-only; ignored.")]),
    ("maskedKeys", Annotated[Any, msgspec.Meta(description="Read-only; ignored.")]),
    ("latency", Annotated[Any, msgspec.Meta(description="Read-only; ignored.")]),
    ("hasOAuthTokens", Annotated[Any, msgspec.Meta(description="Read-only; ignored.")]),
    ("served", Annotated[Any, msgspec.Meta(description="Read-only; ignored.")]),
]


def _channel_shape(name: str, pool: str, *, creating: bool) -> type[msgspec.Struct]:
    services = cast(Any, Literal)[POOL_SERVICE_TYPES[pool]]  # a per-pool Literal, built here
    service_doc = "Upstream protocol (composite: messages pool; openai-oauth: messages, responses)."
    fields: list[Any] = []
    if creating:
        fields.append(
            (
                "name",
                Annotated[Text200, msgspec.Meta(description="Display name, unique in the pool.")],
            )
        )
        fields.append(("serviceType", Annotated[services, msgspec.Meta(description=service_doc)]))
    else:
        fields.append(
            ("serviceType", Annotated[services | None, msgspec.Meta(description=service_doc)], None)
        )
    for field, kind in _CHANNEL_FIELDS:
        if creating and field == "name":
            continue
        fields.append((field, kind, None))
    doc = f"A channel of the {pool} pool" + (
        " (new)." if creating else "; absent fields stay as they are."
    )
    return _defstruct(name, fields, doc)


def _defstruct(name: str, fields: list[Any], doc: str) -> type[msgspec.Struct]:
    cls = msgspec.defstruct(name, fields, module=__name__, kw_only=True, forbid_unknown_fields=True)
    cls.__doc__ = doc
    return cls


# pool -> (shape of a new channel, shape of a change to one)
CHANNEL_SHAPES: Final = {
    pool: (
        _channel_shape(f"{pool.capitalize()}Channel", pool, creating=True),
        _channel_shape(f"{pool.capitalize()}ChannelChange", pool, creating=False),
    )
    for pool in POOL_SERVICE_TYPES
}


if TYPE_CHECKING:  # built per pool at run time (above); to mypy, a Struct
    MessagesChannel = msgspec.Struct
    ResponsesChannel = msgspec.Struct
    GeminiChannel = msgspec.Struct
    ChatChannel = msgspec.Struct
else:
    MessagesChannel = CHANNEL_SHAPES["messages"][0]
    ResponsesChannel = CHANNEL_SHAPES["responses"][0]
    GeminiChannel = CHANNEL_SHAPES["gemini"][0]
    ChatChannel = CHANNEL_SHAPES["chat"][0]


# ---- backup document -------------------------------------------------------------------------

_Names = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=1000, pattern=NOT_BLANK)]],
    msgspec.Meta(max_length=1000),
]


class BackupConfig(_Shape):
    """The config.json part of a backup: channels per pool and the settings sections."""

    upstream: Annotated[
        Annotated[list[MessagesChannel], msgspec.Meta(max_length=10_000)] | None,
        msgspec.Meta(description="Channel objects of the messages pool; missing = none."),
    ] = None
    responsesUpstream: Annotated[
        Annotated[list[ResponsesChannel], msgspec.Meta(max_length=10_000)] | None,
        msgspec.Meta(description="Channel objects of the responses pool; missing = none."),
    ] = None
    geminiUpstream: Annotated[
        Annotated[list[GeminiChannel], msgspec.Meta(max_length=10_000)] | None,
        msgspec.Meta(description="Channel objects of the gemini pool; missing = none."),
    ] = None
    chatUpstream: Annotated[
        Annotated[list[ChatChannel], msgspec.Meta(max_length=10_000)] | None,
        msgspec.Meta(description="Channel objects of the chat pool; missing = none."),
    ] = None
    loadBalance: Annotated[
        LoadBalance | None,
        msgspec.Meta(
            description="How the messages pool picks a channel; null = keep. Default failover."
        ),
    ] = None
    responsesLoadBalance: Annotated[
        LoadBalance | None,
        msgspec.Meta(
            description="How the responses pool picks a channel; null = keep. Default failover."
        ),
    ] = None
    geminiLoadBalance: Annotated[
        LoadBalance | None,
        msgspec.Meta(
            description="How the gemini pool picks a channel; null = keep. Default failover."
        ),
    ] = None
    chatLoadBalance: Annotated[
        LoadBalance | None,
        msgspec.Meta(
            description="How the chat pool picks a channel; null = keep. Default failover."
        ),
    ] = None
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
    expiresAt: Annotated[
        Timestamp | None, msgspec.Meta(description="The key stops working then; null = never.")
    ] = None
    budgetUsd: Annotated[
        UsdBudget | None, msgspec.Meta(description="USD per budgetPeriod; null = no budget.")
    ] = None
    budgetPeriod: Annotated[
        BudgetPeriod | None, msgspec.Meta(description="UTC period of budgetUsd. Default total.")
    ] = None
    tokenBudget: Annotated[
        TokenBudget | None, msgspec.Meta(description="Tokens per tokenBudgetPeriod; null = none.")
    ] = None
    tokenBudgetPeriod: Annotated[
        BudgetPeriod | None,
        msgspec.Meta(description="UTC period of tokenBudget. Default total."),
    ] = None
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
    allowEmptyPools: Annotated[
        bool,
        msgspec.Meta(
            description="Restore even if a pool that has channels would be left with none "
            "(else 422 RESTORE_EMPTIES_POOL naming the pools). Not part of an export. "
            "Default false."
        ),
    ] = False
