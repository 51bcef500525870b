"""JSON settings: rate limits and the /api/config/* sections.

Each is one ``settings`` row holding a camelCase JSON object (the shape of
the reference's config section), written with a config write. GET answers
the stored object or the defaults; PUT validates a whole object (missing
fields take defaults) and stores it. Each section's shape is a Struct of
``ccbridge/store/shapes.py``: PUT decodes into it, and the OpenAPI schema
of both the body and the answer is derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import falcon.asgi
import msgspec

from ccbridge.admin import model, spec
from ccbridge.admin.common import read_config, reply, write_config
from ccbridge.runtime import Runtime
from ccbridge.store.configdoc import SECTION_DEFAULTS, read_section, section_row
from ccbridge.store.shapes import (
    DebugLog,
    Failover,
    OutboundHeaderPolicy,
    RateLimit,
    UserAgent,
    normalise_section,
    to_json,
)
from ccbridge.store.snapshot import RATELIMIT_SETTING
from generated.dao import Daos

__all__ = ("OPENAPI_PATHS", "SECTIONS", "Section", "register")


@dataclass(frozen=True, slots=True)
class Section:
    """One JSON setting exposed at a path."""

    path: str
    key: str
    shape: type[msgspec.Struct]
    summary: str
    reset: bool = False

    def check(self, where: str, value: Any) -> dict[str, Any]:
        """Return ``value`` validated as this section (errors name ``where`` first)."""
        checked: dict[str, Any] = to_json(model.convert(value, self.shape, where))
        return checked


SECTIONS: Final = (
    Section(
        "/api/ratelimit",
        RATELIMIT_SETTING,
        RateLimit,
        "rate limits",
        reset=True,
    ),
    Section(
        "/api/config/debug-log",
        "debug_log",
        DebugLog,
        "debug-log capture",
    ),
    Section(
        "/api/config/user-agent",
        "user_agent",
        UserAgent,
        "pinned user agents",
    ),
    Section(
        "/api/config/outbound-header-policy",
        "outbound_header_policy",
        OutboundHeaderPolicy,
        "outbound header stripping",
    ),
    Section(
        "/api/config/failover",
        "failover",
        Failover,
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
            stored = await read_section(tx, self.section.key)
            # A section stored before its shape was enforced answers its defaults.
            return (
                normalise_section(self.section.key, stored) or SECTION_DEFAULTS[self.section.key]()
            )

        reply(resp, *await read_config(self.rt, read))

    async def on_put(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Replace the section (missing fields take their defaults)."""
        value = await model.read_body(req, self.section.shape)
        await self._store(req, resp, to_json(value))

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


def _openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    tag = "settings"
    for s in SECTIONS:
        schema = model.ref(s.shape)
        paths[s.path] = {
            "get": spec.operation(f"Get {s.summary}", tag, etag=True, ok_schema=schema),
            "put": spec.operation(
                f"Replace {s.summary}", tag, etag=True, body=schema, ok_schema=schema
            ),
        }
        if s.reset:
            paths[s.path + "/reset"] = {
                "post": spec.operation(
                    f"Reset {s.summary} to defaults", tag, etag=True, ok_schema=schema
                )
            }
    return paths


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
