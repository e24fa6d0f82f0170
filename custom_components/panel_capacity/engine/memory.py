"""The memory codec: what a restarted engine needs to know what it holds, and how it is read back.

Per load: what it is held at, the level to give back, its remembered draw,
its timers (a manual override by when it began: it lasts the hold time in
force) and its action count; the accounting; the last action times. Per
subpanel or circuit measured by its own sensor: what that sensor showed that
no known load explains (see ``unmanaged``), so that a restart while the
sensor has failed does not take that part for nothing.
Anything malformed or unknown is ignored, so a damaged store loses only what
is damaged.
"""

from __future__ import annotations

from dataclasses import asdict, fields
import math
from typing import TYPE_CHECKING, Any

from .accounting import Accounting
from .config import Conductor
from .loads import Held, Hold
from .unmanaged import Unexplained

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .state import EngineState

MEMORY_VERSION = 1
_INTEGRAL = frozenset({"actions_total", "day_actions", "day"})


def encode(state: EngineState) -> dict[str, Any]:
    """What to persist so a restarted controller knows what it holds."""
    loads = {}
    for slot in state.slots:
        data = asdict(slot.hold)
        data["held"] = slot.hold.held.value
        loads[slot.cfg.load_id] = data
    return {
        "version": MEMORY_VERSION,
        "loads": loads,
        "accounting": asdict(state.acc),
        "last_action_at": state.last_action_at,
        "last_export_action_at": state.last_export_action_at,
        "unmanaged": [
            {"node": node_id, "conductor": conductor} | seen.encode()
            for (node_id, conductor), seen in state.unexplained.items()
        ],
    }


def decode(state: EngineState, memory: Mapping[str, Any]) -> None:
    """Take back what ``encode`` gave; anything malformed is ignored."""
    if memory.get("version") != MEMORY_VERSION:
        return
    loads = memory.get("loads")
    for load_id, data in (loads if isinstance(loads, dict) else {}).items():
        slot = state.by_id.get(load_id)
        if slot is not None and isinstance(data, dict):
            _decode_hold(slot.hold, data, state.settings.manual_hold_s)
    acc = memory.get("accounting")
    if isinstance(acc, dict):
        _decode_accounting(state.acc, acc)
    state.last_action_at = _time(memory.get("last_action_at"))
    state.last_export_action_at = _time(memory.get("last_export_action_at"))
    unmanaged = memory.get("unmanaged")
    for data in unmanaged if isinstance(unmanaged, list) else ():
        _decode_unmanaged(state, data)


def _decode_unmanaged(state: EngineState, data: Any) -> None:
    """One constraint's unexplained part, for a node (not the root) that still has that constraint."""
    if not isinstance(data, dict):
        return
    node_id, conductor = data.get("node"), data.get("conductor")
    if conductor is not None:
        try:
            conductor = Conductor(conductor)
        except ValueError:
            return
    key = (node_id, conductor)
    if not isinstance(node_id, str) or key not in state.tree.index:
        return
    node = state.tree.nodes[node_id]
    if node.parent_id is None:
        return
    seen = Unexplained.decode(data)
    if seen is not None:
        state.unexplained[key] = seen


def _time(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _decode_hold(hold: Hold, data: Mapping[str, Any], manual_hold_s: float) -> None:
    try:
        hold.held = Held(data.get("held", Held.NONE))
    except ValueError:
        return
    for key in ("restore_level_w", "remembered_w", "changed_at"):
        value = _time(data.get(key))
        if value is not None:
            setattr(hold, key, value)
    # A manual override lasts the hold time in force now (it may have been changed since);
    # one stored before its start was (only its end was), as if it had begun with today's.
    since, until = _time(data.get("manual_since")), _time(data.get("manual_until"))
    if since is None and until is not None:
        since = until - manual_hold_s
    if since is not None:
        hold.manual_since, hold.manual_until = since, since + manual_hold_s
    actions = data.get("actions")
    if isinstance(actions, int) and not isinstance(actions, bool) and actions >= 0:
        hold.actions = actions


def _decode_accounting(acc: Accounting, data: Mapping[str, Any]) -> None:
    for field_ in fields(Accounting):
        if field_.name.startswith("block_"):
            continue  # a block half filled before a restart is not continued
        value = data.get(field_.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value) or value < 0:
            continue
        setattr(acc, field_.name, int(value) if field_.name in _INTEGRAL else float(value))
