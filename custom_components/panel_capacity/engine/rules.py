"""What a valid panel, tuning and load look like: ranges and rules, in plain Python.

The config flow's forms and the engine's own checks share these. Each rule
takes plain numbers or strings and returns the translation key of what is
wrong (the key the form shows under its field), or None when all is well.
Rules that need Home Assistant (does an entity exist, can it be switched)
stay with the flows.

This module imports only the standard library, not even the rest of the
engine, so any engine module may import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

# What a panel's nameplate can plausibly say: (lowest, highest).
RATING_RANGE: Final = (1.0, 2000.0)  # A
VOLTAGE_RANGE: Final = (90.0, 480.0)  # V
CONTINUOUS_RANGE: Final = (50.0, 100.0)  # %
# Above this a three-phase voltage must be line-to-line (400 V, 208 V), not
# the line-to-neutral voltage a three-phase panel is described by.
MAX_LINE_TO_NEUTRAL_V: Final = 277
# The value of Supply.THREE_PHASE, the one supply the voltage rule is about.
THREE_PHASE: Final = "three_phase"

SECONDS_DAY: Final = 86400
# Tuning of the control loop.
TUNING_POWER_RANGE_W: Final = (0, 100000)  # margin, hysteresis, largest unmanaged step
RESTORE_HOLDOFF_RANGE_S: Final = (0, 3600)
RESPONSE_RANGE_S: Final = (1, 600)
MAX_STALENESS_S: Final = 3600  # the lowest is twice the watchdog's interval
MANUAL_HOLD_RANGE_S: Final = (0, SECONDS_DAY)
# Loads.
NOMINAL_RANGE_W: Final = (1, 100000)  # an on/off load's draw
LEVEL_RANGE: Final = (0, 100000)  # a modulated load's min, max and step, in its unit (A, W, kW)
MIN_ON_OFF_RANGE_S: Final = (0, SECONDS_DAY)
# The grid.
GRID_POWER_RANGE_KW: Final = (0, 10000)  # subscription, export and emergency limits
POLL_INTERVAL_RANGE_S: Final = (10, 3600)


def range_error(value: float, bounds: tuple[float, float], name: str) -> str | None:
    """A form's number must be within its bounds, and a number (NaN is in no range).

    ``name`` names the range; its error is ``<name>_out_of_range``.
    """
    low, high = bounds
    if not low <= value <= high:
        return f"{name}_out_of_range"
    return None


def name_error(name: str) -> str | None:
    """A panel or load needs a name that is more than white space."""
    if not name.strip():
        return "name_required"
    return None


def panel_voltage_error(supply: str, voltage_v: float) -> str | None:
    """A three-phase panel is given its line-to-neutral voltage (230 V, or 120 V for 208Y/120).

    ``supply`` is a Supply value ("single_phase", "split_phase", "three_phase").
    """
    if supply == THREE_PHASE and voltage_v > MAX_LINE_TO_NEUTRAL_V:
        return "voltage_line_to_neutral"
    return None


def thresholds_error(margin_w: float, hysteresis_w: float, continuous_limit_w: float) -> str | None:
    """The margin and hysteresis together must leave room under the panel's continuous limit."""
    if margin_w + hysteresis_w >= continuous_limit_w:
        return "thresholds_too_wide"
    return None


def largest_step_error(largest_step_w: float, rating_w: float) -> str | None:
    """The largest unmanaged step must be smaller than the panel's full rating."""
    if largest_step_w >= rating_w:
        return "step_above_rating"
    return None


def response_error(response_s: float, staleness_s: float) -> str | None:
    """An actuator's response time must be shorter than the time after which a reading is stale."""
    if response_s >= staleness_s:
        return "response_above_staleness"
    return None


def modulated_range_error(low: float, high: float) -> str | None:
    """A modulated load's maximum must be positive and not below its minimum."""
    if high <= 0 or low > high:
        return "min_above_max"
    return None


def modulated_step_error(low: float, high: float, step: float) -> str | None:
    """A modulated load's step must fit in its range (when the range is more than one level)."""
    if step > high - low and high > low:
        return "step_too_large"
    return None


def entity_min_error(low: float, entity_min: float | None) -> str | None:
    """A modulated load's minimum cannot be below the lowest its entity takes (None: not known)."""
    if entity_min is not None and low < entity_min:
        return "below_entity_min"
    return None


def entity_max_error(high: float, entity_max: float | None) -> str | None:
    """A modulated load's maximum cannot be above the highest its entity takes (None: not known)."""
    if entity_max is not None and high > entity_max:
        return "above_entity_max"
    return None


def allow_off_error(allow_off: bool, entity_min: float | None) -> str | None:
    """A modulated load may be turned off only when its entity can be set to 0 (None: not known)."""
    if allow_off and entity_min is not None and entity_min > 0:
        return "cannot_turn_off"
    return None


def load_rating_error(max_w: float, rating_w: float) -> str | None:
    """A load's highest draw cannot be more than the panel's full rating."""
    if max_w > rating_w:
        return "above_panel_rating"
    return None


# ------------------------------------------------------------------ the tree
#
# Nodes (subpanels, circuits) and loads name conductors by their values ("l1",
# "l2", "l3") and nodes by their ids, the panel itself being ``root``.


def conductors_error(chosen: Collection[str], available: Collection[str]) -> str | None:
    """A node's or load's conductors must be distinct ones of its parent's (or node's); none: all of them."""
    if len(set(chosen)) != len(chosen) or not set(chosen) <= set(available):
        return "conductors_unavailable"
    return None


def parent_error(node_id: str | None, parent_id: str, parent_of: Mapping[str, str], root: str) -> str | None:
    """A node hangs on the panel or on another node that exists, and is never its own ancestor.

    ``parent_of`` maps every other node's id to its parent's; ``node_id`` is
    the node being placed (None for a new one, which has no descendants).
    """
    seen: set[str] = set()
    current = parent_id
    while current != root:
        if current == node_id or current in seen:
            return "own_ancestor"
        if current not in parent_of:
            return "parent_not_found"
        seen.add(current)
        current = parent_of[current]
    return None


def node_cap_error(cap_a: float | None, rating_a: float) -> str | None:
    """A node's cap lowers its limit: it cannot be above its rating (None: no cap)."""
    if cap_a is not None and cap_a > rating_a:
        return "cap_above_rating"
    return None


def meter_error(
    has_total: bool, measured: Collection[str], conductors: Collection[str], *, required: bool = False
) -> str | None:
    """What a meter must measure: a total, or every conductor (whose sum is then the total).

    Per-conductor sensors without a total must cover every conductor. A panel
    (``required``) needs a meter; a node may have none (it is then estimated).
    """
    if has_total:
        return None
    if not measured:
        return "meter_required" if required else None
    if not set(conductors) <= set(measured):
        return "meter_incomplete"
    return None
