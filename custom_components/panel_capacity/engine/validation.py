"""Validation: the engine refuses a configuration it cannot run safely.

The numeric rules live in ``rules``, shared with the configuration forms, so
the engine never accepts what a form refuses, or the reverse.
"""

from __future__ import annotations

from dataclasses import fields
import math
from typing import TYPE_CHECKING

from . import rules
from .config import ROOT, LoadKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .config import ControlSettings, LoadConfig, NodeConfig, PanelConfig


class ConfigError(ValueError):
    """The engine was given a configuration it cannot run safely."""


def _finite(*values: float) -> bool:
    return all(math.isfinite(value) for value in values)


def _within(value: float, bounds: tuple[float, float], what: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(f"{what} must be from {low:g} to {high:g}, not {value:g}")


def _refuse(error: str | None, what: str) -> None:
    """Raise for a rule broken (its key names the rule, as the forms show it)."""
    if error is not None:
        raise ConfigError(f"{what}: {error.replace('_', ' ')}")


def validate(
    panel: PanelConfig,
    settings: ControlSettings,
    loads: Sequence[LoadConfig],
    nodes: Sequence[NodeConfig] = (),
) -> None:
    """Raise ConfigError when the configuration is unsafe or inconsistent."""
    if not _finite(panel.rating_a, panel.voltage_v, panel.continuous_factor):
        raise ConfigError("panel values must be finite")
    _within(panel.rating_a, rules.RATING_RANGE, "panel rating (A)")
    _within(panel.voltage_v, rules.VOLTAGE_RANGE, "panel voltage (V)")
    _within(100 * panel.continuous_factor, rules.CONTINUOUS_RANGE, "continuous factor (%)")
    _refuse(rules.panel_voltage_error(panel.supply.value, panel.voltage_v), "panel voltage")
    for setting in fields(settings):
        number = getattr(settings, setting.name)
        if isinstance(number, bool):
            continue
        if not math.isfinite(number) or number < 0:
            raise ConfigError(f"{setting.name} must be a finite, non-negative number")
    _refuse(
        rules.thresholds_error(settings.margin_w, settings.hysteresis_w, panel.continuous_limit_w),
        "margin and hysteresis",
    )
    _refuse(rules.largest_step_error(settings.largest_step_w, panel.rating_w), "largest step")
    conductors = _validate_nodes(panel, nodes)
    seen: set[str] = set()
    for load in loads:
        if load.load_id in seen:
            raise ConfigError(f"duplicate load {load.load_id}")
        seen.add(load.load_id)
        _validate_load(load)
        _refuse(rules.load_rating_error(load.expected_w, panel.rating_w), f"load {load.load_id}")
        node_conductors = conductors.get(load.node_id)
        if node_conductors is None:
            raise ConfigError(f"load {load.load_id}: no node {load.node_id}")
        if rules.conductors_error(load.conductors, node_conductors):
            raise ConfigError(f"load {load.load_id}: conductors must be distinct ones of its node's")


def _validate_nodes(panel: PanelConfig, nodes: Sequence[NodeConfig]) -> dict[str, tuple[str, ...]]:
    """Check the tree; return each node's conductors (its own, or its parent's)."""
    parent_of: dict[str, str] = {}
    for node in nodes:
        if node.node_id == ROOT or node.node_id in parent_of:
            raise ConfigError(f"duplicate node {node.node_id}")
        parent_of[node.node_id] = node.parent_id
        _validate_node(node)
    for node in nodes:
        error = rules.parent_error(node.node_id, node.parent_id, parent_of, ROOT)
        if error == "parent_not_found":
            raise ConfigError(f"node {node.node_id}: no parent {node.parent_id}")
        if error:
            raise ConfigError(f"node {node.node_id}: its parents form a loop")
    conductors: dict[str, tuple[str, ...]] = {ROOT: tuple(panel.conductors)}
    waiting = list(nodes)
    while waiting:  # every parent before its children (the tree has no loop)
        for node in [node for node in waiting if node.parent_id in conductors]:
            parent = conductors[node.parent_id]
            if rules.conductors_error(node.conductors, parent):
                raise ConfigError(f"node {node.node_id}: conductors must be distinct ones of its parent's")
            conductors[node.node_id] = tuple(node.conductors) or parent
            waiting.remove(node)
    return conductors


def _validate_node(node: NodeConfig) -> None:
    """The ranges and rules a node's form keeps to."""
    where = f"node {node.node_id}"
    if not _finite(node.rating_a, node.continuous_factor):
        raise ConfigError(f"{where}: rating and continuous factor must be finite")
    _within(node.rating_a, rules.RATING_RANGE, f"{where} rating (A)")
    _within(100 * node.continuous_factor, rules.CONTINUOUS_RANGE, f"{where} continuous factor (%)")
    if node.cap_a is not None and (not math.isfinite(node.cap_a) or node.cap_a < 0):
        raise ConfigError(f"{where}: cap must be finite and non-negative")
    _refuse(rules.node_cap_error(node.cap_a, node.rating_a), where)


def _validate_load(load: LoadConfig) -> None:
    numbers = (load.nominal_w, load.min_w, load.max_w, load.step_w, load.ramp_w)
    if not _finite(*numbers, load.min_on_s, load.min_off_s) or min(numbers) < 0:
        raise ConfigError(f"load {load.load_id}: values must be finite and non-negative")
    if load.kind is LoadKind.MODULATED:
        where = f"load {load.load_id}"
        _refuse(rules.modulated_range_error(load.min_w, load.max_w), where)
        _refuse(rules.modulated_step_error(load.min_w, load.max_w, load.step_w), where)
        if 0 < load.ramp_w < load.step_w:
            raise ConfigError(f"load {load.load_id}: a ramp smaller than the step could never raise it")
    elif load.export:
        raise ConfigError(f"load {load.load_id}: an export actuator must be modulated")
