"""A node removed with loads or nodes below it: they move up to where it hung, and Repairs says so.

Home Assistant deletes a subentry without asking the integration
(``ConfigEntries.async_remove_subentry`` has no hook that could refuse it), so
a subpanel cannot be kept while something hangs below it. The safest thing
left is that nothing is lost: every load and node that hung on the removed one
now hangs where it hung itself (its parent, or the nearest node above that
remains), on the same legs or phases, so its draw still counts against every
limit above it. A Repairs issue names what moved and where, to be checked or
moved where it belongs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import CONF_CONDUCTORS, CONF_NODE, CONF_PARENT, DOMAIN, SUBENTRY_LOAD, SUBENTRY_NODE
from .engine import ROOT

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.config_entries import ConfigEntry

    from .configuration import NodeBinding

# The key naming where a subentry hangs, by subentry type.
WHERE = {SUBENTRY_LOAD: CONF_NODE, SUBENTRY_NODE: CONF_PARENT}


@callback
def async_adopt_orphans(hass: HomeAssistant, entry: ConfigEntry, known: Mapping[str, NodeBinding]) -> bool:
    """Move what hangs on a node that no longer exists up to its nearest remaining ancestor.

    ``known`` is the tree as it was before (the running setup's nodes); a node
    it does not know hands what hung on it to the panel itself. True when
    something moved.
    """
    present = {sid for sid, sub in entry.subentries.items() if sub.subentry_type == SUBENTRY_NODE}
    moved: dict[str, list[str]] = {}  # the removed node -> the titles moved from it
    target_of: dict[str, str] = {}
    for sub in list(entry.subentries.values()):
        key = WHERE.get(sub.subentry_type)
        where = str(sub.data.get(key, ROOT)) if key else ROOT
        if key is None or where == ROOT or where in present:
            continue
        target = where
        while target != ROOT and target not in present:
            target = known[target].config.parent_id if target in known else ROOT
        data = dict(sub.data) | {key: target}
        if not data.get(CONF_CONDUCTORS) and where in known:
            # "All of its node's" were the removed node's conductors: keep them, not its parent's.
            data[CONF_CONDUCTORS] = [conductor.value for conductor in known[where].conductors]
        hass.config_entries.async_update_subentry(entry, sub, data=data)
        moved.setdefault(where, []).append(sub.title)
        target_of[where] = target
    for removed, titles in moved.items():
        target = target_of[removed]
        placeholders = {
            "panel": entry.title,
            "parent": entry.title if target == ROOT else entry.subentries[target].title,
            "moved": ", ".join(titles),
        }
        if removed in known:
            placeholders["node"] = known[removed].name
        ir.async_create_issue(
            hass,
            DOMAIN,
            f"node_removed_{entry.entry_id}_{removed}",
            is_fixable=True,  # the fix is to confirm, once checked
            is_persistent=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key="node_removed" if removed in known else "node_missing",
            translation_placeholders=placeholders,
        )
    return bool(moved)
