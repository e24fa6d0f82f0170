"""Where things hang and what they draw on: the choices the node and load forms share.

A conductor choice is the conductors joined by "_" (configuration.CONDUCTOR_CHOICES):
on split-phase a 120 V load on one leg or a 240 V load on both; on three-phase
one phase or all three; on single-phase there is nothing to choose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigSubentryFlow
from homeassistant.helpers import selector

from ..configuration import CONDUCTOR_CHOICES, choice_of, node_conductors, panel_from_data, tree_from_entry
from ..const import CONF_CONDUCTORS, CONF_NODE, CONF_PARENT, SUBENTRY_LOAD, SUBENTRY_NODE
from ..engine import ROOT, Conductor, PanelConfig, Supply

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from homeassistant.config_entries import ConfigEntry, ConfigSubentry

# The translation key of each supply's labels of its choices.
_LABELS = {
    Supply.SINGLE_PHASE: "single_conductors",
    Supply.SPLIT_PHASE: "split_conductors",
    Supply.THREE_PHASE: "three_conductors",
}


def conductors_of_choice(choice: str) -> list[str]:
    """The conductors a choice names."""
    return choice.split("_")


def chosen_conductors(user_input: Mapping[str, Any], panel: PanelConfig) -> list[str]:
    """The conductors a form's choice names (no choice on single-phase: the panel's one)."""
    if CONF_CONDUCTORS in user_input:
        return conductors_of_choice(user_input[CONF_CONDUCTORS])
    return [conductor.value for conductor in panel.conductors]


def all_of(supply: Supply) -> str:
    """The choice of every conductor of the supply (a 240 V or a three-phase load)."""
    return choice_of([conductor.value for conductor in supply.conductors])


def offers_choice(supply: Supply) -> bool:
    """Whether a form asks for conductors (not on single-phase)."""
    return len(supply.conductors) > 1


def conductor_selector(supply: Supply) -> selector.SelectSelector:
    """The conductor choices of the supply, labelled for it (L1 (120 V), both legs (240 V), ...)."""
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=list(CONDUCTOR_CHOICES[supply]),
            translation_key=_LABELS[supply],
            mode=selector.SelectSelectorMode.LIST,
        )
    )


def parents_of(entry: ConfigEntry) -> dict[str, str]:
    """Each node subentry's parent, as stored."""
    return {
        sid: str(sub.data.get(CONF_PARENT, ROOT))
        for sid, sub in entry.subentries.items()
        if sub.subentry_type == SUBENTRY_NODE
    }


def node_selector(entry: ConfigEntry, leave_out: str | None = None) -> selector.SelectSelector:
    """The panel, then its nodes by name (but ``leave_out``)."""
    options = [selector.SelectOptionDict(value=ROOT, label=entry.title)]
    options.extend(
        selector.SelectOptionDict(value=sid, label=sub.title)
        for sid, sub in entry.subentries.items()
        if sub.subentry_type == SUBENTRY_NODE and sid != leave_out
    )
    return selector.SelectSelector(
        selector.SelectSelectorConfig(options=options, mode=selector.SelectSelectorMode.DROPDOWN)
    )


def conductors_by_node(entry: ConfigEntry, panel: PanelConfig) -> dict[str, tuple[Conductor, ...]]:
    """Each node's conductors (the panel's under ``main``)."""
    return node_conductors(panel, tree_from_entry(entry))


def _below(entry: ConfigEntry, node_id: str) -> Iterator[ConfigSubentry]:
    """The load and node subentries that hang directly below a node."""
    for sub in entry.subentries.values():
        key = {SUBENTRY_LOAD: CONF_NODE, SUBENTRY_NODE: CONF_PARENT}.get(sub.subentry_type)
        if key is not None and sub.data.get(key, ROOT) == node_id:
            yield sub


def hanging_below(entry: ConfigEntry, node_id: str) -> list[str]:
    """The names of the loads and nodes that hang directly below a node."""
    return [sub.title for sub in _below(entry, node_id)]


def drawn_below(entry: ConfigEntry, node_id: str) -> set[str]:
    """The conductors named by what hangs directly below a node (one naming none follows it)."""
    return {conductor for sub in _below(entry, node_id) for conductor in sub.data.get(CONF_CONDUCTORS) or ()}


class WiredSubentryFlow(ConfigSubentryFlow):
    """A subentry that hangs in the tree (a node or a load): what its flows share."""

    def _reconfiguring(self) -> bool:
        return self.source == SOURCE_RECONFIGURE

    def _own_id(self) -> str | None:
        """The subentry being changed (None: a new one)."""
        return self._get_reconfigure_subentry().subentry_id if self._reconfiguring() else None

    def _panel(self) -> PanelConfig:
        return panel_from_data(self._get_entry().data)

    def _conductors(self, user_input: Mapping[str, Any]) -> list[str]:
        return chosen_conductors(user_input, self._panel())
