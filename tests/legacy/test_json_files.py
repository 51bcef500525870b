"""pricing.json, model-aliases.json and quota_usage.json → rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ccbridge.legacy.aliases_json import parse_aliases
from ccbridge.legacy.channel_map import ChannelMap, ChannelRef
from ccbridge.legacy.errors import LegacyImportError
from ccbridge.legacy.pricing_json import parse_pricing
from ccbridge.legacy.usage_json import parse_usage
from tests.legacy.legacy_files import FIXTURES

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = ChannelMap(
    {
        "messages": (ChannelRef("m0", "A"), ChannelRef("m1", "B")),
        "responses": (ChannelRef("r0", "R"),),
        "gemini": (ChannelRef("g0", "G"),),
    }
)


def test_pricing_fixture() -> None:
    result = parse_pricing((FIXTURES / "pricing.json").read_bytes(), now=NOW)
    rows = {m.model_id: m for m in result.models}
    assert list(rows) == [
        "claude-haiku-4-5",
        "claude-opus-4-5",
        "gpt-5.1-codex",
        "gemini-3-pro",
        "internal-eval",
    ]  # file order
    haiku, opus, gpt = rows["claude-haiku-4-5"], rows["claude-opus-4-5"], rows["gpt-5.1-codex"]
    assert (haiku.input_price, haiku.output_price) == (1.0, 5.0)
    assert (haiku.cache_creation_price, haiku.cache_read_price) == (1.25, 0.1)
    assert opus.cache_read_price == 0.0  # explicit 0: free, not "use the default"
    assert (gpt.cache_creation_price, gpt.cache_read_price) == (None, None)  # null
    gemini, internal = rows["gemini-3-pro"], rows["internal-eval"]
    assert (gemini.cache_creation_price, gemini.cache_read_price) == (None, None)  # absent
    assert (internal.cache_creation_price, internal.cache_read_price) == (None, 0.05)
    # exportToModels absent or true: listed; false: not.
    assert [m.export_to_models for m in result.models] == [True, True, True, False, False]
    assert haiku.description == "Claude Haiku 4.5"
    assert gemini.description is None and internal.description is None
    assert all(m.updated_at == NOW for m in result.models)
    assert result.currency is not None
    assert (result.currency.key, result.currency.value, result.currency.category) == (
        "pricing_currency",
        "USD",
        "pricing",
    )


def test_pricing_export_flag_and_errors() -> None:
    data = {"models": {"m": {"inputPrice": 1, "outputPrice": 2, "exportToModels": False}}}
    assert parse_pricing(json.dumps(data).encode()).models[0].export_to_models is False
    assert parse_pricing(b"{}").currency is None
    bad = {"models": {"m": {"inputPrice": "1"}}}
    with pytest.raises(LegacyImportError, match=r"pricing.json: \$.models.m.inputPrice: expected"):
        parse_pricing(json.dumps(bad).encode())


def test_aliases_fixture() -> None:
    rows = parse_aliases((FIXTURES / "model-aliases.json").read_bytes(), now=NOW)
    assert [(r.alias_type, r.value, r.description, r.sort_order) for r in rows] == [
        ("messages", "opus", "Claude Opus", 0),
        ("messages", "sonnet", "Claude Sonnet", 1),
        ("messages", "haiku", None, 2),
        ("responses", "codex", "Codex", 0),
        ("responses", "gpt-5.1-codex", None, 1),
        ("gemini", "gemini-3-flash", "Gemini 3 Flash", 0),
        ("gemini", "gemini-3-pro", "Gemini 3 Pro", 1),
    ]
    assert all(r.id is None and r.updated_at == NOW for r in rows)


def test_aliases_errors() -> None:
    with pytest.raises(LegacyImportError) as info:
        parse_aliases(b'{"geminiModels": [{"value": "x"}, {"description": "no value"}]}')
    assert str(info.value) == (
        "model-aliases.json: $.geminiModels[1].value: expected a non-empty string"
    )


def test_usage_maps_positions_to_stable_ids() -> None:
    data = {
        "messages": {"1": {"used": 12.5, "lastResetAt": "2025-01-01T08:00:00+08:00"}, "5": {}},
        "responses": {"0": {"used": 3}},
        "gemini": {},
    }
    result = parse_usage(json.dumps(data).encode(), CHANNELS, now=NOW)
    assert [(r.channel_uid, r.channel_type, r.channel_id, r.used) for r in result.rows] == [
        ("m1", "messages", 1, 12.5),
        ("r0", "responses", 0, 3.0),
    ]
    assert result.rows[0].last_reset_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert result.unmapped == ("$.messages.5",)


def test_usage_fixture_every_pool() -> None:
    result = parse_usage((FIXTURES / "quota_usage.json").read_bytes(), CHANNELS, now=NOW)
    assert [(r.channel_uid, r.channel_type, r.channel_id, r.used) for r in result.rows] == [
        ("m1", "messages", 1, 12.5),
        ("r0", "responses", 0, 2.0),
        ("g0", "gemini", 0, 0.75),
    ]
    assert [r.last_reset_at for r in result.rows] == [
        datetime(2025, 1, 1, tzinfo=UTC),
        None,
        datetime(2025, 2, 1, tzinfo=UTC),
    ]
    assert result.unmapped == ("$.messages.9",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"messages": {"x": {}}}, "$.messages.x: expected a channel position as the key"),
        ({"claude": {}}, "$.claude: expected a pool name"),
        ({"messages": {"0": {"used": "1"}}}, "$.messages.0.used: expected a number"),
    ],
)
def test_usage_errors(data: object, message: str) -> None:
    with pytest.raises(LegacyImportError) as info:
        parse_usage(json.dumps(data).encode(), CHANNELS)
    assert str(info.value).startswith(f"quota_usage.json: {message}")
