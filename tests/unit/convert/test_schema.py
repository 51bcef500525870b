"""JSON Schema cut down for Gemini function declarations."""

from __future__ import annotations

from ccbridge.convert.schema import gemini_schema


def test_unsupported_keywords_go_and_property_names_stay() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "title": {"type": "string", "format": "uri", "description": "a property named title"},
            "additionalProperties": {"type": "boolean"},
            "when": {"type": "string", "format": "date-time"},
            "mode": {"const": "fast"},
            "count": {"type": ["integer", "null"], "minimum": 0, "exclusiveMinimum": 0},
            "tags": {"type": "array", "items": {"type": "string", "examples": ["a"]}},
            "list": {"type": "array"},
            "either": {"anyOf": [{"type": "string"}, {"type": "number", "default": 1}]},
            "level": {"enum": [1, 2, None]},
        },
        "required": ["title", "ghost"],
    }
    assert gemini_schema(schema) == {
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "a property named title"},
            "additionalProperties": {"type": "boolean"},
            "when": {"type": "string", "format": "date-time"},
            "mode": {"type": "string", "enum": ["fast"]},
            "count": {"type": "integer", "nullable": True, "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}},
            "list": {"type": "array", "items": {"type": "string"}},
            "either": {"anyOf": [{"type": "string"}, {"type": "number"}]},
            "level": {"type": "string", "enum": ["1", "2"]},
        },
        "required": ["title"],
    }


def test_non_object_schema_is_empty() -> None:
    assert gemini_schema(None) == {}
