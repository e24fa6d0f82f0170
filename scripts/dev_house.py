"""Run Home Assistant on the demo house with a ready login (scripts/develop).

Starts the `hass` command on a configuration directory, listening on one
loopback address only, and, on a configuration nobody has onboarded yet,
creates the user demo / demo over Home Assistant's own onboarding API, so a
newcomer opens the page and logs in. It prints how long Home Assistant took to
answer and to finish starting, then waits for it; Ctrl-C stops both.

The browser tests use the same helpers (onboard, wait_until_served,
wait_until_running) on their own copy of the configuration.

Usage: python scripts/dev_house.py CONFIG_DIR HOST PORT [hass arguments...]
"""

from __future__ import annotations

from http import HTTPStatus
import json
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import IO, Any
import urllib.error
import urllib.parse
import urllib.request

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - the demo's published login, on loopback only (README)
START_TIMEOUT_S = 180


def seed_http(config_dir: Path, host: str, port: int) -> None:
    """Make Home Assistant listen on HOST:PORT only.

    A YAML http: block is only a trial that Home Assistant reverts after five
    minutes (and then listens on 0.0.0.0), so the confirmed setting is written
    to .storage/http instead, through Home Assistant's own schema.
    """
    from homeassistant.components.http.config import (  # noqa: PLC0415 - only needed here
        HTTP_STORAGE_SCHEMA,
        STORAGE_KEY,
        STORAGE_MINOR_VERSION,
        STORAGE_VERSION,
    )
    from homeassistant.util import dt as dt_util  # noqa: PLC0415

    stable = dict(HTTP_STORAGE_SCHEMA({"server_host": [host], "server_port": port}))
    stable |= {"created_at": dt_util.utcnow().isoformat(), "error": None, "error_message": None}
    path = config_dir / ".storage" / STORAGE_KEY
    if path.exists():
        current = json.loads(path.read_text(encoding="utf-8"))["data"]
        if current.get("pending") is None and all(
            current["stable"].get(key) == stable[key] for key in ("server_host", "server_port")
        ):
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_MINOR_VERSION,
        "key": STORAGE_KEY,
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def request(
    url: str, body: dict[str, Any] | None = None, token: str | None = None, form: bool = False
) -> Any:
    """GET (no body) or POST (JSON, or a form) to Home Assistant; the decoded answer."""
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
    method = "POST" if body is not None else "GET"
    message = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - loopback
    with urllib.request.urlopen(message, timeout=30) as response:  # noqa: S310 - loopback only
        text = response.read()
    return json.loads(text) if text else None


def start_hass(config_dir: Path, *args: str, output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Start Home Assistant on CONFIG_DIR (its output to OUTPUT, else the terminal)."""
    # The hass command, from the config directory: "python -m" would put the repository on
    # sys.path, whose custom_components would hide the config's (the demo house).
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "hass"), "--config", str(config_dir), *args],
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        cwd=config_dir,
    )


def wait_until_served(url: str, process: subprocess.Popen[bytes], log: Path | None = None) -> None:
    """Wait until Home Assistant answers HTTP; fail if it exits first (with the end of its LOG)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = f":\n{log.read_text(errors='replace')[-3000:]}" if log else ""
            raise RuntimeError(f"Home Assistant exited (code {process.returncode}){tail}")
        try:
            with urllib.request.urlopen(f"{url}/manifest.json", timeout=5):  # noqa: S310 - loopback only
                return
        except urllib.error.URLError, ConnectionError, TimeoutError:
            time.sleep(0.25)
    raise RuntimeError(f"Home Assistant did not answer in {START_TIMEOUT_S} s")


def needs_onboarding(url: str) -> bool:
    """Whether nobody has created the first user yet."""
    try:
        steps = request(f"{url}/api/onboarding")
    except urllib.error.HTTPError as err:
        if err.code == HTTPStatus.NOT_FOUND:  # onboarding is over: its views are gone
            return False
        raise
    return any(step["step"] == "user" and not step["done"] for step in steps)


def onboard(url: str, username: str = DEMO_USER, password: str = DEMO_PASSWORD) -> str:
    """Create the owner and finish onboarding, as the onboarding screens do; an access token."""
    client_id = f"{url}/"
    code = request(
        f"{url}/api/onboarding/users",
        {
            "client_id": client_id,
            "name": "Demo",
            "username": username,
            "password": password,
            "language": "en",
        },
    )["auth_code"]
    token = str(
        request(
            f"{url}/auth/token",
            {"grant_type": "authorization_code", "code": code, "client_id": client_id},
            form=True,
        )["access_token"]
    )
    request(f"{url}/api/onboarding/core_config", {}, token)
    request(f"{url}/api/onboarding/analytics", {}, token)
    request(
        f"{url}/api/onboarding/integration",
        {"client_id": client_id, "redirect_uri": f"{url}/?auth_callback=1"},
        token,
    )
    return token


def wait_until_running(url: str, token: str) -> None:
    """Wait until Home Assistant has finished starting (the demo house's panel is added then)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while request(f"{url}/api/config", token=token)["state"] != "RUNNING":
        if time.monotonic() > deadline:
            raise RuntimeError(f"Home Assistant did not finish starting in {START_TIMEOUT_S} s")
        time.sleep(0.25)


def remove_onboarding_extras(url: str, token: str) -> None:
    """Remove what onboarding adds besides the user (text-to-speech, radio, weather, shopping list).

    The demo house needs none of them, and without internet the radio keeps logging errors.
    (Offline, its first setup also holds up Home Assistant's first start by a few seconds;
    removing it earlier would wait for that setup all the same.)
    """
    for entry in request(f"{url}/api/config/config_entries/entry", token=token):
        if entry["source"] == "onboarding":
            message = urllib.request.Request(  # noqa: S310 - loopback
                f"{url}/api/config/config_entries/entry/{entry['entry_id']}",
                headers={"Authorization": f"Bearer {token}"},
                method="DELETE",
            )
            with urllib.request.urlopen(message, timeout=30):  # noqa: S310 - loopback only
                pass


def say(text: str) -> None:
    """A line for the person at the terminal, in the style of scripts/lib.sh."""
    print(f"\033[1m==> {text}\033[0m", file=sys.stderr, flush=True)


def main() -> int:
    """Start hass, give it a ready login, report the times, and wait for it."""
    config_dir, host, port = Path(sys.argv[1]).resolve(), sys.argv[2], int(sys.argv[3])
    seed_http(config_dir, host, port)
    url = f"http://{host}:{port}"
    began = time.monotonic()
    process = start_hass(config_dir, *sys.argv[4:])
    # Ctrl-C reaches hass too (same process group) and stops it; a TERM is passed on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        wait_until_served(url, process)
        served = time.monotonic() - began
        if needs_onboarding(url):
            token = onboard(url)
            who = f"log in as {DEMO_USER} / {DEMO_PASSWORD}"
        else:
            token = None
            who = "log in with your user"
        say(f"Home Assistant answers on {url} after {served:.0f} s: {who}")
        if token is not None:
            wait_until_running(url, token)
            remove_onboarding_extras(url, token)
            say(f"Home Assistant started in {time.monotonic() - began:.0f} s; the demo house is running")
    except RuntimeError as err:
        say(str(err))
    except urllib.error.URLError as err:
        say(f"could not prepare the demo login: {err}")
    return process.wait()


if __name__ == "__main__":
    sys.exit(main())
