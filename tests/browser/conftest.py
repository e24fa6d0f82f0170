"""A real Home Assistant on the demo house, started for the browser tests, and a browser.

Run with scripts/test-browser (not part of scripts/test): Home Assistant runs
as its own process on 127.0.0.1 with a copy of the repository's dev
configuration in a temporary directory, so nothing of the developer's own
config/ is touched; the browser is Debian's Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import time

from playwright.sync_api import Browser, Page, expect, sync_playwright
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
# The same start and ready login as scripts/develop.
from dev_house import (  # noqa: E402
    DEMO_PASSWORD,
    DEMO_USER,
    onboard,
    remove_onboarding_extras,
    seed_http,
    start_hass,
    wait_until_running,
    wait_until_served,
)

CHROMIUM = os.environ.get("PANEL_CAPACITY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "out" / "screenshots"
README_SHOTS = Path(__file__).parent / "screenshots"
# How long a newcomer waits, measured on each run: Home Assistant's start, and page loads.
TIMINGS: dict[str, float] = {}


def timed(name: str, began: float) -> None:
    """Record the seconds since BEGAN under NAME (the first measurement of a name is kept)."""
    TIMINGS.setdefault(name, round(time.monotonic() - began, 1))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the timings after the tests, and keep them next to the screenshots."""
    if TIMINGS:
        terminalreporter.write_line(
            "timings (s): " + ", ".join(f"{name} {value}" for name, value in TIMINGS.items())
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo house in a real Home Assistant; yields its URL. Panel Capacity comes configured on it."""
    config = tmp_path_factory.mktemp("config")
    shutil.copy(REPO / "config" / "configuration.yaml", config / "configuration.yaml")
    shutil.copytree(REPO / "config" / "dashboards", config / "dashboards")
    (config / "custom_components").mkdir()
    (config / "custom_components" / "panel_capacity").symlink_to(
        REPO / "custom_components" / "panel_capacity"
    )
    (config / "custom_components" / "demo_house").symlink_to(
        REPO / "config" / "custom_components" / "demo_house"
    )
    port = _free_port()
    seed_http(config, "127.0.0.1", port)
    log = config / "hass.out"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = start_hass(config, output=output)
    try:
        began = time.monotonic()
        wait_until_served(url, process, log)
        timed("home_assistant_answers", began)
        token = onboard(url)
        wait_until_running(url, token)
        remove_onboarding_extras(url, token)
        timed("home_assistant_started", began)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, SCREENSHOTS / "home-assistant.log")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, with a fresh profile."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, home_assistant: str) -> Iterator[Page]:
    """A logged-in page, as a person signs in on the login screen."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    began = time.monotonic()
    page.goto(f"{home_assistant}/")
    page.get_by_label("Username").fill(DEMO_USER)
    timed("login_page", began)
    page.locator("input[type=password]").first.fill(DEMO_PASSWORD)
    began = time.monotonic()
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/home/**")
    expect(page.locator("ha-sidebar")).to_be_visible()
    timed("login_to_home", began)
    yield page
    context.close()


def screenshot(
    page: Page, name: str, readme: str | None = None, dialog: bool = False, whole: bool = True
) -> Path:
    """Save a screenshot under out/screenshots (and return its path): the whole page, or what is in view.

    With PANEL_CAPACITY_README_SHOTS=1, a step named ``readme`` also refreshes the README's copy
    in tests/browser/screenshots; a ``dialog`` is cut to the middle of the 1280 px page, where
    Home Assistant's dialogs open.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=whole)
    if readme and os.environ.get("PANEL_CAPACITY_README_SHOTS"):
        size = page.viewport_size
        clip = {"x": 330, "y": 0, "width": 620, "height": size["height"]} if dialog and size else None
        page.screenshot(path=str(README_SHOTS / f"{readme}.png"), full_page=whole and clip is None, clip=clip)  # type: ignore[arg-type]
    return path
