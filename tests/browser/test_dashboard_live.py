"""The dashboard in a real browser: live values move as the demo house crosses its limits and loads are shed."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Locator, Page, expect

from .conftest import screenshot, timed

# The text a person sees in an element, through the shadow roots of Home Assistant's cards.
DEEP_TEXT = """element => {
  const walk = node => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent;
    let text = node.shadowRoot ? walk(node.shadowRoot) : '';
    for (const child of node.childNodes) text += ' ' + walk(child);
    return text;
  };
  return walk(element).replace(/\\s+/g, ' ').trim();
}"""


def seen(locator: Locator) -> str:
    """What the element shows."""
    return str(locator.evaluate(DEEP_TEXT))


def tile(page: Page, name: str) -> Locator:
    """The tile card with exactly this name."""
    return page.locator("hui-tile-card").filter(has_text=re.compile(rf"^\s*{re.escape(name)}\b")).first


def watts(text: str) -> float:
    """The power a tile shows, in W."""
    match = re.search(r"([\d,.]+)\s*(k?W)\b", text)
    assert match, text
    value = float(match.group(1).replace(",", ""))
    return value * 1000 if match.group(2) == "kW" else value


def test_dashboard_shows_the_panel_shedding_live(page: Page, home_assistant: str) -> None:
    began = time.monotonic()
    page.goto(f"{home_assistant}/panel-capacity/panel")
    expect(page.locator("hui-gauge-card").first).to_be_visible()
    timed("dashboard_page", began)
    # The panel, each of its legs and the garage subpanel, each against its limit.
    expect(page.locator("hui-gauge-card")).to_have_count(4)
    # The demo house's evening: its garage is over its 7,680 W at once, Panel Capacity sheds there.
    loads = page.locator("hui-entities-card").first
    expect(loads).to_contain_text(re.compile(r"\b(Shed|Reduced)\b"), timeout=60_000)
    assert watts(seen(tile(page, "Limit"))) == 19_200
    site = tile(page, "Site power")
    first = seen(site)
    assert watts(first) > 0
    # Recent actions: Panel Capacity's own account, from the logbook (its rows render when in view).
    recent = page.locator("hui-logbook-card")
    recent.scroll_into_view_if_needed()
    expect(recent).to_contain_text(
        re.compile(r"(was set to|was switched off).*over the limit of Garage"), timeout=30_000
    )
    # Then the laundry takes L2 over its 80 A while the house is under its 19.2 kW in all: the EV
    # charger, on both legs, is turned down for that leg (within about 80 s of the first start).
    expect(recent).to_contain_text(re.compile(r"over the limit on L[12] \("), timeout=180_000)
    timed("dashboard_to_leg_shed", began)
    page.mouse.wheel(0, -5000)
    page.locator("ha-toast").wait_for(state="hidden", timeout=20_000)  # "Home Assistant has started!"
    # A window tall enough for the whole dashboard, opened again in it: lists render only what
    # is in view, and the logbook's does not notice a window that grows under it.
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    page.set_viewport_size({"width": 1280, "height": max(900, height)})
    page.reload()
    expect(recent).to_contain_text(re.compile(r"over the limit on L[12] \("), timeout=30_000)
    page.wait_for_timeout(1000)
    screenshot(page, "dashboard-desktop", readme="dashboard-desktop")
    # The meter reports every 5 seconds from real data replayed at 12x: the value moves.
    deadline = time.monotonic() + 60
    while seen(site) == first:
        assert time.monotonic() < deadline, f"site power stayed at {first}"
        page.wait_for_timeout(1000)
    # On a phone, one column: the legs and the garage, as they are in view there.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("hui-gauge-card").first).to_be_visible()
    legs = page.locator("hui-heading-card").filter(has_text="Each leg against its limit")
    # To the top of the window, below Home Assistant's toolbar.
    legs.evaluate("element => { element.scrollIntoView({block: 'start'}); window.scrollBy(0, -72); }")
    page.wait_for_timeout(1000)
    screenshot(page, "dashboard-phone", readme="dashboard-phone", whole=False)
