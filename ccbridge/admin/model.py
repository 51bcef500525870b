"""Typed models of admin bodies: validation and OpenAPI schema from one definition.

Request and response bodies are msgspec Structs (``ccbridge/store/shapes.py``
for config documents, the admin modules for HTTP-only shapes). ``read_body``
decodes a request into its Struct and turns a validation error into the
usual 422 problem naming the field (``INVALID_FIELD`` with ``field``, or
``UNKNOWN_FIELD``); ``ref`` returns the ``$ref`` of a Struct and records it,
so the OpenAPI document's components are generated from the same types.

msgspec rather than pydantic v2: bench/bench_models.py measures it 2.5-8.0x
faster on the admin paths the UI calls most, it is one small dependency, and
its error paths (``$.a.b[0]``) are already the ``field`` names of our problems.
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar

import falcon.asgi
import msgspec

from ccbridge.admin import spec
from ccbridge.admin.common import AdminError, read_raw

__all__ = ("components", "convert", "decode", "query_params", "read_body", "ref")

T = TypeVar("T")
REF_TEMPLATE: Final = "#/components/schemas/{name}"
_AT: Final = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED: Final = re.compile(r"(missing required field|unknown field) `(?P<name>[^`]*)`")
_TYPES: dict[str, Any] = {}


def _error(ex: msgspec.ValidationError, where: str = "") -> AdminError:
    message = str(ex)
    match = _AT.search(message)
    path = match.group("path") if match else ""
    if match:
        message = message[: match.start()]
    named = _NAMED.search(message)
    if named:
        path = f"{path}.{named.group('name')}"
    # msgspec names a value inside an object map `[...]`: name the map itself.
    field = f"{where}{path}".split("[...]", 1)[0].lstrip(".")
    if not field and message.startswith("Expected `object`"):
        return AdminError(400, "body must be a JSON object", "INVALID_BODY")
    if named and named.group(1) == "unknown field":
        return AdminError(
            422, f"unknown field(s): {field}", "UNKNOWN_FIELD", field=field, fields=[field]
        )
    if named:
        return AdminError(422, f"'{field}' is required", "INVALID_FIELD", field=field)
    return AdminError(422, f"'{field}': {message}", "INVALID_FIELD", field=field)


def decode(raw: bytes, type_: type[T]) -> T:
    """Return ``raw`` JSON decoded into ``type_``.

    Raises:
        AdminError: 400 when it is not JSON or not an object, 422 naming
            the first missing, unknown or invalid field.
    """
    if not raw:
        raise AdminError(400, "body must be a JSON object", "INVALID_BODY")
    try:
        try:
            return msgspec.json.decode(raw, type=type_)
        except msgspec.ValidationError as ex:
            first = ex
        # JSON Schema counts 2.0 as an integer; msgspec does not. Retry with whole
        # numbers as integers before refusing (the slow path of a bad body only).
        try:
            return msgspec.convert(_whole(msgspec.json.decode(raw)), type_, strict=True)
        except msgspec.ValidationError:
            raise _error(first) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as ex:
        raise AdminError(400, f"body is not valid JSON: {ex}", "INVALID_JSON") from None
    except RecursionError:  # nested deeper than the stack: bad input, not a crash
        raise AdminError(400, "body is nested too deeply", "INVALID_JSON") from None


def _whole(value: Any) -> Any:
    """Return ``value`` with every whole float as an int."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [_whole(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    return value


async def read_body(req: falcon.asgi.Request, type_: type[T]) -> T:
    """Return the request body decoded into ``type_`` (see ``decode``).

    Read through the admin API's size limit first (413 past it).
    """
    return decode(await read_raw(req), type_)


def convert(value: Any, type_: type[T], where: str = "") -> T:
    """Return an already-parsed JSON value as ``type_``; errors name ``where`` + the path."""
    try:
        return msgspec.convert(value, type_, strict=True)
    except msgspec.ValidationError as ex:
        raise _error(ex, where) from None


def ref(type_: Any) -> dict[str, Any]:
    """Return the schema of ``type_`` (a ``$ref`` for a Struct) and record its components."""
    (schema,), defs = msgspec.json.schema_components([type_], ref_template=REF_TEMPLATE)
    for name, definition in defs.items():
        known = _TYPES.get(name)
        if known is not None and known != definition:
            raise ValueError(f"two different models are named {name}")
        _TYPES[name] = definition
    return schema


def components() -> dict[str, Any]:
    """Return the schemas of every model passed to ``ref`` so far."""
    return dict(sorted(_TYPES.items()))


def query_params(type_: type[msgspec.Struct]) -> list[dict[str, Any]]:
    """Return the OpenAPI query parameters of a Struct: one per field, as described there.

    A field without a default is required; a default of "" or None means absent
    (no filter), so it is not written as a default.
    """
    (_,), defs = msgspec.json.schema_components([type_])
    schema = defs[type_.__name__]
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        branches = [b for b in prop.pop("anyOf", ()) if b.get("type") != "null"]
        if branches:  # `X | None`: a parameter is absent, never null
            (prop,) = [{**branches[0], **prop}]
        if prop.get("default", 0) in ("", None):
            del prop["default"]
        params.append(spec.query_param(name, prop, description, required=name in required))
    return params
