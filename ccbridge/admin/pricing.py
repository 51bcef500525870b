"""Model prices: the whole table, one model, and reset to defaults.

Bodies use the reference's ``pricing.json`` shape: ``{"models": {id:
{inputPrice, outputPrice, cacheCreationPrice|null, cacheReadPrice|null,
description, exportToModels}}, "currency": "USD"}``. Prices are in the
config snapshot, so each change is a config write.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Annotated, Any, Final

import falcon.asgi
import msgspec

from ccbridge.admin import spec
from ccbridge.admin.common import AdminError, read_config, reply, write_config
from ccbridge.admin.model import read_body, ref
from ccbridge.admin.validate import Field, boolean, check_fields, invalid, number, text
from ccbridge.runtime import Runtime
from ccbridge.store.configdoc import price_object, pricing_view, read_pricing, replace_pricing
from ccbridge.store.defaults import default_price_rows
from ccbridge.store.shapes import ModelId, Price, Pricing, to_json
from generated.dao import Daos
from generated.rows import ModelPricingRow

__all__ = (
    "OPENAPI_PATHS",
    "PricingResource",
    "pricing_rows",
    "register",
)

_MAX_MODELS: Final = 5000
_price = partial(number, lo=0.0, hi=1e6)


def _optional_price(name: str, value: Any) -> float | None:
    return None if value is None else _price(name, value)


_MODEL_FIELDS: Final[dict[str, Field]] = {
    "inputPrice": _price,
    "outputPrice": _price,
    "cacheCreationPrice": _optional_price,
    "cacheReadPrice": _optional_price,
    "description": lambda n, v: text(n, v, max_len=500) if v is not None else None,
    "exportToModels": lambda n, v: boolean(n, v) if v is not None else None,
}


def model_id(name: str, value: Any) -> str:
    """Return a model id: non-empty text of at most 200 characters."""
    return text(name, value, max_len=200, required=True)


def price_row(model: str, data: Mapping[str, Any], where: str = "") -> ModelPricingRow:
    """Return the row of one model's price object (422 when invalid)."""
    if not isinstance(data, dict):
        raise invalid(where or model, "must be an object")
    values = check_fields(data, _MODEL_FIELDS)
    for required in ("inputPrice", "outputPrice"):
        if values.get(required) is None:
            raise invalid(f"{where}{required}", "is required")
    export = values.get("exportToModels")
    return ModelPricingRow(
        model_id=model,
        input_price=values["inputPrice"],
        output_price=values["outputPrice"],
        cache_creation_price=values.get("cacheCreationPrice"),
        cache_read_price=values.get("cacheReadPrice"),
        description=values.get("description") or "",
        export_to_models=True if export is None else export,
    )


def pricing_rows(data: Mapping[str, Any]) -> tuple[list[ModelPricingRow], str]:
    """Return the rows and currency of a full pricing body."""
    check_fields(data, {"models": lambda n, v: v, "currency": lambda n, v: v})
    models = data.get("models")
    if not isinstance(models, dict) or len(models) > _MAX_MODELS:
        raise invalid("models", f"must be an object of at most {_MAX_MODELS} models")
    currency = text("currency", data.get("currency") or "USD", max_len=10, required=True)
    rows = [price_row(model_id("models key", m), p, f"models.{m}.") for m, p in models.items()]
    return rows, currency


class PricingResource:
    """/api/pricing routes."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Return every price."""
        reply(resp, *await read_config(self.rt, read_pricing))

    async def on_put(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Replace the whole table."""
        rows, currency = pricing_rows(to_json(await read_body(req, Pricing)))
        await self._replace(req, resp, rows, currency, "Pricing updated")

    async def on_post_reset(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Replace the table with the built-in defaults."""
        await self._replace(req, resp, default_price_rows(), "USD", "Pricing reset to defaults")

    async def _replace(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        rows: list[ModelPricingRow],
        currency: str,
        message: str,
    ) -> None:
        async def change(tx: Daos) -> dict[str, Any]:
            await replace_pricing(tx, rows, currency)
            return pricing_view(rows, currency)

        view, revision = await write_config(req, self.rt, change)
        reply(resp, {"success": True, "message": message, "pricing": view}, revision)

    async def on_put_model(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Set one model's price (``{model, inputPrice, …}``)."""
        data = to_json(await read_body(req, ModelPrice))
        name = model_id("model", data.pop("model"))
        await self._set(req, resp, price_row(name, data))

    async def on_delete_model(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Delete one model's price (``{model}``)."""
        body = await read_body(req, ModelName)
        await self._delete(req, resp, model_id("model", body.model))

    async def on_put_legacy(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, model: str
    ) -> None:
        """Set one model's price, model in the path (legacy)."""
        name = model
        data = to_json(await read_body(req, LegacyPrice))
        data.pop("model", None)
        await self._set(req, resp, price_row(model_id("model", name), data))

    async def on_delete_legacy(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, model: str
    ) -> None:
        """Delete one model's price, model in the path (legacy)."""
        await self._delete(req, resp, model_id("model", model))

    async def _set(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, row: ModelPricingRow
    ) -> None:
        async def change(tx: Daos) -> None:
            await tx.model_pricing.upsert(row)

        _, revision = await write_config(req, self.rt, change)
        body = {
            "success": True,
            "message": "Price saved",
            "model": row.model_id,
            "price": price_object(row),
        }
        reply(resp, body, revision)

    async def _delete(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, model: str
    ) -> None:
        async def change(tx: Daos) -> None:
            if not await tx.model_pricing.delete(model):
                raise AdminError(404, f"No price for model {model!r}", "MODEL_NOT_FOUND")

        _, revision = await write_config(req, self.rt, change)
        reply(resp, {"success": True, "message": "Price deleted", "model": model}, revision)


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response], rt: Runtime) -> None:
    """Add the /api/pricing routes."""
    res = PricingResource(rt)
    app.add_route("/api/pricing", res)
    app.add_route("/api/pricing/reset", res, suffix="reset")
    app.add_route("/api/pricing/models", res, suffix="model")
    app.add_route("/api/pricing/models/{model}", res, suffix="legacy")


class ModelPrice(Price, kw_only=True):
    """One model's prices, the model in the body."""

    model: Annotated[ModelId, msgspec.Meta(description="Model id, e.g. claude-sonnet-4-5.")]


class LegacyPrice(Price, kw_only=True):
    """One model's prices; a `model` in the body is ignored (the path names it)."""

    model: Annotated[Any, msgspec.Meta(description="Ignored; the path names the model.")] = None


class ModelName(msgspec.Struct, forbid_unknown_fields=True):
    """Names one model."""

    model: Annotated[ModelId, msgspec.Meta(description="Model id, e.g. claude-sonnet-4-5.")]


def _openapi() -> dict[str, Any]:
    tag = "pricing"
    saved = spec.obj({"success": spec.BOOL, "message": spec.STR}, ["success"], additional=True)
    model_param = spec.path_param("model", spec.STR, "Model id", "claude-sonnet-4-5")
    return {
        "/api/pricing": {
            "get": spec.operation("Get every price", tag, etag=True, ok_schema=ref(Pricing)),
            "put": spec.operation(
                "Replace every price", tag, etag=True, body=ref(Pricing), ok_schema=saved
            ),
        },
        "/api/pricing/reset": {
            "post": spec.operation("Reset prices to defaults", tag, etag=True, ok_schema=saved)
        },
        "/api/pricing/models": {
            "put": spec.operation(
                "Set one model's price",
                tag,
                etag=True,
                ok_schema=saved,
                body=ref(ModelPrice),
            ),
            "delete": spec.operation(
                "Delete one model's price",
                tag,
                etag=True,
                ok_schema=saved,
                body=ref(ModelName),
            ),
        },
        "/api/pricing/models/{model}": {
            "put": spec.operation(
                "Set one model's price (legacy)",
                tag,
                etag=True,
                params=[model_param],
                body=ref(LegacyPrice),
                ok_schema=saved,
            ),
            "delete": spec.operation(
                "Delete one model's price (legacy)",
                tag,
                etag=True,
                params=[model_param],
                ok_schema=saved,
            ),
        },
    }


OPENAPI_PATHS: Final[dict[str, Any]] = _openapi()
