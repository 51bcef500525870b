"""Composite channels: a messages-pool channel that routes by model family (spec §3.4).

A composite holds no keys or URL, only mappings ``haiku|sonnet|opus`` ->
a target channel (of the messages pool, or a Responses-API channel of the
responses pool), its failover targets and an optional target model. The
first mapping whose pattern is a case-insensitive substring of the model
wins; with a single channel in the pool the reference matches exactly,
then by the longest case-sensitive substring, and tries the primary target
only. Once a request is routed through a composite, only its chain is
tried.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ccbridge.store.snapshot import Channel, CompositeMapping, Snapshot

__all__ = ("CompositeRoute", "composite_route")


@dataclass(frozen=True, slots=True)
class CompositeRoute:
    """Where a composite sends one request.

    Attributes:
        composite: The composite channel.
        targets: The channels to try, primary first (usable ones only).
        model: The model the targets are asked for (``targetModel`` or the client's).
    """

    composite: Channel
    targets: tuple[Channel, ...]
    model: str


def composite_route(
    composite: Channel, model: str, snapshot: Snapshot, *, single: bool = False
) -> CompositeRoute | None:
    """Return the route of ``model`` through ``composite``, or None when no mapping matches."""
    mapping = _select(composite.composite_mappings, model, single)
    if mapping is None:
        return None
    refs = _references(mapping, snapshot)
    if single:
        refs = _take(refs, 1)
    targets = tuple(_usable(refs, snapshot))
    return CompositeRoute(composite, targets, mapping.target_model or model)


def _select(
    mappings: Sequence[CompositeMapping], model: str, single: bool
) -> CompositeMapping | None:
    if single:
        exact = next((m for m in mappings if m.pattern == model), None)
        if exact is not None:
            return exact
        hits = [m for m in mappings if m.pattern and m.pattern in model]
        return max(hits, key=lambda m: len(m.pattern), default=None)
    lowered = model.lower()
    return next((m for m in mappings if m.pattern and m.pattern.lower() in lowered), None)


def _references(mapping: CompositeMapping, snapshot: Snapshot) -> Iterator[tuple[str, str]]:
    """Yield (pool, uid) of the primary target, then of each failover target."""
    primary = mapping.target_channel_id
    if not primary and mapping.target_channel is not None:  # a legacy position
        pool = snapshot.pool(mapping.target_pool)
        if 0 <= mapping.target_channel < len(pool):
            primary = pool[mapping.target_channel].uid
    if primary:
        yield mapping.target_pool, primary
    for target in mapping.failover_targets:
        yield target.pool, target.channel_id
    for uid in mapping.failover_chain:  # legacy: ids in the primary's pool
        yield mapping.target_pool, uid


def _take(refs: Iterable[tuple[str, str]], count: int) -> Iterator[tuple[str, str]]:
    for n, ref in enumerate(refs):
        if n >= count:
            return
        yield ref


def _usable(refs: Iterable[tuple[str, str]], snapshot: Snapshot) -> Iterator[Channel]:
    seen: set[str] = set()
    for pool, uid in refs:
        channel = snapshot.channels_by_uid.get(uid)
        if channel is None or channel.pool != pool or uid in seen:
            continue
        seen.add(uid)
        if not channel.is_composite and not channel.is_disabled:
            yield channel
