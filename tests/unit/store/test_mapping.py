from __future__ import annotations

import pytest

from ccbridge.store.mapping import (
    apply_model_suffix,
    redirect_channel_model,
    redirect_model,
    split_model_suffix,
)
from tests.unit.proxy.helpers import make_channel


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-5.2(high)", ("gpt-5.2", "high", True)),
        ("gpt-5.2()", ("gpt-5.2", "", True)),
        ("gpt-5.2", ("gpt-5.2", "", False)),
        ("(high)", ("(high)", "", False)),
        ("a(b(c))", ("a(b(c))", "", False)),
        (" o3(xhigh) ", ("o3", "xhigh", True)),
    ],
)
def test_split_model_suffix(model: str, expected: tuple[str, str, bool]) -> None:
    assert split_model_suffix(model) == expected


def test_apply_model_suffix_keeps_existing_suffix() -> None:
    assert apply_model_suffix("gpt-5.2", "high") == "gpt-5.2(high)"
    assert apply_model_suffix("gpt-5.2(low)", "high") == "gpt-5.2(low)"
    assert apply_model_suffix("gpt-5.2", " ") == "gpt-5.2"


@pytest.mark.parametrize(
    ("mapping", "model", "expected"),
    [
        ({"gpt-5.2": "gpt-5.2"}, "gpt-5.2(high)", "gpt-5.2(high)"),
        ({"o3": "gpt-5.2"}, "o3(xhigh)", "gpt-5.2(xhigh)"),
        ({"o3(xhigh)": "gpt-5.2"}, "o3(xhigh)", "gpt-5.2"),
        ({"o3": "gpt-5.2(high)"}, "o3(xhigh)", "gpt-5.2(high)"),
        ({"o3": "gpt-5.2"}, "o3(wild)", "gpt-5.2(wild)"),
        # Longest source wins regardless of insertion order.
        ({"codex": "A", "gpt-5.1-codex": "B"}, "gpt-5.1-codex-max", "B"),
        ({"gpt-5.1-codex": "B", "codex": "A"}, "my-codex", "A"),
        # A source containing the model matches too.
        ({"claude-sonnet-4-5-20250929": "S"}, "sonnet-4-5", "S"),
        # Suffix carried over on a fuzzy match.
        ({"sonnet": "glm-4.6"}, "claude-sonnet-4(high)", "glm-4.6(high)"),
        ({"opus": "x"}, "haiku", "haiku"),
        ({"": "everything"}, "haiku", "haiku"),
        ({}, "haiku", "haiku"),
    ],
)
def test_redirect_model(mapping: dict[str, str], model: str, expected: str) -> None:
    assert redirect_model(model, mapping) == expected


def test_equal_length_sources_tie_break_by_name() -> None:
    mapping = {"bb": "second", "aa": "first"}
    assert redirect_model("aabb", mapping) == "first"


def test_redirect_channel_model_uses_precomputed_sources() -> None:
    ch = make_channel("a", model_mapping={"haiku": "h", "claude-haiku": "ch"})
    assert ch.mapping_sources == ("claude-haiku", "haiku")
    assert redirect_channel_model(ch, "claude-haiku-4-5") == "ch"
    assert redirect_channel_model(ch, "") == ""
