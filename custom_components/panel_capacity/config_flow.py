"""Config flow: the panel and its meter; options: tuning, load priority and the grid; subentries: loads.

Home Assistant looks for the flows here; they live in the flows package, one module a branch.
"""

from __future__ import annotations

from .flows.load import LoadSubentryFlow
from .flows.options import PanelCapacityOptionsFlow
from .flows.panel import PanelCapacityConfigFlow

__all__ = ["LoadSubentryFlow", "PanelCapacityConfigFlow", "PanelCapacityOptionsFlow"]
