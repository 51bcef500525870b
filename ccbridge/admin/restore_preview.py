"""POST /api/config/restore/preview: what a restore would change.

The backup is validated exactly as ``POST /api/config/restore`` validates
it (same 422s), then compared with the stored configuration in one
read-only transaction; nothing is written. Channels are compared by id
on their normalised backup form, secrets left out, so the answer never
carries a key. The current revision comes back as ETag: sending it as
If-Match with the restore refuses to apply a preview that went stale.
"""

from __future__ import annotations

import json
from typing import Any, Final

import falcon.asgi

from ccbridge.admin import model, spec
from ccbridge.admin.backup import emptied_pools, parse_backup
from ccbridge.admin.common import read_config, read_raw, reply
from ccbridge.runtime import Runtime
from ccbridge.store.configdoc import (
    SECTION_DEFAULTS,
    channel_object,
    read_model_aliases,
    read_pricing,
    read_section,
    read_user_aliases,
)
from ccbridge.store.shapes import Backup
from generated.dao import Daos
from generated.rows import ChannelsRow

__all__ = ("OPENAPI_PATHS", "PREVIEW_PATH", "RestorePreviewResource", "register")

PREVIEW_PATH: Final = "/api/config/restore/preview"


def _channel_ref(row: ChannelsRow) -> dict[str, Any]:
    return {"pool": row.channel_type, "id": row.channel_id, "name": row.name}


def _channel_changes(old: list[ChannelsRow], new: list[ChannelsRow]) -> dict[str, Any]:
    before = {r.channel_id: r for r in old}
    after = {r.channel_id: r for r in new}
    changed = []
    for uid in after.keys() & before.keys():
        a = channel_object(before[uid], include_secrets=False)
        b = channel_object(after[uid], include_secrets=False)
        fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if before[uid].channel_type != after[uid].channel_type:
            fields.append("pool")
        if fields:
            changed.append({**_channel_ref(after[uid]), "fields": fields})
    return {
        "added": [_channel_ref(after[u]) for u in after.keys() - before.keys()],
        "removed": [_channel_ref(before[u]) for u in before.keys() - after.keys()],
        "changed": sorted(changed, key=lambda c: (c["pool"], c["name"])),
        "unchanged": len(after.keys() & before.keys()) - len(changed),
    }


def _named_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "added": sorted(new.keys() - old.keys()),
        "removed": sorted(old.keys() - new.keys()),
        "changed": sorted(k for k in new.keys() & old.keys() if new[k] != old[k]),
    }


def _json(value: str | None) -> Any:
    try:
        return json.loads(value) if value else None
    except ValueError:
        return value


async def preview(tx: Daos, backup: Backup, doc: dict[str, Any]) -> dict[str, Any]:
    """Return the changes restoring ``backup`` would make.

    ``doc`` is the same backup as sent (its parts are compared as given).
    """
    plan = parse_backup(backup)
    settings = []
    for row in plan.settings:
        default = SECTION_DEFAULTS.get(row.key)
        if default is not None:  # compare with what is in force, defaults included
            old: Any = await read_section(tx, row.key)
            new: Any = {**default(), **_json(row.value)}
        else:  # a pool's load balance: unset means failover
            current = await tx.settings.get(row.key)
            old, new = (current.value if current and current.value else "failover"), row.value
        settings.append({"key": row.key, "changed": old != new})
    rows = await tx.channels.list(order_by="id")
    out: dict[str, Any] = {
        "channels": _channel_changes(rows, plan.channels),
        "emptiedPools": emptied_pools(rows, plan),
        "settings": settings,
        "pricing": None,
        "modelAliasesChanged": None,
        "userAliasesChanged": None,
        "clientKeys": None,
    }
    if doc.get("pricing") is not None:
        old_models = (await read_pricing(tx)).get("models") or {}
        out["pricing"] = _named_changes(old_models, doc["pricing"].get("models") or {})
    if doc.get("aliases") is not None:
        out["modelAliasesChanged"] = await read_model_aliases(tx) != doc["aliases"]
    if doc.get("userAliases") is not None:
        out["userAliasesChanged"] = await read_user_aliases(tx) != doc["userAliases"]
    if plan.keys is not None:
        current_keys = {r.key_hash for r in await tx.api_keys.list()}
        wanted = {r.key_hash for r in plan.keys}
        out["clientKeys"] = {
            "added": len(wanted - current_keys),
            "removed": len(current_keys - wanted),
            "kept": len(wanted & current_keys),
        }
    return out


class RestorePreviewResource:
    """POST /api/config/restore/preview."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Answer the changes a restore of the body would make."""
        raw = await read_raw(req)
        backup = model.decode(raw, Backup)  # validated as restore does (same 400/413/422)
        doc = json.loads(raw)  # valid JSON once decoded above

        async def read(tx: Daos) -> dict[str, Any]:
            return await preview(tx, backup, doc)

        changes, revision = await read_config(self.rt, read)
        reply(resp, changes, revision)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the restore preview route."""
    app.add_route(PREVIEW_PATH, RestorePreviewResource(rt))


def _openapi() -> dict[str, Any]:
    ref = spec.obj({"pool": spec.STR, "id": spec.STR, "name": spec.STR}, ["pool", "id", "name"])
    names = spec.array(spec.STR)
    named = spec.obj({"added": names, "removed": names, "changed": names})
    changes = spec.obj(
        {
            "channels": spec.obj(
                {
                    "added": spec.array(ref),
                    "removed": spec.array(ref),
                    "changed": spec.array(
                        {**ref, "properties": {**ref["properties"], "fields": names}}
                    ),
                    "unchanged": spec.INT,
                }
            ),
            "emptiedPools": {
                **spec.array(
                    {"type": "string", "enum": ["messages", "responses", "gemini", "chat"]}
                ),
                "description": "Pools that have channels now and none after the restore: "
                "the restore is refused unless allowEmptyPools is sent.",
            },
            "settings": spec.array(spec.obj({"key": spec.STR, "changed": spec.BOOL})),
            "pricing": {"anyOf": [named, {"type": "null"}]},
            "modelAliasesChanged": {"type": ["boolean", "null"]},
            "userAliasesChanged": {"type": ["boolean", "null"]},
            "clientKeys": {"type": ["object", "null"]},
        },
        ["channels", "emptiedPools", "settings"],
    )
    return {
        PREVIEW_PATH: {
            "post": spec.operation(
                "Show what restoring a backup would change (writes nothing)",
                "backup",
                etag=True,
                body=model.ref(Backup),
                ok_schema=changes,
            )
        }
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
