"""Per-channel model redirect (exact, suffix-aware, longest substring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ccbridge.store.snapshot import Channel, sorted_mapping_sources

__all__ = (
    "apply_model_suffix",
    "redirect_channel_model",
    "redirect_model",
    "split_model_suffix",
)


def split_model_suffix(model: str) -> tuple[str, str, bool]:
    """Split ``base(suffix)`` into its parts.

    Returns:
        ``(base, suffix, True)`` when the model ends with a single
        parenthesised segment after a non-empty base, else
        ``(model, "", False)``.
    """
    model = model.strip()
    if len(model) < 2 or not model.endswith(")"):
        return model, "", False
    open_at = model.rfind("(")
    if open_at <= 0:
        return model, "", False
    inner = model[open_at + 1 : -1]
    if "(" in inner or ")" in inner:
        return model, "", False
    return model[:open_at], inner, True


def apply_model_suffix(target: str, suffix: str) -> str:
    """Append ``(suffix)`` unless the target already carries one."""
    suffix = suffix.strip()
    if not suffix or not target or split_model_suffix(target)[2]:
        return target
    return f"{target}({suffix})"


def redirect_model(
    model: str, mapping: Mapping[str, str], sources: Sequence[str] | None = None
) -> str:
    """Return the upstream model for ``model`` under ``mapping``.

    Order: exact key; then the suffix-less base as exact key (the suffix is
    carried over); then the first source, longest first, that contains or
    is contained in the (base) model. Unmatched models pass unchanged.

    Args:
        model: The client's model name, possibly ``base(suffix)``.
        mapping: Source model -> target model.
        sources: ``mapping`` keys pre-sorted by :func:`sorted_mapping_sources`;
            computed here when omitted.
    """
    if not mapping or not model:
        return model
    exact = mapping.get(model)
    if exact is not None:
        return exact
    base, suffix, has_suffix = split_model_suffix(model)
    if has_suffix:
        target = mapping.get(base)
        if target is not None:
            return apply_model_suffix(target, suffix)
    probe = base if has_suffix else model
    for source in sources if sources is not None else sorted_mapping_sources(mapping):
        if source in probe or probe in source:
            return apply_model_suffix(mapping[source], suffix)
    return model


def redirect_channel_model(channel: Channel, model: str) -> str:
    """Return ``model`` redirected by the channel's precomputed mapping."""
    return redirect_model(model, channel.model_mapping, channel.mapping_sources)
