from __future__ import annotations

import pytest

from ccbridge.proxy.pricing import (
    ZERO_COST,
    Cost,
    compute_cost,
    lookup_price,
    price_request,
    resolve_multiplier,
)
from ccbridge.store.snapshot import Price, PriceMultiplier, PriceTable
from tests.unit.proxy.helpers import make_channel

SONNET = Price(3.0, 15.0, cache_creation_price=3.75, cache_read_price=0.3)
GPT = Price(1.25, 10.0)
TABLE = PriceTable(
    {
        "claude": Price(1.0, 1.0),
        "claude-sonnet": Price(2.0, 2.0),
        "claude-sonnet-4-5": SONNET,
        "Claude-Opus": Price(5.0, 25.0),
        "gpt-5.1": GPT,
    }
)


@pytest.mark.parametrize(
    ("model", "expected_id"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-3-7", "claude-sonnet"),
        ("claude-haiku", "claude"),
        ("CLAUDE-OPUS-4-1", "Claude-Opus"),
        ("CLAUDE-SONNET-4-5-X", "claude-sonnet-4-5"),
        # The case-sensitive prefix stage runs before the case-insensitive one.
        ("claude-opus-4", "claude"),
        ("gpt-5.1-codex", "gpt-5.1"),
        ("o3", None),
        ("", None),
    ],
)
def test_lookup_price_is_longest_prefix(model: str, expected_id: str | None) -> None:
    hit = lookup_price(TABLE, model)
    assert (hit[0] if hit else None) == expected_id


def test_cost_per_class_with_explicit_prices() -> None:
    cost = compute_cost(
        SONNET,
        input_tokens=1_000,
        output_tokens=500,
        cache_creation_tokens=2_000,
        cache_read_tokens=10_000,
    )
    assert cost.input == pytest.approx(0.003)
    assert cost.output == pytest.approx(0.0075)
    assert cost.cache_creation == pytest.approx(0.0075)
    assert cost.cache_read == pytest.approx(0.003)
    assert cost.total == pytest.approx(0.021)


def test_cost_defaults_cache_prices_from_input() -> None:
    cost = compute_cost(
        GPT,
        input_tokens=2_000,
        output_tokens=1_000,
        cache_creation_tokens=1_000,
        cache_read_tokens=4_000,
    )
    # 1.25 x 1.25 = 1.5625 per M for writes, 1.25 x 0.1 = 0.125 per M for reads.
    assert cost == Cost(
        input=pytest.approx(0.0025),
        output=pytest.approx(0.01),
        cache_creation=pytest.approx(0.0015625),
        cache_read=pytest.approx(0.0005),
    )
    assert cost.total == pytest.approx(0.0145625)


def test_explicit_zero_cache_price_is_free() -> None:
    free = Price(3.0, 15.0, cache_creation_price=0.0, cache_read_price=0.0)
    cost = compute_cost(free, cache_creation_tokens=1_000_000, cache_read_tokens=1_000_000)
    assert cost.total == 0.0
    assert compute_cost(None, input_tokens=10) is ZERO_COST


def test_multiplier_specific_times_default() -> None:
    ch = make_channel(
        "a",
        price_multipliers={
            "_default": PriceMultiplier(input=2.0, output=0.0),
            "claude-sonnet": PriceMultiplier(input=0.5, output=3.0, cache_read=4.0),
            "claude-sonnet-4": PriceMultiplier(input=10.0),
        },
    )
    # Longest prefix key "claude-sonnet-4" applies, times _default (0 counts as 1).
    assert resolve_multiplier(ch, "claude-sonnet-4-5") == PriceMultiplier(20.0, 1.0, 1.0, 1.0)
    assert resolve_multiplier(ch, "claude-sonnet-3") == PriceMultiplier(1.0, 3.0, 1.0, 4.0)
    assert resolve_multiplier(ch, "gpt-5") == PriceMultiplier(2.0, 1.0, 1.0, 1.0)
    # Exact key beats a longer prefix key.
    exact = make_channel(
        "b",
        price_multipliers={
            "claude": PriceMultiplier(input=7.0),
            "cl": PriceMultiplier(input=9.0),
        },
    )
    assert resolve_multiplier(exact, "claude").input == 7.0
    assert resolve_multiplier(None, "x", fast=True) == PriceMultiplier(2.0, 2.0, 2.0, 2.0)


def test_price_request_fast_mode_and_multipliers() -> None:
    ch = make_channel("a", price_multipliers={"_default": PriceMultiplier(input=1.5)})
    priced = price_request(
        TABLE,
        ch,
        requested_model="claude-sonnet-4-5",
        input_tokens=1_000_000,
        output_tokens=100_000,
        fast=True,
    )
    # input: 1M x $3 x 1.5 x 2 = $9; output: 0.1M x $15 x 2 = $3.
    assert priced.cost.input == pytest.approx(9.0)
    assert priced.cost.output == pytest.approx(3.0)
    assert priced.cost.total == pytest.approx(12.0)
    assert priced.priced_model == "claude-sonnet-4-5"
    assert not priced.priced_by_target_model


def test_price_request_prefers_priced_response_model() -> None:
    by_target = price_request(
        TABLE,
        None,
        requested_model="my-alias",
        response_model="gpt-5.1-codex",
        input_tokens=1_000_000,
    )
    assert by_target.priced_model == "gpt-5.1-codex"
    assert by_target.priced_by_target_model
    assert by_target.cost.input == pytest.approx(1.25)

    unpriced_target = price_request(
        TABLE, None, requested_model="claude-sonnet-4-5", response_model="mystery-1"
    )
    assert unpriced_target.priced_model == "claude-sonnet-4-5"
    assert not unpriced_target.priced_by_target_model
    assert unpriced_target.has_price

    none = price_request(TABLE, None, requested_model="o3", input_tokens=5)
    assert not none.has_price and none.cost.total == 0.0
