"""Deterministic price lookup and per-class request cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ccbridge.store.snapshot import Channel, Price, PriceMultiplier, PriceTable

__all__ = (
    "ZERO_COST",
    "Cost",
    "PricedCost",
    "compute_cost",
    "lookup_price",
    "price_request",
    "resolve_multiplier",
)

_PER_MILLION: Final = 1_000_000.0
_DEFAULT_KEY: Final = "_default"


# PERF(proxy): Cost and PricedCost are made per request; a frozen dataclass's __init__
# costs about 4x a plain one.
@dataclass(slots=True)
class Cost:
    """USD cost per token class and in total."""

    input: float = 0.0
    output: float = 0.0
    cache_creation: float = 0.0
    cache_read: float = 0.0

    @property
    def total(self) -> float:
        """Return the sum of the four classes."""
        return self.input + self.output + self.cache_creation + self.cache_read


ZERO_COST: Final = Cost()
_ONE: Final = PriceMultiplier()
_DOUBLE: Final = PriceMultiplier(2.0, 2.0, 2.0, 2.0)


@dataclass(slots=True)
class PricedCost:
    """A cost together with the model it was priced as."""

    cost: Cost
    priced_model: str
    priced_by_target_model: bool
    has_price: bool


def _longest_prefix(
    model: str, table: Mapping[str, object], lengths: tuple[int, ...]
) -> str | None:
    size = len(model)
    for length in lengths:
        if length <= size and model[:length] in table:
            return model[:length]
    return None


def lookup_price(table: PriceTable, model: str) -> tuple[str, Price] | None:
    """Return ``(price id, price)`` for ``model`` or None.

    Exact id first, then the longest id that prefixes the model, then the
    same case-insensitively. Unlike the reference (Go map order), the
    result never depends on iteration order.
    """
    if not model:
        return None
    prices = table.prices
    price = prices.get(model)
    if price is not None:
        return model, price
    hit = _longest_prefix(model, prices, table.id_lengths)
    if hit is not None:
        return hit, prices[hit]
    hit = _longest_prefix(model.lower(), table.lower_ids, table.lower_lengths)
    if hit is not None:
        model_id = table.lower_ids[hit]
        return model_id, prices[model_id]
    return None


def _eff(value: float) -> float:
    return 1.0 if value == 0 else value


def _effective(m: PriceMultiplier) -> PriceMultiplier:
    return PriceMultiplier(
        _eff(m.input), _eff(m.output), _eff(m.cache_creation), _eff(m.cache_read)
    )


def _product(a: PriceMultiplier, b: PriceMultiplier) -> PriceMultiplier:
    return PriceMultiplier(
        a.input * b.input,
        a.output * b.output,
        a.cache_creation * b.cache_creation,
        a.cache_read * b.cache_read,
    )


def _model_multiplier(channel: Channel, model: str) -> PriceMultiplier | None:
    table = channel.price_multipliers
    exact = table.get(model) if model != _DEFAULT_KEY else None
    if exact is not None:
        return exact
    # NOTE(ccbridge): longest prefix key wins, so the choice is deterministic.
    for prefix in channel.multiplier_prefixes:
        if model.startswith(prefix):
            return table[prefix]
    return None


def resolve_multiplier(
    channel: Channel | None, model: str, *, fast: bool = False
) -> PriceMultiplier:
    """Return the effective multipliers of ``channel`` for ``model``.

    A model key (exact, else longest prefix) is multiplied with
    ``_default``; with no model key ``_default`` alone applies. Each 0 counts
    as 1. Fast mode doubles every class.
    """
    if channel is None or not channel.price_multipliers:  # the usual case
        return _DOUBLE if fast else _ONE
    result = _ONE
    default = channel.price_multipliers.get(_DEFAULT_KEY)
    specific = _model_multiplier(channel, model)
    for part in (specific, default):
        if part is not None:
            result = _product(result, _effective(part))
    if fast:
        result = _product(result, _DOUBLE)
    return result


def compute_cost(
    price: Price | None,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_creation_tokens: int = 0,
    cache_read_tokens: int = 0,
    multiplier: PriceMultiplier | None = None,
) -> Cost:
    """Return the USD cost of the token counts at per-million ``price``."""
    if price is None:
        return ZERO_COST
    m = _effective(multiplier) if multiplier is not None else _ONE
    return _cost(price, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, m)


def _cost(
    price: Price,
    input_tokens: int,
    output_tokens: int,
    cache_creation_tokens: int,
    cache_read_tokens: int,
    m: PriceMultiplier,
) -> Cost:
    return Cost(
        input_tokens * price.input_price * m.input / _PER_MILLION,
        output_tokens * price.output_price * m.output / _PER_MILLION,
        cache_creation_tokens * price.effective_cache_creation * m.cache_creation / _PER_MILLION,
        cache_read_tokens * price.effective_cache_read * m.cache_read / _PER_MILLION,
    )


def price_request(
    table: PriceTable,
    channel: Channel | None,
    *,
    requested_model: str,
    response_model: str = "",
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_creation_tokens: int = 0,
    cache_read_tokens: int = 0,
    fast: bool = False,
) -> PricedCost:
    """Price one request the way the request log records it.

    The upstream response model is used when it has a price, else the
    requested model; ``priced_by_target_model`` is set when that choice
    differs from the requested model. No price means zero cost.
    """
    model = requested_model
    hit = None
    if response_model:
        hit = lookup_price(table, response_model)
        if hit is not None:
            model = response_model
    if hit is None:
        hit = lookup_price(table, requested_model)
    if hit is None:
        cost = ZERO_COST
    else:
        # resolve_multiplier's values are effective already (0 read as 1).
        m = resolve_multiplier(channel, model, fast=fast)
        tokens = (input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens)
        cost = _cost(hit[1], *tokens, m)
    return PricedCost(cost, model, model != requested_model, hit is not None)
