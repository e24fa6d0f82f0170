"""Serve the tests' spec-shaped OpenADR 3 server on 127.0.0.1, playing a utility's capacity program.

For trying the grid features by hand with scripts/develop (or any Home
Assistant): a 5 kW import subscription, extra capacity on offer every hour for
the next two days at a price per kW, reservation requests answered as the
User Guide describes, and optionally an operating envelope. Then, in Home
Assistant: the panel's options -> Utility server, with the address, client id,
secret, program and VEN name printed at start.

Usage: scripts/run python scripts/fake_vtn.py [--port 8081] [--version 3.1.0]
           [--subscription-kw 5] [--available-kw 4] [--price 0.5] [--envelope-kw 3 --envelope-in-min 2]
           [--unregistered] [--keep-cancelled-grants] [--fee-answer zero_kw]

--unregistered: no ven object for the VEN (it registers itself, and sees nothing until targets are
granted; the events are then enforced by target, as the reference VTN does). --keep-cancelled-grants:
a deleted report's grant stays listed (the reference VTN has no business logic to withdraw it).
--fee-answer: how a fee too low is answered besides the availability (zero_kw, fee_only, kw_at_fee).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.openadr_vtn import FEE_ANSWERS, FEE_IN_AVAILABILITY, CapacityUtility, FakeVtn


async def serve(args: argparse.Namespace) -> None:
    vtn = FakeVtn(args.version, ven_registered=not args.unregistered, enforce_ven_targets=args.unregistered)
    program = vtn.add_program("dycm")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    offer = [
        (hour + timedelta(hours=index), timedelta(hours=1), args.available_kw, args.price)
        for index in range(48)
    ]
    utility = CapacityUtility(
        vtn,
        program_id=program["id"],
        ven_name=vtn.ven_name,
        subscription_kw=args.subscription_kw,
        availability=offer,
        withdraw_on_delete=not args.keep_cancelled_grants,
        fee_answer=args.fee_answer,
    )
    utility.install()
    if args.envelope_kw is not None:
        start = (datetime.now(UTC) + timedelta(minutes=args.envelope_in_min)).replace(second=0, microsecond=0)
        utility.doe(start, timedelta(minutes=30), import_kw=[args.envelope_kw], export_kw=[args.envelope_kw])
    async with vtn.serve(port=args.port) as url:
        print(f"OpenADR 3 server (fake, {args.version}) on {url}", flush=True)
        print(
            f"  client id {vtn.client_id}, secret {vtn.client_secret}, program dycm, VEN name {vtn.ven_name}"
        )
        offer = f"{args.available_kw} kW more each hour at {args.price}/kW"
        print(f"  subscription {args.subscription_kw} kW; {offer}")
        print("Ctrl-C stops it.", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            outcomes = [decision.outcome for decision in utility.decisions]
            print(f"{len(vtn.reports)} reservation requests; decisions: {outcomes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--version", choices=["3.1.0", "3.0.1"], default="3.1.0")
    parser.add_argument("--subscription-kw", type=float, default=5.0)
    parser.add_argument("--available-kw", type=float, default=4.0)
    parser.add_argument("--price", type=float, default=0.5)
    parser.add_argument("--envelope-kw", type=float)
    parser.add_argument("--envelope-in-min", type=float, default=2.0)
    parser.add_argument("--unregistered", action="store_true")
    parser.add_argument("--keep-cancelled-grants", action="store_true")
    parser.add_argument("--fee-answer", choices=FEE_ANSWERS, default=FEE_IN_AVAILABILITY)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
