"""JSON settings: rate limits and the /api/config/* sections.

Each is one ``settings`` row holding a camelCase JSON object (the shape of
the reference's config section), written with a config write. GET answers
the stored object or the defaults; PUT validates a whole object (missing
fields take defaults) and stores it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import falcon.asgi

from ccbridge.admin import spec
from ccbridge.admin.common import body_object, read_config, reply, write_config
from ccbridge.admin.validate import boolean, check_fields, choice, integer, invalid, text, text_list
from ccbridge.runtime import Runtime
from ccbridge.store.configdoc import SECTION_DEFAULTS, read_section, section_row
from ccbridge.store.snapshot import DEFAULT_RATELIMIT, RATELIMIT_SETTING
from generated.dao import Daos

__all__ = ("OPENAPI_PATHS", "SECTIONS", "Section", "register")

Check = Callable[[str, Any], Any]
_hours = partial(integer, lo=0, hi=24 * 365 * 10)


def _object(fields: Mapping[str, Check], defaults: Mapping[str, Any]) -> Check:
    """Return a validator of an object with ``fields``, defaults filled."""

    def check(name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid(name, "must be an object")
        scoped = {k: partial(_scoped, f"{name}.{k}" if name else k, c) for k, c in fields.items()}
        return {**defaults, **check_fields(value, scoped)}

    return check


def _scoped(where: str, check: Check, name: str, value: Any) -> Any:
    return check(where, value)


def _list(item: Check, max_items: int = 100) -> Check:
    def check(name: str, value: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) > max_items:
            raise invalid(name, f"must be a list of at most {max_items} entries")
        return [item(f"{name}[{i}]", v) for i, v in enumerate(value)]

    return check


def _nullable_list(item: Check) -> Check:
    inner = _list(item)
    return lambda name, value: None if value is None else inner(name, value)


def _limit(section: str) -> Check:
    return _object(
        {"enabled": boolean, "requestsPerMinute": partial(integer, lo=0, hi=1_000_000)},
        DEFAULT_RATELIMIT[section],
    )


_threshold = _object(
    {
        "failures": partial(integer, lo=1, hi=1_000_000),
        "blockMinutes": partial(integer, lo=1, hi=525_600),
    },
    {},
)
_RATELIMIT = _object(
    {
        "api": _limit("api"),
        "portal": _limit("portal"),
        "authFailure": _object(
            {"enabled": boolean, "thresholds": _list(_threshold, 20)},
            {"enabled": True, "thresholds": []},
        ),
    },
    DEFAULT_RATELIMIT,
)

_DEBUG_LOG = _object(
    {
        "enabled": boolean,
        "retentionHours": _hours,
        "fullRetentionHours": _hours,
        "headerRetentionHours": _hours,
        "headerRetentionForever": boolean,
        "maxBodySize": partial(integer, lo=0, hi=100 << 20),
    },
    SECTION_DEFAULTS["debug_log"](),
)

_ua_entry = _object(
    {"latest": partial(text, max_len=500), "lastCapturedAt": partial(text, max_len=64)}, {}
)
_USER_AGENT = _object(
    {"messages": _ua_entry, "responses": _ua_entry}, SECTION_DEFAULTS["user_agent"]()
)

_OUTBOUND = _object(
    {
        "enabled": boolean,
        "stripRules": partial(text_list, max_items=200, max_len=200),
        "initialized": boolean,
    },
    SECTION_DEFAULTS["outbound_header_policy"](),
)

_step = _object(
    {
        "action": partial(choice, options=("retry", "failover", "suspend", "none")),
        "waitSeconds": partial(integer, lo=0, hi=86_400),
        "maxAttempts": partial(integer, lo=0, hi=1000),
    },
    {},
)
_rule = _object(
    {
        "errorCodes": partial(text, max_len=200, required=True),
        "actionChain": _list(_step, 20),
        "action": partial(text, max_len=50),
        "threshold": partial(integer, lo=0, hi=1000),
        "waitSeconds": partial(integer, lo=0, hi=86_400),
    },
    {},
)


_FAILOVER = _object(
    {
        "enabled": boolean,
        "rules": _nullable_list(_rule),
        "genericResourceWaitSeconds": partial(integer, lo=1, hi=3600),
        "modelCooldownExtraSeconds": partial(integer, lo=1, hi=3600),
        "modelCooldownMaxWaitSeconds": partial(integer, lo=1, hi=3600),
    },
    SECTION_DEFAULTS["failover"](),
)


_RESPONSES_WEBSOCKET = _object({"enabled": boolean}, SECTION_DEFAULTS["responses_websocket"]())


@dataclass(frozen=True, slots=True)
class Section:
    """One JSON setting exposed at a path."""

    path: str
    key: str
    check: Check
    summary: str
    reset: bool = False


SECTIONS: Final = (
    Section(
        "/api/ratelimit",
        RATELIMIT_SETTING,
        _RATELIMIT,
        "rate limits",
        reset=True,
    ),
    Section(
        "/api/config/debug-log",
        "debug_log",
        _DEBUG_LOG,
        "debug-log capture",
    ),
    Section(
        "/api/config/responses-websocket",
        "responses_websocket",
        _RESPONSES_WEBSOCKET,
        "the Responses WebSocket switch (GET /v1/responses upgrades)",
    ),
    Section(
        "/api/config/user-agent",
        "user_agent",
        _USER_AGENT,
        "pinned user agents",
    ),
    Section(
        "/api/config/outbound-header-policy",
        "outbound_header_policy",
        _OUTBOUND,
        "outbound header stripping",
    ),
    Section(
        "/api/config/failover",
        "failover",
        _FAILOVER,
        "failover rules",
        reset=True,
    ),
)


class SectionResource:
    """GET/PUT of one JSON setting, and POST …/reset where it has one."""

    def __init__(self, rt: Runtime, section: Section) -> None:
        self.rt = rt
        self.section = section

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return the section."""

        async def read(tx: Daos) -> dict[str, Any]:
            return await read_section(tx, self.section.key)

        reply(resp, *await read_config(self.rt, read))

    async def on_put(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Replace the section (missing fields take their defaults)."""
        await self._store(req, resp, self.section.check("", await body_object(req)))

    async def on_post_reset(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Restore the defaults (failover: disabled, built-in rules)."""
        await self._store(req, resp, SECTION_DEFAULTS[self.section.key]())

    async def _store(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, value: dict[str, Any]
    ) -> None:
        async def change(tx: Daos) -> None:
            await tx.settings.upsert(section_row(self.section.key, value))

        _, revision = await write_config(req, self.rt, change)
        reply(resp, value, revision)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the rate-limit and /api/config/* routes."""
    for section in SECTIONS:
        res = SectionResource(rt, section)
        app.add_route(section.path, res)
        if section.reset:
            app.add_route(section.path + "/reset", res, suffix="reset")


_LIMIT_S = spec.obj(
    {
        "enabled": spec.BOOL,
        "requestsPerMinute": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
    }
)
_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    RATELIMIT_SETTING: spec.obj(
        {
            "api": _LIMIT_S,
            "portal": _LIMIT_S,
            "authFailure": spec.obj(
                {
                    "enabled": spec.BOOL,
                    "thresholds": spec.array(
                        spec.obj(
                            {
                                "failures": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                                "blockMinutes": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "maximum": 525_600,
                                },
                            },
                            ["failures", "blockMinutes"],
                        ),
                        maxItems=20,
                    ),
                }
            ),
        }
    ),
    "debug_log": spec.obj(
        {
            "enabled": spec.BOOL,
            "retentionHours": {"type": "integer", "minimum": 0, "maximum": 87_600},
            "fullRetentionHours": {"type": "integer", "minimum": 0, "maximum": 87_600},
            "headerRetentionHours": {"type": "integer", "minimum": 0, "maximum": 87_600},
            "headerRetentionForever": spec.BOOL,
            "maxBodySize": {"type": "integer", "minimum": 0, "maximum": 100 << 20},
        }
    ),
    "responses_websocket": spec.obj({"enabled": spec.BOOL}),
    "user_agent": spec.obj(
        {
            pool: spec.obj({"latest": spec.STR, "lastCapturedAt": spec.STR})
            for pool in ("messages", "responses")
        }
    ),
    "outbound_header_policy": spec.obj(
        {
            "enabled": spec.BOOL,
            "stripRules": spec.array(spec.STR),
            "initialized": spec.BOOL,
        }
    ),
    "failover": spec.obj(
        {
            "enabled": spec.BOOL,
            "rules": spec.nullable(
                spec.array(
                    spec.obj(
                        {
                            "errorCodes": {"type": "string", "minLength": 1},
                            "actionChain": spec.array(
                                spec.obj(
                                    {
                                        "action": {
                                            "type": "string",
                                            "enum": ["retry", "failover", "suspend", "none"],
                                        },
                                        "waitSeconds": {
                                            "type": "integer",
                                            "minimum": 0,
                                            "maximum": 86_400,
                                        },
                                        "maxAttempts": {
                                            "type": "integer",
                                            "minimum": 0,
                                            "maximum": 1000,
                                        },
                                    }
                                ),
                                maxItems=20,
                            ),
                            "action": spec.STR,
                            "threshold": {"type": "integer", "minimum": 0, "maximum": 1000},
                            "waitSeconds": {"type": "integer", "minimum": 0, "maximum": 86_400},
                        },
                        ["errorCodes"],
                    )
                )
            ),
            "genericResourceWaitSeconds": {"type": "integer", "minimum": 1, "maximum": 3600},
            "modelCooldownExtraSeconds": {"type": "integer", "minimum": 1, "maximum": 3600},
            "modelCooldownMaxWaitSeconds": {"type": "integer", "minimum": 1, "maximum": 3600},
        }
    ),
}


def _loose(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "additionalProperties": True}


def _openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    tag = "settings"
    for s in SECTIONS:
        schema = _SCHEMAS[s.key]
        paths[s.path] = {
            "get": spec.operation(f"Get {s.summary}", tag, etag=True, ok_schema=_loose(schema)),
            "put": spec.operation(
                f"Replace {s.summary}", tag, etag=True, body=schema, ok_schema=_loose(schema)
            ),
        }
        if s.reset:
            paths[s.path + "/reset"] = {
                "post": spec.operation(
                    f"Reset {s.summary} to defaults", tag, etag=True, ok_schema=_loose(schema)
                )
            }
    return paths


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
