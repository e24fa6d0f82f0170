"""The capacity engine: plain Python, no Home Assistant.

Time is passed in; measurements and actuator states go in; actions and a
status snapshot come out. Home Assistant's coordinator and the offline
simulator drive the same engine.
"""

from .controller import CapacityEngine, ConfigError
from .limits import effective_export_limit, effective_limit
from .model import (
    TERM_LARGEST_STEP,
    TERM_PANEL,
    TERM_USER_CAP,
    AccountingSnapshot,
    Action,
    ActionKind,
    ActionReason,
    Alert,
    ControllerState,
    ControlSettings,
    LimitSnapshot,
    LoadConfig,
    LoadInput,
    LoadKind,
    LoadReason,
    LoadState,
    LoadStatus,
    PanelConfig,
    QuietBand,
    SiteReading,
    Status,
    StepInput,
    StepResult,
    Supply,
)

__all__ = [
    "TERM_LARGEST_STEP",
    "TERM_PANEL",
    "TERM_USER_CAP",
    "AccountingSnapshot",
    "Action",
    "ActionKind",
    "ActionReason",
    "Alert",
    "CapacityEngine",
    "ConfigError",
    "ControlSettings",
    "ControllerState",
    "LimitSnapshot",
    "LoadConfig",
    "LoadInput",
    "LoadKind",
    "LoadReason",
    "LoadState",
    "LoadStatus",
    "PanelConfig",
    "QuietBand",
    "SiteReading",
    "Status",
    "StepInput",
    "StepResult",
    "Supply",
    "effective_export_limit",
    "effective_limit",
]
