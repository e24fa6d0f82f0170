"""The validation rules the forms and the engine share: each at its boundary."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from custom_components.panel_capacity.engine import (
    CapacityEngine,
    ConfigError,
    ControlSettings,
    NodeConfig,
    PanelConfig,
    Supply,
    rules,
)


def test_three_phase_is_the_supply_value() -> None:
    assert rules.THREE_PHASE == Supply.THREE_PHASE


def test_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(rules.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "collections.abc", "typing"}


@pytest.mark.parametrize(
    ("rule", "arguments", "error"),
    [
        (rules.range_error, (1, (1, 2000), "rating"), None),
        (rules.range_error, (2000, (1, 2000), "rating"), None),
        (rules.range_error, (0.99, (1, 2000), "rating"), "rating_out_of_range"),
        (rules.range_error, (2000.5, (1, 2000), "rating"), "rating_out_of_range"),
        (rules.range_error, (float("nan"), (1, 2000), "rating"), "rating_out_of_range"),
        (rules.range_error, (float("inf"), (0, 100), "level"), "level_out_of_range"),
        (rules.name_error, ("House",), None),
        (rules.name_error, (" \t",), "name_required"),
        (rules.panel_voltage_error, ("three_phase", 277), None),
        (rules.panel_voltage_error, ("three_phase", 278), "voltage_line_to_neutral"),
        (rules.panel_voltage_error, ("split_phase", 480), None),
        (rules.thresholds_error, (100, 149.9, 250), None),
        (rules.thresholds_error, (100, 150, 250), "thresholds_too_wide"),
        (rules.largest_step_error, (23999, 24000), None),
        (rules.largest_step_error, (24000, 24000), "step_above_rating"),
        (rules.response_error, (59, 60), None),
        (rules.response_error, (60, 60), "response_above_staleness"),
        (rules.modulated_range_error, (6, 6), None),
        (rules.modulated_range_error, (7, 6), "min_above_max"),
        (rules.modulated_range_error, (0, 0), "min_above_max"),
        (rules.modulated_step_error, (6, 32, 26), None),
        (rules.modulated_step_error, (6, 32, 27), "step_too_large"),
        (rules.modulated_step_error, (6, 6, 1), None),  # one level: any step
        (rules.entity_min_error, (6, None), None),
        (rules.entity_min_error, (5, 6), "below_entity_min"),
        (rules.entity_max_error, (32, 32), None),
        (rules.entity_max_error, (33, 32), "above_entity_max"),
        (rules.allow_off_error, (True, 0), None),
        (rules.allow_off_error, (True, None), None),
        (rules.allow_off_error, (False, 6), None),
        (rules.allow_off_error, (True, 6), "cannot_turn_off"),
        (rules.load_rating_error, (24000, 24000), None),
        (rules.load_rating_error, (24001, 24000), "above_panel_rating"),
        (rules.conductors_error, ((), ("l1", "l2")), None),  # none: all of them
        (rules.conductors_error, (("l2",), ("l1", "l2")), None),
        (rules.conductors_error, (("l3",), ("l1", "l2")), "conductors_unavailable"),
        (rules.conductors_error, (("l1", "l1"), ("l1", "l2")), "conductors_unavailable"),
        (rules.node_cap_error, (None, 60), None),
        (rules.node_cap_error, (60, 60), None),
        (rules.node_cap_error, (60.5, 60), "cap_above_rating"),
        (rules.meter_error, (True, (), ("l1", "l2")), None),
        (rules.meter_error, (False, ("l1", "l2"), ("l1", "l2")), None),
        (rules.meter_error, (False, ("l1",), ("l1", "l2")), "meter_incomplete"),
    ],
)
def test_rule(rule: Callable[..., str | None], arguments: tuple[object, ...], error: str | None) -> None:
    assert rule(*arguments) == error


def test_a_panel_needs_a_meter_and_a_node_does_not() -> None:
    assert rules.meter_error(False, (), ("l1", "l2"), required=True) == "meter_required"
    assert rules.meter_error(False, (), ("l1", "l2"), required=False) is None


@pytest.mark.parametrize(
    ("node", "parent", "error"),
    [
        (None, "main", None),
        (None, "garage", None),  # a new node below another
        ("bench", "garage", None),
        (None, "gone", "parent_not_found"),
        ("garage", "garage", "own_ancestor"),
        ("garage", "bench", "own_ancestor"),  # below its own child
        ("shed", "loop_a", "own_ancestor"),  # above it, a loop
    ],
)
def test_parent_rule(node: str | None, parent: str, error: str | None) -> None:
    parent_of = {"garage": "main", "bench": "garage", "loop_a": "loop_b", "loop_b": "loop_a"}
    assert rules.parent_error(node, parent, parent_of, "main") == error


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (NodeConfig(node_id="garage", rating_a=60, cap_a=61), "cap above rating"),
        (NodeConfig(node_id="garage", rating_a=0.5), "rating"),
        (NodeConfig(node_id="garage", rating_a=60, continuous_factor=0.4), "continuous factor"),
        (NodeConfig(node_id="garage", rating_a=60, parent_id="garage"), "loop"),
    ],
)
def test_the_engine_refuses_what_the_node_form_refuses(node: NodeConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CapacityEngine(PanelConfig(rating_a=100, voltage_v=240), ControlSettings(), [], nodes=[node])
