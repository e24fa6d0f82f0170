"""Constants of the Panel Capacity integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from homeassistant.const import Platform

DOMAIN: Final = "panel_capacity"
LOGGER = logging.getLogger(__package__)

PLATFORMS: Final = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.NUMBER,
    Platform.SENSOR,
    Platform.SWITCH,
]

SUBENTRY_LOAD: Final = "load"
SUBENTRY_NODE: Final = "node"
MANUFACTURER: Final = "Panel Capacity"
MODEL_PANEL: Final = "Panel"
MODEL_LOAD: Final = "Managed load"
MODEL_NODE: Final = "Subpanel or circuit"

# The config entry's version. 1: the panel and its loads on the panel's total; 2: the tree
# (node subentries, loads with a node and conductors, per-conductor meters).
CONFIG_VERSION: Final = 2

# Config entry data: what the panel is and how it is measured.
CONF_SUPPLY: Final = "supply"
CONF_RATING_A: Final = "rating_a"
CONF_VOLTAGE_V: Final = "voltage_v"
CONF_CONTINUOUS_PCT: Final = "continuous_pct"
CONF_METERING: Final = "metering"
CONF_SITE_SENSOR: Final = "site_sensor"
CONF_IMPORT_SENSOR: Final = "import_sensor"
CONF_EXPORT_SENSOR: Final = "export_sensor"

# Per-conductor meters (W or A), of the panel (entry data) or of a node (subentry data).
CONF_L1_SENSOR: Final = "l1_sensor"
CONF_L2_SENSOR: Final = "l2_sensor"
CONF_L3_SENSOR: Final = "l3_sensor"

METERING_NET: Final = "net"
METERING_PAIR: Final = "pair"

# Options: the tuning of the control loop.
CONF_MARGIN_W: Final = "margin_w"
CONF_HYSTERESIS_W: Final = "hysteresis_w"
CONF_RESTORE_HOLDOFF_S: Final = "restore_holdoff_s"
CONF_RESPONSE_S: Final = "response_s"
CONF_STALENESS_S: Final = "staleness_s"
CONF_MANUAL_HOLD_S: Final = "manual_hold_s"
CONF_LARGEST_STEP_W: Final = "largest_step_w"
CONF_RESERVE_IDLE: Final = "reserve_idle"
CONF_LOAD_ORDER: Final = "load_order"

DEFAULT_CONTINUOUS_PCT: Final = 80
DEFAULT_MARGIN_W: Final = 100
DEFAULT_HYSTERESIS_W: Final = 150
DEFAULT_RESTORE_HOLDOFF_S: Final = 30
DEFAULT_RESPONSE_S: Final = 10
DEFAULT_STALENESS_S: Final = 60
DEFAULT_MANUAL_HOLD_S: Final = 3600
DEFAULT_LARGEST_STEP_W: Final = 0
DEFAULT_RESERVE_IDLE: Final = False

# Subentry data: one controllable load.
CONF_ACTUATOR: Final = "actuator"
CONF_KIND: Final = "kind"
CONF_POWER_SENSOR: Final = "power_sensor"
CONF_NOMINAL_W: Final = "nominal_w"
CONF_UNIT: Final = "unit"
CONF_MIN: Final = "min"
CONF_MAX: Final = "max"
CONF_STEP: Final = "step"
CONF_PHASES: Final = "phases"  # version 1 only: replaced by the load's conductors
# Where a load draws: the node it is wired to and its conductors (empty: all of its node's).
CONF_NODE: Final = "node"
CONF_CONDUCTORS: Final = "conductors"
CONF_ALLOW_OFF: Final = "allow_off"
CONF_NEVER_SHED: Final = "never_shed"
CONF_MIN_ON_S: Final = "min_on_s"
CONF_MIN_OFF_S: Final = "min_off_s"

# Subentry data: a subpanel or circuit (a node of the tree). Its conductors use CONF_CONDUCTORS,
# its total sensor CONF_POWER_SENSOR, its per-conductor sensors CONF_L1_SENSOR...
CONF_PARENT: Final = "parent"  # "main" (the panel) or another node subentry's id
CONF_CAP_A: Final = "cap_a"

UNIT_AMPERE: Final = "A"
UNIT_WATT: Final = "W"
UNIT_KILOWATT: Final = "kW"

# Actuator domains and how the engine sees them.
SWITCH_DOMAINS: Final = ("switch", "input_boolean", "light", "fan", "climate", "water_heater")
LEVEL_DOMAINS: Final = ("number", "input_number")

EVENT_ACTION: Final = "panel_capacity_action"
EVENT_ALERT: Final = "panel_capacity_alert"

# The loop runs on every state change of its sensors; this tick drives timers
# (hold-offs, minimum on/off times) and notices a sensor that has gone quiet.
WATCHDOG_INTERVAL: Final = timedelta(seconds=5)
# With nothing done, the entities show a new status at most this often (a step
# runs on every reading all the same).
PUBLISH_INTERVAL_S: Final = 1.0
# How long a command to an actuator may take before it counts as failed.
SERVICE_TIMEOUT_S: Final = 10
STORAGE_VERSION: Final = 1
STORAGE_SAVE_DELAY_S: Final = 10

# The grid (OpenADR 3). Server connection, kept in the entry's data under CONF_GRID_SERVER.
CONF_GRID_SERVER: Final = "grid_server"
CONF_PROGRAM: Final = "program"
CONF_VEN_NAME: Final = "ven_name"
CONF_TARGETS: Final = "targets"
CONF_PROTOCOL_VERSION: Final = "protocol_version"
CONF_POLL_INTERVAL_S: Final = "poll_interval_s"
DEFAULT_POLL_INTERVAL_S: Final = 60
# Grid settings that need no server, kept in the options.
CONF_SUBSCRIPTION_KW: Final = "subscription_kw"
CONF_LIMIT_SCHEDULE: Final = "limit_schedule"
CONF_EXPORT_LIMIT_KW: Final = "export_limit_kw"
CONF_EMERGENCY_LIMIT_KW: Final = "emergency_limit_kw"
DEFAULT_EMERGENCY_LIMIT_KW: Final = 0.0
# Subentry data: an export actuator (PV inverter or battery limit).
CONF_EXPORT_ACTUATOR: Final = "export"

EVENT_RESERVATION: Final = "panel_capacity_reservation"
# While a reservation request waits for its answer, the server is polled this often.
PENDING_POLL_S: Final = 5
# After failures the poll interval doubles, up to two poll intervals and at most this (a server
# back is noticed within a few minutes).
MAX_BACKOFF_S: Final = 300
# Credentials refused this many polls in a row: Home Assistant asks for new ones (polls go on).
AUTH_REFUSALS_BEFORE_REAUTH: Final = 3
# How often the VEN's own ven object is read again (every poll while it has no targets).
VEN_CHECK_S: Final = 3600
# A pending request not answered in this long stops the fast polling.
PENDING_TIMEOUT_S: Final = 900
GRID_STORAGE_VERSION: Final = 1
