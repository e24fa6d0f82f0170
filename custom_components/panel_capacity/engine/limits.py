"""The effective limits: the minimum of named terms, never above what the conductors carry."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .model import LimitSnapshot
from .terms import ENGINE_TERMS, TERM_LARGEST_STEP, TERM_PANEL

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .config import ControlSettings, PanelConfig


def effective_limit(
    panel: PanelConfig, settings: ControlSettings, extra_terms: Mapping[str, float]
) -> LimitSnapshot:
    """The root's total: the panel's own terms with the caller's (user cap, grid terms).

    The panel term (rating x continuous factor) is always present, so the result
    can never exceed it. When one unmanaged load can switch on by
    ``largest_step_w`` at once, the limit also stays that far below the full
    rating, so the step alone cannot take the panel past 100 %. Invalid extra
    terms (not finite, negative, or posing as an engine term) are left out and
    reported.
    """
    terms: dict[str, float] = {TERM_PANEL: panel.continuous_limit_w}
    if settings.largest_step_w > 0:
        terms[TERM_LARGEST_STEP] = max(0.0, panel.rating_w - settings.largest_step_w)
    rejected: list[str] = []
    for name, value in extra_terms.items():
        if name in ENGINE_TERMS or not math.isfinite(value) or value < 0:
            rejected.append(name)
        else:
            terms[name] = float(value)
    binding = min(terms, key=terms.__getitem__)
    return LimitSnapshot(effective_w=terms[binding], binding=binding, terms=terms, rejected=tuple(rejected))


def effective_export_limit(terms: Mapping[str, float]) -> LimitSnapshot | None:
    """The export limit: the smallest of the named terms, None when there is no valid one.

    Terms are caps on export in W. Invalid ones (not finite, negative) are left
    out and reported, as for the import limit; with no valid term left there is
    no export limit at all.
    """
    valid: dict[str, float] = {}
    rejected: list[str] = []
    for name, value in terms.items():
        if not math.isfinite(value) or value < 0:
            rejected.append(name)
        else:
            valid[name] = float(value)
    if not valid:
        return None
    binding = min(valid, key=valid.__getitem__)
    return LimitSnapshot(effective_w=valid[binding], binding=binding, terms=valid, rejected=tuple(rejected))
