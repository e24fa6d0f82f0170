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
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import Browser, Page, sync_playwright
import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PANEL_CAPACITY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USER, PASSWORD = "demo", "demo-panel-capacity"
SCREENSHOTS = REPO / "out" / "screenshots"
START_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(url: str, body: dict | None = None, token: str | None = None, form: bool = False) -> object:
    data = None
    headers = {}
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - loopback http only
        url, data=data, headers=headers, method="POST" if body is not None else "GET"
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        text = response.read()
    return json.loads(text) if text else None


def _wait_until_served(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Home Assistant exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/manifest.json", timeout=5):  # noqa: S310 - loopback only
                return
        except urllib.error.URLError, ConnectionError, TimeoutError:
            time.sleep(0.5)
    raise RuntimeError(f"Home Assistant did not start in {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def _onboard(url: str) -> str:
    """Create the first user and finish onboarding, as the onboarding screens would; returns a token."""
    client_id = f"{url}/"
    code = _request(
        f"{url}/api/onboarding/users",
        {"client_id": client_id, "name": "Demo", "username": USER, "password": PASSWORD, "language": "en"},
    )["auth_code"]  # type: ignore[index]
    token = _request(
        f"{url}/auth/token",
        {"grant_type": "authorization_code", "code": code, "client_id": client_id},
        form=True,
    )["access_token"]  # type: ignore[index]
    _request(f"{url}/api/onboarding/core_config", {}, token)
    _request(f"{url}/api/onboarding/analytics", {}, token)
    _request(
        f"{url}/api/onboarding/integration",
        {"client_id": client_id, "redirect_uri": f"{url}/?auth_callback=1"},
        token,
    )
    return str(token)


def _wait_until_running(url: str, token: str) -> None:
    """Home Assistant has finished starting (the demo house's panel is added then)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while _request(f"{url}/api/config", token=token)["state"] != "RUNNING":  # type: ignore[index]
        if time.monotonic() > deadline:
            raise RuntimeError("Home Assistant did not finish starting")
        time.sleep(0.5)


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
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "dev_http.py"), str(config), "127.0.0.1", str(port)],
        check=True,
    )
    log = config / "hass.out"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        # The hass command, from the config directory: "python -m" would put the repository on
        # sys.path, whose custom_components would hide the config's (the demo house).
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "hass"), "--config", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=config,
        )
    try:
        _wait_until_served(url, process, log)
        _wait_until_running(url, _onboard(url))
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
    page.goto(f"{home_assistant}/")
    page.get_by_label("Username").fill(USER)
    page.locator("input[type=password]").first.fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/home/**")
    yield page
    context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot under out/screenshots (and return its path)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
