"""The request path's JSON reader, and the exact rewrite of a mapped model."""

from __future__ import annotations

import json

import pytest

from ccbridge.proxy import jsonread
from ccbridge.proxy.adapters import _with_model


@pytest.mark.parametrize(
    "text",
    [
        b'{"model": "m", "max_tokens": 5, "stream": true, "x": null}',
        b'{"t": NaN, "u": -Infinity}',  # not JSON, but the stdlib (and so the reference) takes it
        b'{"s": "\\ud800"}',  # a lone surrogate
        '{"caf\u00e9": [1, 2.5, "\u2603"]}'.encode(),
    ],
)
def test_same_value_as_the_stdlib(text: bytes) -> None:
    assert json.dumps(jsonread.loads(text)) == json.dumps(json.loads(text))


@pytest.mark.parametrize("text", [b"", b"{", b'{"a": 1,}', b"\xff\xfe"])
def test_invalid_json_raises_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        jsonread.loads(text)


def test_a_mapped_model_keeps_every_other_value_exact() -> None:
    body = b'{"model": "a", "seed": 123456789012345678901234567890, "t": 0.1}'
    rewritten = json.loads(_with_model(body, "b"))
    assert rewritten == {"model": "b", "seed": 123456789012345678901234567890, "t": 0.1}
