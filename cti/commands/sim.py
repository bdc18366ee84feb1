"""``cti sim``: run the PBX simulator standalone (an AMI server for demos and manual tests)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from cti.observability import configure_logging
from cti.sim import PbxSimulator


def run(args: argparse.Namespace) -> int:
    configure_logging("INFO", "console")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


async def _serve(args: argparse.Namespace) -> None:
    sims: list[PbxSimulator] = []
    try:
        for index, office in enumerate(args.office or [None]):
            port = args.port + index if args.port else 0
            sim = PbxSimulator(host=args.host, port=port, system_name=office)
            await sim.start()
            sims.append(sim)
            name = f"office {office!r}: " if office else ""
            print(
                f"PBX simulator: {name}AMI on {args.host}:{sim.port} (user {sim.username!r}, "
                f"secret {sim.secret!r}); Ctrl-C stops it",
                flush=True,
            )
            if args.replay:
                sim.replay(args.replay, speed=1.0, timestamps=True)
                print(f"replaying {args.replay} when a client logs in", flush=True)
            else:
                sim.start_traffic(args.calls_per_minute)
                print(f"generating about {args.calls_per_minute:g} calls a minute", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for sim in sims:
            await sim.stop()
