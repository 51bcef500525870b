"""JSON Schema reduced to the subset Gemini's function declarations accept.

Reference: ai.google.dev/api/caching#Schema. Unknown keywords (``$schema``,
``additionalProperties``, ``const``, ``$ref``...) are a 400 there, so this is
an allow-list; property *names* are data and are never filtered.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ("gemini_schema",)

_KEEP: Final = frozenset(
    {
        "type",
        "format",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "title",
        "propertyOrdering",
    }
)
_STRING_FORMATS: Final = frozenset({"enum", "date-time"})


def gemini_schema(schema: Any) -> dict[str, Any]:
    """Return a copy of ``schema`` that Gemini accepts."""
    if not isinstance(schema, dict):
        return {}
    out: dict[str, Any] = {k: v for k, v in schema.items() if k in _KEEP}
    kind = schema.get("type")
    if isinstance(kind, list):
        # ["string", "null"] -> type string, nullable
        real = [t for t in kind if t != "null"]
        out["type"] = real[0] if real else "string"
        if len(real) < len(kind):
            out["nullable"] = True
    if "const" in schema and "enum" not in out:
        out["enum"] = [schema["const"]]
    if "enum" in out:
        out["enum"] = [str(v) for v in out["enum"] if v is not None]
        out.setdefault("type", "string")
    if out.get("type") == "string" and out.get("format") not in _STRING_FORMATS:
        out.pop("format", None)
    props = schema.get("properties")
    if isinstance(props, dict):
        out["properties"] = {name: gemini_schema(sub) for name, sub in props.items()}
        required = schema.get("required")
        if isinstance(required, list):
            present = [r for r in required if r in props]
            if present:
                out["required"] = present
    if isinstance(schema.get("items"), dict):
        out["items"] = gemini_schema(schema["items"])
    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list):
        out["anyOf"] = [gemini_schema(v) for v in variants]
    if out.get("type") == "array" and "items" not in out:
        out["items"] = {"type": "string"}
    return out
