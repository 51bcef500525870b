"""model-aliases.json (cc-bridge, Go) → model_aliases rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from ccbridge.legacy.jsonread import load_json
from generated.rows import ModelAliasesRow

__all__ = ("parse_aliases",)

_LISTS: Final = (
    ("messagesModels", "messages"),
    ("responsesModels", "responses"),
    ("geminiModels", "gemini"),
)


def parse_aliases(
    data: bytes, file: str = "model-aliases.json", now: datetime | None = None
) -> tuple[ModelAliasesRow, ...]:
    """Convert model-aliases.json bytes into rows, in file order.

    ``sort_order`` is the position in its list; ids are left to the
    database so they ascend in the same order.

    Raises:
        LegacyImportError: Malformed JSON or a wrong type (JSON path named).
    """
    stamp = now or datetime.now(UTC)
    root = load_json(file, data)
    root.object()
    rows: list[ModelAliasesRow] = []
    for key, alias_type in _LISTS:
        for position, node in enumerate(root.field(key).items()):
            value = node.field("value").string()
            if not value:
                node.field("value").fail("expected a non-empty string")
            rows.append(
                ModelAliasesRow(
                    alias_type=alias_type,
                    value=value,
                    description=node.field("description").string() or None,
                    sort_order=position,
                    updated_at=stamp,
                )
            )
    return tuple(rows)
