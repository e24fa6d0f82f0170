"""The dashboard in a real browser: live values move as the demo house crosses its limit and loads are shed."""

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
    expect(page.locator("hui-gauge-card")).to_be_visible()
    timed("dashboard_page", began)
    # The demo house's evening is over the 11,520 W limit: Panel Capacity sheds its loads.
    loads = page.locator("hui-entities-card").first
    expect(loads).to_contain_text(re.compile(r"\b(Shed|Reduced)\b"), timeout=60_000)
    assert watts(seen(tile(page, "Limit"))) == 11_520
    site = tile(page, "Site power")
    first = seen(site)
    assert watts(first) > 0
    # Recent actions: Panel Capacity's own account, from the logbook (its rows render when in view).
    recent = page.locator("hui-logbook-card")
    recent.scroll_into_view_if_needed()
    expect(recent).to_contain_text(
        re.compile(r"(was set to|was switched off).*over the limit"), timeout=30_000
    )
    page.mouse.wheel(0, -5000)
    page.locator("ha-toast").wait_for(state="hidden", timeout=20_000)  # "Home Assistant has started!"
    # A window tall enough for the whole dashboard: lists render only what is in view.
    page.set_viewport_size({"width": 1280, "height": 1450})
    expect(recent).to_contain_text("over the limit")
    page.wait_for_timeout(1000)
    screenshot(page, "dashboard-desktop", readme="dashboard-desktop")
    # The meter reports every 5 seconds from real data replayed at 12x: the value moves.
    deadline = time.monotonic() + 60
    while seen(site) == first:
        assert time.monotonic() < deadline, f"site power stayed at {first}"
        page.wait_for_timeout(1000)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("hui-gauge-card")).to_be_visible()
    screenshot(page, "dashboard-phone", readme="dashboard-phone")
