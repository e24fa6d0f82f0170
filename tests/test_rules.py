"""The validation rules the forms and the engine share: each at its boundary."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from custom_components.panel_capacity.engine import Supply, rules


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
    assert imported <= {"__future__", "typing"}


@pytest.mark.parametrize(
    ("rule", "arguments", "error"),
    [
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
    ],
)
def test_rule(rule: Callable[..., str | None], arguments: tuple[object, ...], error: str | None) -> None:
    assert rule(*arguments) == error
