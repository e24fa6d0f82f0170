"""How fast Panel Capacity answers in a real Home Assistant, and what a storm of readings costs.

scripts/bench-reaction starts the `hass` command on a fresh copy of
scripts/reaction_house (a template meter over an input_number, a water heater
and an EV charger; see its configuration.yaml), logs in over the onboarding
API, and then:

1. latency: sets the house's load to alternately over and under the limit,
   SAMPLES times, at irregular moments (so some changes come just after a step
   and some just before the watchdog's tick), and measures, on Home
   Assistant's own clock (the events' time_fired), from the meter's state
   change to the first service call to an actuator and to that actuator's new
   state;
2. storm: sets an input_number RATE times a second for SECONDS, once under the
   unwatched sensor and once under the meter, and compares the event loop's
   lag (a timer inside Home Assistant, and the websocket's ping), Home
   Assistant's CPU time and the state changes of our entities.

Prints the figures and writes them as JSON (--json, default
out/bench-reaction.json). Nothing is asserted: these are measurements.

Usage: python scripts/bench_reaction.py [--samples N] [--rate R] [--seconds S] [--port P]
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import random
import shutil
import statistics
import sys
import time
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dev_house import (
    onboard,
    remove_onboarding_extras,
    request,
    say,
    seed_http,
    start_hass,
    wait_until_running,
    wait_until_served,
)

REPO = Path(__file__).resolve().parent.parent
HOUSE = REPO / "scripts" / "reaction_house"
HOST = "127.0.0.1"
METER = "sensor.bench_meter"
BASE = "input_number.bench_base"
QUIET = "input_number.bench_quiet"
ACTUATORS = ("input_boolean.bench_water_heater", "input_number.bench_ev_current")
OVER_W, UNDER_W = 12000, 3000  # with everything on: 24.2 kW and 15.2 kW against a 19.2 kW limit
SETTLED_S = 0.7  # no command for this long: the loads have followed
ANSWER_TIMEOUT_S = 5.0


@dataclass
class Seen:
    """What the websocket brought, in order: (kind, entity_id, time_fired, data)."""

    events: list[tuple[str, str, float, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Socket:
    """Home Assistant's websocket API: commands with answers, and a stream of events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._next = 1
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.seen = Seen()
        self._reader = asyncio.create_task(self._read())

    async def command(self, message: dict[str, Any]) -> Any:
        """Send one command; its answer (an error raises)."""
        ident = self._next
        self._next += 1
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = answer
        await self._ws.send_json({"id": ident, **message})
        return await answer

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            for item in data if isinstance(data, list) else [data]:
                self._take(item)

    def _take(self, item: dict[str, Any]) -> None:
        if item.get("type") == "event":
            event = item["event"]
            fired = _timestamp(event["time_fired"])
            if event["event_type"] == "state_changed":
                self.seen.events.append(("state", event["data"]["entity_id"], fired, event["data"]))
            else:
                data = event["data"]
                targets = data.get("service_data", {}).get("entity_id")
                for entity_id in [targets] if isinstance(targets, str) else targets or []:
                    self.seen.events.append(("call", entity_id, fired, data))
            self.seen.changed.set()
            return
        answer = self._waiting.pop(item.get("id", -1), None)
        if answer is None or answer.done():
            return
        if item.get("type") == "pong":
            answer.set_result(None)
        elif item.get("success", False):
            answer.set_result(item.get("result"))
        else:
            answer.set_exception(RuntimeError(str(item.get("error"))))

    async def close(self) -> None:
        """Stop reading and close."""
        self._reader.cancel()
        await self._ws.close()


def _timestamp(text: str) -> float:
    from datetime import datetime  # noqa: PLC0415 - only here

    return datetime.fromisoformat(text).timestamp()


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "n": len(values),
        "median": round(statistics.median(values), 2),
        "p99": round(_pct(values, 0.99), 2),
        "max": round(max(values), 2),
        "min": round(min(values), 2),
    }


async def _set(socket: Socket, entity_id: str, value: float) -> None:
    await socket.command(
        {
            "type": "call_service",
            "domain": "input_number",
            "service": "set_value",
            "service_data": {"entity_id": entity_id, "value": value},
        }
    )


async def _quiet(seen: Seen, since: int) -> None:
    """Wait until no actuator was commanded for SETTLED_S (at most twice the answer timeout)."""
    began = time.time()
    deadline = time.monotonic() + ANSWER_TIMEOUT_S * 2
    while time.monotonic() < deadline:
        calls = [e[2] for e in seen.events[since:] if e[0] == "call" and e[1] in ACTUATORS]
        if time.time() - max([began, *calls]) >= SETTLED_S:
            return
        await asyncio.sleep(0.05)


async def latency(socket: Socket, samples: int, rng: random.Random) -> dict[str, Any]:
    """Meter crossing → first command, → the actuator's new state, in ms (Home Assistant's clock)."""
    seen = socket.seen
    to_call: list[float] = []
    to_state: list[float] = []
    unanswered = 0
    first_unanswered: list[Any] = []
    for index in range(samples):
        value = (OVER_W if index % 2 == 0 else UNDER_W) + rng.randint(0, 99)
        mark = len(seen.events)
        await _set(socket, BASE, value)
        answer = await _answer(seen, mark)
        if answer is None:
            unanswered += 1
            if unanswered == 1:
                first_unanswered = [
                    (e[0], e[1], e[3].get("new_state", {}) and e[3]["new_state"].get("state"))
                    for e in seen.events[mark:][:12]
                ]
        else:
            to_call.append(answer[0])
            to_state.append(answer[1])
        await _quiet(seen, mark)
        # An irregular moment for the next change: just after the last step, or seconds later.
        await asyncio.sleep(rng.uniform(0.0, 2.5))
        if (index + 1) % 20 == 0:
            say(f"latency: {index + 1}/{samples} crossings")
    return {
        "samples": samples,
        "unanswered": unanswered,
        "first_unanswered": first_unanswered,
        "meter_to_call_ms": _summary(to_call),
        "meter_to_actuator_state_ms": _summary(to_state),
        "over_50_ms": sum(1 for value in to_call if value > 50),
    }


async def _answer(seen: Seen, mark: int) -> tuple[float, float] | None:
    """(ms to the first command, ms to its actuator's new state) after the first meter change since MARK."""
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        meter = call = None
        for kind, entity_id, fired, _ in seen.events[mark:]:
            if meter is None:
                if kind == "state" and entity_id == METER:
                    meter = fired
            elif call is None:
                if kind == "call" and entity_id in ACTUATORS:
                    call = (entity_id, fired)
            elif kind == "state" and entity_id == call[0]:
                return (call[1] - meter) * 1000, (fired - meter) * 1000
        seen.changed.clear()
        try:
            await asyncio.wait_for(seen.changed.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            break
    return None


def _cpu_s(pid: int) -> float:
    """CPU time (user + system) of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def storm(socket: Socket, pid: int, entity_id: str, rate: float, seconds: float) -> dict[str, Any]:
    """RATE updates a second under ENTITY_ID: the loop's lag, pings, CPU and our entities' changes."""
    seen = socket.seen
    mark = len(seen.events)
    pings: list[float] = []
    running = True

    async def ping() -> None:
        while running:
            began = time.perf_counter()
            await socket.command({"type": "ping"})
            pings.append((time.perf_counter() - began) * 1000)
            await asyncio.sleep(0.05)

    pinger = asyncio.create_task(ping())
    cpu = _cpu_s(pid)
    answer = await socket.command(
        {
            "type": "call_service",
            "domain": "reaction_house",
            "service": "storm",
            "service_data": {"entity_id": entity_id, "rate": rate, "seconds": seconds},
            "return_response": True,
        }
    )
    used = _cpu_s(pid) - cpu
    running = False
    await pinger
    ours = [
        e
        for e in seen.events[mark:]
        if e[0] == "state" and e[1].startswith(("sensor.bench_panel", "binary_sensor.bench_panel"))
    ]
    return {
        "entity_id": entity_id,
        "loop": answer["response"],
        "ping_ms": _summary(pings),
        "hass_cpu_s": round(used, 2),
        "our_state_changes": len(ours),
    }


async def measure(url: str, token: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    """Both measurements over one websocket."""
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{url}/api/websocket", max_msg_size=0)
        await ws.receive_json()  # auth_required
        await ws.send_json({"type": "auth", "access_token": token})
        if (await ws.receive_json())["type"] != "auth_ok":
            raise RuntimeError("the websocket refused the token")
        socket = Socket(ws)
        try:
            for event_type in ("state_changed", "call_service"):
                await socket.command({"type": "subscribe_events", "event_type": event_type})
            rng = random.Random(args.seed)
            await _set(socket, BASE, UNDER_W)
            # Everything on, as a person would leave it: the EV charging at 32 A, the water heater on.
            await _set(socket, ACTUATORS[1], 32)
            await socket.command(
                {
                    "type": "call_service",
                    "domain": "input_boolean",
                    "service": "turn_on",
                    "service_data": {"entity_id": ACTUATORS[0]},
                }
            )
            await asyncio.sleep(3)
            results: dict[str, Any] = {"latency": await latency(socket, args.samples, rng)}
            await _set(socket, BASE, 5000)
            await asyncio.sleep(3)
            say(
                f"storm: {args.rate:.0f} updates a second for {args.seconds:.0f} s, unwatched, then the meter"
            )
            results["storm_unwatched"] = await storm(socket, pid, QUIET, args.rate, args.seconds)
            await asyncio.sleep(3)
            results["storm_meter"] = await storm(socket, pid, BASE, args.rate, args.seconds)
            return results
        finally:
            await socket.close()


def _share(watched: float, unwatched: float) -> str:
    return f"{(watched - unwatched) / unwatched * 100:+.0f} %" if unwatched else "-"


def report(results: dict[str, Any]) -> None:
    """The figures, for a person."""
    lat = results["latency"]
    print(f"\nLatency over {lat['samples']} crossings of the limit ({lat['unanswered']} unanswered):")
    for name, key in (
        ("meter → first command", "meter_to_call_ms"),
        ("meter → actuator's state", "meter_to_actuator_state_ms"),
    ):
        s = lat[key]
        print(f"  {name:26} median {s['median']:7.2f} ms   p99 {s['p99']:7.2f} ms   max {s['max']:7.2f} ms")
    print(f"  crossings answered after more than 50 ms: {lat['over_50_ms']}")
    quiet, meter = results["storm_unwatched"], results["storm_meter"]
    print(f"\nStorm of {quiet['loop']['updates']} updates in {quiet['loop']['seconds']:.0f} s:")
    print(f"  {'':22} {'unwatched':>12} {'the meter':>12}  our share")
    rows = (
        ("loop lag median (ms)", quiet["loop"]["lag_median_ms"], meter["loop"]["lag_median_ms"]),
        ("loop lag p99 (ms)", quiet["loop"]["lag_p99_ms"], meter["loop"]["lag_p99_ms"]),
        ("ping median (ms)", quiet["ping_ms"]["median"], meter["ping_ms"]["median"]),
        ("ping p99 (ms)", quiet["ping_ms"]["p99"], meter["ping_ms"]["p99"]),
        ("hass CPU (s)", quiet["hass_cpu_s"], meter["hass_cpu_s"]),
    )
    for name, a, b in rows:
        print(f"  {name:22} {a:12.2f} {b:12.2f}  {_share(b, a)}")
    print(f"  our entities' state changes during the storm on the meter: {meter['our_state_changes']}")


def main() -> int:
    """Start hass on a fresh bench house, measure, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--port", type=int, default=8140)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=REPO / "out" / "bench-reaction.json")
    args = parser.parse_args()
    config_dir = REPO / "out" / "bench-reaction"
    shutil.rmtree(config_dir, ignore_errors=True)
    shutil.copytree(HOUSE, config_dir)
    (config_dir / "custom_components" / "panel_capacity").symlink_to(
        REPO / "custom_components" / "panel_capacity"
    )
    seed_http(config_dir, HOST, args.port)
    url = f"http://{HOST}:{args.port}"
    log = config_dir / "hass.out"
    with log.open("wb") as output:
        process = start_hass(config_dir, output=output)
        try:
            wait_until_served(url, process, log)
            token = onboard(url)
            wait_until_running(url, token)
            remove_onboarding_extras(url, token)
            _wait_for_panel(url, token)
            say("Home Assistant runs the bench house: measuring")
            results = asyncio.run(measure(url, token, process.pid, args))
        finally:
            process.terminate()
            try:
                process.wait(60)
            except Exception:  # noqa: BLE001
                process.kill()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\n(written to {args.json}; Home Assistant's log: {config_dir / 'home-assistant.log'})")
    return 0


def _wait_for_panel(url: str, token: str) -> None:
    """Wait until the bench panel and its two loads run (they are added once Home Assistant has started)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        entries = request(f"{url}/api/config/config_entries/entry?domain=panel_capacity", token=token)
        if entries and entries[0]["state"] == "loaded" and entries[0].get("num_subentries", 0) >= 2:
            time.sleep(3)  # its reload after the tuning, and the first steps
            return
        time.sleep(0.5)
    raise RuntimeError("the bench panel was not set up within 60 s (see its home-assistant.log)")


if __name__ == "__main__":
    sys.exit(main())
