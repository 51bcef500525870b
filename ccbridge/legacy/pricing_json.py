"""pricing.json (cc-bridge, Go) → model_pricing rows and the currency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from ccbridge.legacy.jsonread import Node, load_json
from generated.rows import ModelPricingRow, SettingsRow

__all__ = ("CURRENCY_KEY", "PRICING_CATEGORY", "PricingImport", "parse_pricing")

PRICING_CATEGORY: Final = "pricing"
CURRENCY_KEY: Final = "pricing_currency"


@dataclass(frozen=True, slots=True)
class PricingImport:
    """What pricing.json becomes.

    Attributes:
        models: One row per model id, in file order.
        currency: The ``pricing/pricing_currency`` setting, if given.
    """

    models: tuple[ModelPricingRow, ...]
    currency: SettingsRow | None


def parse_pricing(
    data: bytes, file: str = "pricing.json", now: datetime | None = None
) -> PricingImport:
    """Convert pricing.json bytes into rows.

    ``{"models": {id: {inputPrice, outputPrice, cacheCreationPrice|null,
    cacheReadPrice|null, description?, exportToModels?}}, "currency": "USD"}``

    Raises:
        LegacyImportError: Malformed JSON or a wrong type (JSON path named).
    """
    stamp = now or datetime.now(UTC)
    root = load_json(file, data)
    root.object()
    models = tuple(
        _model(model_id, node, stamp) for model_id, node in root.field("models").members()
    )
    currency = root.field("currency").string()
    row = SettingsRow(CURRENCY_KEY, currency, PRICING_CATEGORY, stamp) if currency else None
    return PricingImport(models, row)


def _model(model_id: str, node: Node, stamp: datetime) -> ModelPricingRow:
    node.object()
    f = node.field
    return ModelPricingRow(
        model_id=model_id,
        input_price=f("inputPrice").number(),
        output_price=f("outputPrice").number(),
        cache_creation_price=f("cacheCreationPrice").optional_number(),
        cache_read_price=f("cacheReadPrice").optional_number(),
        description=f("description").string() or None,
        # Go: exportToModels nil or true means listed in /v1/models.
        export_to_models=f("exportToModels").boolean(default=True),
        updated_at=stamp,
    )
