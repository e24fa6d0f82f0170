"""The capacity engine: plain Python, no Home Assistant.

Time is passed in; measurements and actuator states go in; actions and a
status snapshot come out. Home Assistant's coordinator and the offline
simulator drive the same engine. See ``controller`` for the map of modules.
"""

from .config import (
    ROOT,
    Conductor,
    ControlSettings,
    LoadConfig,
    LoadKind,
    NodeConfig,
    PanelConfig,
    Supply,
)
from .controller import CapacityEngine
from .limits import effective_export_limit, effective_limit
from .model import (
    AccountingSnapshot,
    Action,
    ActionKind,
    ActionReason,
    Alert,
    Binding,
    ConstraintStatus,
    ControllerState,
    FlowSource,
    GivenUp,
    LimitSnapshot,
    LoadInput,
    LoadReason,
    LoadState,
    LoadStatus,
    NodeReading,
    NodeStatus,
    QuietBand,
    ReadingFault,
    SiteReading,
    Status,
    StepInput,
    StepResult,
    UnmanagedBasis,
)
from .terms import TERM_LARGEST_STEP, TERM_PANEL, TERM_USER_CAP, LimitTerm
from .validation import ConfigError

__all__ = [
    "ROOT",
    "TERM_LARGEST_STEP",
    "TERM_PANEL",
    "TERM_USER_CAP",
    "AccountingSnapshot",
    "Action",
    "ActionKind",
    "ActionReason",
    "Alert",
    "Binding",
    "CapacityEngine",
    "Conductor",
    "ConfigError",
    "ConstraintStatus",
    "ControlSettings",
    "ControllerState",
    "FlowSource",
    "GivenUp",
    "LimitSnapshot",
    "LimitTerm",
    "LoadConfig",
    "LoadInput",
    "LoadKind",
    "LoadReason",
    "LoadState",
    "LoadStatus",
    "NodeConfig",
    "NodeReading",
    "NodeStatus",
    "PanelConfig",
    "QuietBand",
    "ReadingFault",
    "SiteReading",
    "Status",
    "StepInput",
    "StepResult",
    "Supply",
    "UnmanagedBasis",
    "effective_export_limit",
    "effective_limit",
]
