"""Adding a panel through Settings -> Devices & services, as a person does, in a real browser."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from .conftest import screenshot


def pick(page: Page, label: str, name: str) -> None:
    """Choose an entity in an entity picker, by searching for its name as a person would."""
    page.get_by_label(label).click()
    page.get_by_placeholder("Search", exact=True).last.fill(name)  # the picker's, opened last
    page.get_by_text(name, exact=True).first.click()


def add_load(page: Page, name: str, actuator: str, details: dict[str, str]) -> None:
    """Add a load to the Garage subpanel: name and actuator, then its details."""
    page.get_by_role("button", name="Add load").click()
    # With more than one panel, the dialog first asks which one (the demo house's panel may be
    # there already, or not yet: it is added once Home Assistant has started).
    choice = page.get_by_role("button", name="Garage subpanel", exact=True)
    name_box = page.get_by_role("textbox", name="Name*")
    expect(choice.or_(name_box).first).to_be_attached()
    if choice.count():
        # The chooser sits in the flow dialog's top layer, which Playwright takes for an element in the way.
        choice.click(force=True)
    page.get_by_role("textbox", name="Name*").fill(name)
    pick(page, "Actuator", actuator)
    page.get_by_role("button", name="Submit").click()
    for label, value in details.items():
        page.get_by_role("spinbutton", name=label).fill(value)
    screenshot(
        page,
        f"flow-load-{name.lower().replace(' ', '-')}",
        readme="flow-load" if name == "Workshop" else None,
        dialog=True,
    )
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text(f"Created configuration for {name}")).to_be_visible()
    page.get_by_role("button", name=re.compile("Finish|Close")).first.click()


def drag(page: Page, handle: Locator, onto: Locator) -> None:
    """Drag by a handle onto another row, with the small steps of a hand on a mouse."""
    start, end = handle.bounding_box(), onto.bounding_box()
    assert start
    assert end
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    target_y = end["y"] + end["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x, y + (target_y - y) * step / 20)
        page.wait_for_timeout(20)
    page.mouse.up()


def open_priority(page: Page, panel: str) -> Locator:
    """Open a panel's options -> Load priority; the entity list in the form."""
    # The row whose title is the panel's (the demo panel's row names its Garage subpanel too).
    entry = page.locator("ha-config-entry-row").filter(has_text=re.compile(rf"^\s*{re.escape(panel)}")).first
    entry.get_by_role("button", name="Configure").first.click()
    page.get_by_text("Load priority", exact=True).click()
    picker = page.locator("ha-entities-picker")
    expect(picker.locator(".entity-handle").first).to_be_visible()
    return picker


def test_add_a_panel_through_the_ui(page: Page, home_assistant: str) -> None:
    page.goto(f"{home_assistant}/config/integrations/dashboard")
    page.get_by_role("button", name="Add integration").click()
    page.get_by_placeholder("Search for a brand name").fill("Panel Capacity")
    page.get_by_role("button", name="Panel Capacity", exact=True).click()
    expect(page.get_by_text("Your panel")).to_be_visible()
    page.get_by_role("textbox", name="Name*").fill("Garage subpanel")
    page.get_by_label("Supply").click()
    page.get_by_role("menuitem", name="Three-phase").click()
    page.get_by_role("spinbutton", name="Main breaker rating*").fill("32")
    page.get_by_role("spinbutton", name="Voltage*").fill("400")  # line-to-line: wrong for three-phase
    screenshot(page, "flow-1-panel")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text(re.compile("enter the line-to-neutral voltage"))).to_be_visible()
    screenshot(page, "flow-2-error", readme="flow-panel-error", dialog=True)
    page.get_by_role("spinbutton", name="Voltage*").fill("230")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Meter", exact=True)).to_be_visible()
    screenshot(page, "flow-3-meter")
    pick(page, "Panel power sensor", "Demo EV charger power")
    screenshot(page, "flow-4-meter-picked", readme="flow-meter", dialog=True)
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Name and assign")).to_be_visible()  # created: its device is named after it
    screenshot(page, "flow-5-created")
    page.get_by_role("button", name="Skip and finish").click()
    page.goto(f"{home_assistant}/config/integrations/integration/panel_capacity")
    expect(page.get_by_text("Garage subpanel").first).to_be_visible()
    screenshot(page, "flow-6-integration")
    # Two loads, each a subentry of the new panel.
    add_load(page, "Garage heater", "EV plugged in", {"Power when on*": "2000"})
    screenshot(page, "flow-7-first-load")
    add_load(
        page,
        "Workshop",
        "Extra load on L1 (try it)",
        {"Lowest setting while on*": "0", "Highest setting*": "3000", "Step*": "100"},
    )
    page.reload()
    expect(page.get_by_text("Loading...")).to_be_hidden()
    expect(page.get_by_text("Garage heater").first).to_be_visible()
    expect(page.get_by_text("Workshop").first).to_be_visible()
    screenshot(page, "flow-8-loads")
    reorder_loads(page)


def reorder_loads(page: Page) -> None:
    """Options -> Load priority: a list with a load missing is refused with its message, then
    the workshop is dragged above the heater, and the new order is there when the form opens again."""
    picker = open_priority(page, "Garage subpanel")
    expect(page.get_by_text("Now: Garage heater, Workshop.")).to_be_visible()
    screenshot(page, "flow-9-priority")
    picker.locator(".entity").nth(1).locator("ha-icon-button.clear").click()  # the row's ✕, unlabelled
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text(re.compile("Every load must stay in the list"))).to_be_visible()
    expect(picker.locator(".entity")).to_have_count(2)  # nothing lost: both loads are back
    screenshot(page, "flow-10-priority-error")
    page.get_by_role("button", name="Close").first.click()
    picker = open_priority(page, "Garage subpanel")
    handles = picker.locator(".entity-handle")
    drag(page, handles.nth(1), handles.nth(0))
    expect(picker.locator(".entity").first).to_contain_text("Extra load on L1 (try it)")
    screenshot(page, "flow-11-priority-dragged", readme="flow-priority", dialog=True)
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Options successfully saved.")).to_be_visible()
    page.get_by_role("button", name="Finish").click()
    # Opened again, the form shows the new order.
    open_priority(page, "Garage subpanel")
    expect(page.get_by_text("Now: Workshop, Garage heater.")).to_be_visible()
    screenshot(page, "flow-12-priority-saved")
