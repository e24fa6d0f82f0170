"""The simulator: the capacity engine over recorded house load, against three baselines.

Plain Python, no Home Assistant imports, like the engine it drives.
"""

from .run import Report, run_scenario
from .scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from .simulator import Prepared, simulate

__all__ = [
    "Prepared",
    "Report",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "run_scenario",
    "simulate",
]
