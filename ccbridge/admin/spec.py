"""Building blocks for the OpenAPI fragments of the admin modules.

Every admin module exposes ``OPENAPI_PATHS`` built with these helpers;
``openapi.py`` merges them into one OpenAPI 3.1 document. Schemas are
plain JSON Schema (2020-12), as OpenAPI 3.1 uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = (
    "ANY_OBJECT",
    "BOOL",
    "COMPONENTS",
    "DATETIME",
    "ERRORS",
    "INT",
    "NUMBER",
    "OK",
    "STR",
    "array",
    "nullable",
    "obj",
    "operation",
    "path_param",
    "query_param",
)

STR: Final[dict[str, Any]] = {"type": "string"}
INT: Final[dict[str, Any]] = {"type": "integer"}
NUMBER: Final[dict[str, Any]] = {"type": "number"}
BOOL: Final[dict[str, Any]] = {"type": "boolean"}
DATETIME: Final[dict[str, Any]] = {"type": ["string", "null"], "format": "date-time"}
ANY_OBJECT: Final[dict[str, Any]] = {"type": "object"}
# Statuses any admin operation may answer with, as a JSON problem.
ERRORS: Final = (400, 401, 403, 404, 409, 422, 429)

_PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}

COMPONENTS: Final[dict[str, Any]] = {
    "schemas": {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem; `error` repeats `detail` for older clients.",
            "required": ["type", "title", "status", "detail", "error"],
            "properties": {
                "type": STR,
                "title": STR,
                "status": INT,
                "detail": STR,
                "error": STR,
                "code": STR,
            },
        },
        "Success": {
            "type": "object",
            "required": ["success"],
            "properties": {"success": BOOL, "message": STR},
        },
    },
    "securitySchemes": {
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        "bearer": {"type": "http", "scheme": "bearer"},
    },
}

OK: Final[dict[str, Any]] = {"$ref": "#/components/schemas/Success"}


def nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``schema`` also allowing null."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [dict(schema), {"type": "null"}]}


def array(items: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """Return an array schema."""
    return {"type": "array", "items": dict(items), **extra}


def obj(
    properties: Mapping[str, Any],
    required: Iterable[str] = (),
    *,
    additional: bool | Mapping[str, Any] = False,
) -> dict[str, Any]:
    """Return an object schema."""
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    schema["additionalProperties"] = (
        additional if isinstance(additional, bool) else dict(additional)
    )
    return schema


def path_param(
    name: str, schema: Mapping[str, Any] = STR, description: str = "", example: Any = None
) -> dict[str, Any]:
    """Return a required path parameter (with an example value if given)."""
    param = {"name": name, "in": "path", "required": True, "schema": dict(schema)}
    if description:
        param["description"] = description
    if example is not None:
        param["example"] = example
    return param


def query_param(
    name: str, schema: Mapping[str, Any], description: str = "", *, required: bool = False
) -> dict[str, Any]:
    """Return a query parameter (optional unless ``required``).

    An empty value (``?to=``) counts as absent: Falcon drops blank query
    values before any resource reads them, so the document allows it for
    an optional parameter too.
    """
    if required:
        param = {"name": name, "in": "query", "required": True, "schema": dict(schema)}
        if description:
            param["description"] = description
        return param
    param = {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"anyOf": [dict(schema), {"type": "string", "maxLength": 0}]},
    }
    param["description"] = f"{description}; empty = absent" if description else "Empty = absent"
    return param


def operation(
    summary: str,
    tag: str,
    *,
    params: Iterable[Mapping[str, Any]] = (),
    body: Mapping[str, Any] | None = None,
    body_required: bool = True,
    ok: int = 200,
    ok_schema: Mapping[str, Any] = OK,
    etag: bool = False,
    errors: Iterable[int] = ERRORS,
) -> dict[str, Any]:
    """Return one OpenAPI operation object.

    Args:
        summary: One line for the operation.
        tag: Group shown by documentation tools.
        params: Parameter objects.
        body: JSON schema of the request body, if any.
        body_required: Whether the body must be sent.
        ok: Success status.
        ok_schema: JSON schema of the success body.
        etag: The response carries the config revision as ETag.
        errors: Error statuses, each answered with a Problem.
    """
    success: dict[str, Any] = {
        "description": "OK",
        "content": {"application/json": {"schema": dict(ok_schema)}},
    }
    if etag:
        success["headers"] = {
            "ETag": {"description": "Config revision", "schema": {"type": "string"}}
        }
    responses: dict[str, Any] = {str(ok): success}
    for status in errors:
        responses[str(status)] = {
            "description": "Problem",
            "content": {"application/problem+json": {"schema": _PROBLEM_REF}},
        }
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    params = list(params)
    if params:
        op["parameters"] = [dict(p) for p in params]
    if body is not None:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": dict(body)}},
        }
    return op
