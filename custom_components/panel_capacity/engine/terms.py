"""The names of the limit terms: one enum for the engine, the grid, the sensors and the translations.

A limit is the minimum of named terms; the smallest one binds, and its name is
shown. The engine adds the panel's own terms; callers add the rest.
"""

from __future__ import annotations

from enum import StrEnum


class LimitTerm(StrEnum):
    """A named cap on import (or export) in W."""

    PANEL = "panel"  # rating x continuous factor (NEC 80 %), per conductor and per node
    LARGEST_STEP = "largest_step"  # 100 % rating minus the largest unmanaged step (the 20 % rule)
    USER_CAP = "user_cap"  # the person's own cap: the limit number at the root, a node's cap below it
    SUBSCRIPTION = "subscription"  # the grid's import (or export) subscription alone
    RESERVATION = "reservation"  # the subscription plus the reservations in force
    ENVELOPE = "envelope"  # an operating envelope's limit for the interval
    SCHEDULE = "schedule"  # the person's own daily limit schedule
    EMERGENCY = "emergency"  # an emergency reduction


# The names as plain strings, the keys of every terms mapping.
TERM_PANEL: str = LimitTerm.PANEL.value
TERM_LARGEST_STEP: str = LimitTerm.LARGEST_STEP.value
TERM_USER_CAP: str = LimitTerm.USER_CAP.value
# The terms the engine derives itself; a caller may not pose as one of them.
ENGINE_TERMS = frozenset({TERM_PANEL, TERM_LARGEST_STEP})
