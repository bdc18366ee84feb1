"""Screen-pop delay: from the ring event leaving the PBX simulator to the card arriving in a tab.

Three processes on loopback, so the 2 cores are shared as in production:

* this one: the PBX simulator (real AMI over TCP) playing ring-all queue calls, each ringing three
  random agents, at a steady 20 calls/s and then a burst of 100 calls/s; it notes when each call's
  first ring event (AgentCalled / DialBegin) leaves the socket;
* the service (``--role server``): the real app (``cti.app.create_app``: SQLite, pops, /ws) with an
  AMI client feeding the call tracker and the pop service, as the composition root does;
* the browsers (``--role clients``): N websockets (two tabs per user), each noting when every
  ``call.ringing`` card arrives.

Rounds with 100 then 1,000 clients. Printed: p50/p99/max delay per phase and pops delivered versus
expected (each rung user's every tab). Target: p99 under 50 ms with 1,000 clients, none lost.
Usage: ``python bench/pop_bench.py [--quick]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_P99_MS = 50.0
TABS_PER_USER = 2
AGENTS_PER_CALL = 3
RING_S, TALK_S = 1.0, 1.0
FIRST_EXTENSION = 1000
RING_EVENTS = frozenset({"AgentCalled", "DialBegin"})
SIM_SECRET = "secret"  # noqa: S105 - the simulator's well-known demo account
PROFILE_PATH = Path(tempfile.gettempdir()) / "pop_server.prof"


# --- the service ------------------------------------------------------------------------------


def tune_gc() -> None:
    """Freeze what startup allocated and collect less often: long-lived server processes.

    Without it the cyclic GC's full collections, which walk every websocket's objects, stopped
    the service for up to ~0.6 s on this 2-core machine under load (measured with gc.callbacks).
    ``cti serve`` could do the same after its startup.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def serve(args: argparse.Namespace) -> None:
    """Run the app plus an AMI consumer until stdin closes; print ``READY <port>`` first."""
    from aiohttp import web

    from cti.ami import AmiClient
    from cti.app import create_app
    from cti.callflow import CallFlow
    from cti.calls import CallModelConfig
    from cti.calls.tracker import CallTracker
    from cti.observability import configure_logging
    from cti.settings import PbxSettings, Settings
    from cti.web.pops_keys import POP_SERVICE

    configure_logging("WARNING", "console")
    pbx = PbxSettings(
        name="sim", host="127.0.0.1", port=args.ami_port, username="cti", secret=SIM_SECRET
    )
    settings = Settings.model_validate(
        {
            "database": {"url": args.db},
            "logging": {"level": "WARNING", "format": "console"},
            "pops": {"queue_size": 512, "send_deadline_s": 5.0},
            # With the CRM: the app consumes the PBX itself, exactly as `cti serve` does.
            "pbx": [pbx.model_dump() | {"secret": SIM_SECRET}] if args.with_crm else [],
        }
    )
    app = create_app(settings)
    if not args.with_crm:
        client = AmiClient(pbx)

        async def ami_consumer(app: web.Application) -> Any:
            # Only the pops on the call flow: what a ringing card costs, without the CRM's writes.
            flow = CallFlow(CallTracker(CallModelConfig()), fast_sinks=[app[POP_SERVICE]])
            await client.start()
            task = asyncio.create_task(flow.consume(client.items()))
            yield
            await client.stop()
            await asyncio.wait_for(task, timeout=5)

        app.cleanup_ctx.append(ami_consumer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    if args.gc_tuning:
        tune_gc()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    print(f"CPU {time.process_time():.2f}", flush=True)
    await runner.cleanup()


# --- the browsers -----------------------------------------------------------------------------


async def browsers(args: argparse.Namespace) -> None:
    """Open the tabs, note each ringing card's arrival, report when told to stop."""
    import aiohttp

    tokens: list[str] = json.loads(await asyncio.to_thread(Path(args.tokens).read_text))
    tokens = tokens[: args.users]
    arrivals: list[tuple[str, int, float, str]] = []
    unexpected_closes = 0
    stopping = False
    gate = asyncio.Semaphore(64)
    connected = 0
    all_connected = asyncio.Event()
    total = len(tokens) * TABS_PER_USER
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def tab(index: int, token: str) -> None:
            nonlocal connected, unexpected_closes
            async with gate:
                ws = await session.ws_connect(f"{args.url}/ws", max_msg_size=0)
                await ws.send_str(json.dumps({"type": "auth", "token": token}))
                for _ in range(2):  # hello, state
                    await ws.receive(timeout=30)
            connected += 1
            if connected == total:
                all_connected.set()
            async for message in ws:
                now = time.time()
                if message.type is aiohttp.WSMsgType.TEXT and '"call.ringing"' in message.data[:90]:
                    data = json.loads(message.data)
                    arrivals.append((data["card"]["linkedid"], index, now, data["id"]))
            if not stopping:
                unexpected_closes += 1
            await ws.close()
            sockets.discard(ws)

        sockets: set[Any] = set()
        tasks = [
            asyncio.create_task(tab(u * TABS_PER_USER + t, token))
            for u, token in enumerate(tokens)
            for t in range(TABS_PER_USER)
        ]
        await asyncio.wait_for(all_connected.wait(), timeout=120)
        tune_gc()  # the measuring harness stands for many machines: keep its own pauses out
        print("READY", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    report = {"arrivals": arrivals, "unexpected_closes": unexpected_closes}
    print(json.dumps(report | {"cpu_s": round(time.process_time(), 2)}), flush=True)


# --- the orchestra ----------------------------------------------------------------------------


async def prepare_database(url: str, users: int, contacts: int) -> list[str]:
    """Migrate ``url`` and add ``users`` sellers (extension 1000+i, one token each)."""
    import datetime as dt

    from sqlalchemy import insert

    from crmlite.db.engine import create_engine, session_factory
    from crmlite.db.migrate import upgrade
    from crmlite.db.models import Activity, Contact, ContactPhone, TelephonyIdentity, User
    from crmlite.services.auth import create_api_token

    engine = create_engine(url)
    await upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as connection:
        await connection.execute(
            insert(User),
            [
                {
                    "id": i + 1,
                    "login": f"agent{FIRST_EXTENSION + i}",
                    "display_name": f"Agent {FIRST_EXTENSION + i}",
                    "role": "seller",
                    "locale": "en",
                    "active": True,
                    "created_at": now,
                }
                for i in range(users)
            ],
        )
        await connection.execute(
            insert(TelephonyIdentity),
            [
                {"user_id": i + 1, "kind": "extension", "value": str(FIRST_EXTENSION + i)}
                for i in range(users)
            ],
        )
        await connection.execute(
            insert(Contact),
            [
                {"id": c + 1, "name": f"Customer {c}", "created_at": now, "updated_at": now}
                for c in range(contacts)
            ],
        )
        await connection.execute(
            insert(ContactPhone),
            [
                {"contact_id": c + 1, "raw": _phone(c), "normalized": _phone(c), "kind": "e164"}
                for c in range(contacts)
            ],
        )
        await connection.execute(
            insert(Activity),
            [
                {"kind": "note", "contact_id": c + 1, "body": f"note {n}", "created_at": now}
                for c in range(contacts)
                for n in range(8)
            ],
        )
    tokens = []
    async with session_factory(engine).begin() as db:
        for i in range(users):
            tokens.append((await create_api_token(db, i + 1, "bench")).token)
    await engine.dispose()
    return tokens


BENCH_DATABASE = "cti_pop_bench"


async def create_pg_database(server_url: str) -> str:
    """A fresh database on the PostgreSQL server of ``server_url``; return its URL."""
    import asyncpg

    admin = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    finally:
        await admin.close()
    return server_url.rsplit("/", 1)[0] + "/" + BENCH_DATABASE


async def drop_pg_database(server_url: str, url: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
    finally:
        await admin.close()


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _phone(n: int) -> str:
    return f"+7916{n:07d}"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run_round(
    sim: Any,
    url: str,
    tokens_path: Path,
    clients: int,
    phases: list[tuple[str, float, float]],
    rng: random.Random,
    contacts: int,
    server_pid: int,
) -> dict[str, Any]:
    """One round: start ``clients`` tabs, play the phases, collect arrivals."""
    from cti.sim import flows

    users = clients // TABS_PER_USER
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--role",
        "clients",
        "--url",
        url,
        "--tokens",
        str(tokens_path),
        "--users",
        str(users),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 28,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    connect_started = time.perf_counter()
    line = await asyncio.wait_for(process.stdout.readline(), timeout=180)
    assert line.startswith(b"READY"), line
    connect_s = time.perf_counter() - connect_started
    sent: dict[str, float] = {}

    def on_sent(events: Any, now: float) -> None:
        for event in events:
            if event.get("Event") in RING_EVENTS:
                linkedid = event.get("Linkedid")
                if isinstance(linkedid, str) and linkedid not in sent:
                    sent[linkedid] = now

    sim.on_sent = on_sent
    server_cpu: dict[str, float] = {}
    extensions = [str(FIRST_EXTENSION + i) for i in range(users)]
    calls: list[tuple[str, str, tuple[int, ...]]] = []  # phase, linkedid, rung user indexes
    loop = asyncio.get_running_loop()
    for name, rate, seconds in phases:
        count = int(rate * seconds)
        planned = []
        for _ in range(count):
            picked = rng.sample(range(users), AGENTS_PER_CALL)
            caller = _phone(rng.randrange(contacts * 2))  # half of them known contacts
            steps = flows.queue_call(
                sim.ids,
                caller=caller,
                agents=tuple(extensions[i] for i in picked),
                answer_by=extensions[picked[0]],
                ring_s=RING_S,
                talk_s=TALK_S,
            )
            linkedid = next(
                str(e["Linkedid"]) for step in steps for e in step.events if "Linkedid" in e
            )
            planned.append((steps, linkedid, tuple(picked)))
        cpu_before = process_cpu_s(server_pid)
        start = loop.time()
        for k, (steps, linkedid, picked) in enumerate(planned):
            delay = start + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            calls.append((name, linkedid, picked))
            sim.play(steps)
        await asyncio.sleep(RING_S + TALK_S + 0.5)  # this phase's calls end
        server_cpu[name] = process_cpu_s(server_pid) - cpu_before
    await asyncio.sleep(1.5)
    process.stdin.write(b"STOP\n")
    await process.stdin.drain()
    output = await asyncio.wait_for(process.stdout.read(), timeout=120)
    await process.wait()
    report = json.loads(output.decode().strip().splitlines()[-1])
    result = summarize(clients, connect_s, calls, sent, report)
    for name, row in result["phases"].items():
        row["server_cpu_ms_per_call"] = round(server_cpu[name] * 1000 / row["calls"], 2)
    return result


def summarize(
    clients: int,
    connect_s: float,
    calls: list[tuple[str, str, tuple[int, ...]]],
    sent: dict[str, float],
    report: dict[str, Any],
) -> dict[str, Any]:
    first: dict[tuple[str, int], float] = {}
    ids_seen: set[tuple[int, str]] = set()
    duplicates = 0  # the same message id twice on one tab (a browser would drop it)
    for linkedid, tab, at, message_id in report["arrivals"]:
        if (tab, message_id) in ids_seen:
            duplicates += 1
            continue
        ids_seen.add((tab, message_id))
        key = (linkedid, tab)
        if key not in first or at < first[key]:
            first[key] = at
    phases: dict[str, dict[str, Any]] = {}
    for phase, linkedid, users in calls:
        row = phases.setdefault(phase, {"calls": 0, "expected": 0, "delivered": 0, "delays": []})
        row["calls"] += 1
        for user in users:
            for t in range(TABS_PER_USER):
                row["expected"] += 1
                arrived = first.get((linkedid, user * TABS_PER_USER + t))
                if arrived is not None and linkedid in sent:
                    row["delivered"] += 1
                    row["delays"].append((arrived - sent[linkedid]) * 1000.0)
    result: dict[str, Any] = {
        "clients": clients,
        "connect_s": round(connect_s, 2),
        "unexpected_closes": report["unexpected_closes"],
        "clients_cpu_s": report["cpu_s"],
        "duplicates": duplicates,
        "phases": {},
    }
    for phase, row in phases.items():
        delays = row.pop("delays")
        row.update(
            p50_ms=round(percentile(delays, 0.50), 2),
            p99_ms=round(percentile(delays, 0.99), 2),
            max_ms=round(max(delays), 2) if delays else None,
            lost=row["expected"] - row["delivered"],
        )
        result["phases"][phase] = row
    return result


async def orchestrate(args: argparse.Namespace) -> int:
    from cti.sim import PbxSimulator

    started = time.time()
    steady_s, burst_s = (3.0, 2.0) if args.quick else (20.0, 5.0)
    phases = [("steady_20cps", 20.0, steady_s), ("burst_100cps", 100.0, burst_s)]
    rounds = [100, 1000]
    contacts = 2000
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="pop-bench-") as tmp:
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres:
            db_url = await create_pg_database(args.postgres)
        tokens = await prepare_database(db_url, max(rounds) // TABS_PER_USER, contacts)
        tokens_path = Path(tmp) / "tokens.json"
        tokens_path.write_text(json.dumps(tokens))
        async with PbxSimulator(port=0, seed=7) as sim:
            server = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--role",
                "server",
                "--db",
                db_url,
                "--ami-port",
                str(sim.port),
                *(["--with-crm"] if args.with_crm else []),
                *(["--gc-tuning"] if args.gc_tuning else []),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert server.stdout is not None
            assert server.stdin is not None
            line = await asyncio.wait_for(server.stdout.readline(), timeout=60)
            assert line.startswith(b"READY"), line
            url = f"http://127.0.0.1:{int(line.split()[1])}"
            await asyncio.wait_for(sim.wait_for_login(1), timeout=30)
            results = []
            for clients in rounds:
                result = await run_round(
                    sim, url, tokens_path, clients, phases, rng, contacts, server.pid
                )
                results.append(result)
                print_round(result)
            server.stdin.close()
            cpu_line = await asyncio.wait_for(server.stdout.readline(), timeout=30)
            server_cpu_s = float(cpu_line.split()[1]) if cpu_line.startswith(b"CPU") else None
            await asyncio.wait_for(server.wait(), timeout=30)
    if args.postgres:
        await drop_pg_database(args.postgres, db_url)
    top = results[-1]
    p99_top = max(row["p99_ms"] for row in top["phases"].values())
    lost = sum(row["lost"] for r in results for row in r["phases"].values())
    summary = {
        "bench": "pops",
        "quick": args.quick,
        "database": "postgresql" if args.postgres else "sqlite",
        "with_crm": args.with_crm,
        "server_gc_tuned": args.gc_tuning,
        "rounds": results,
        "p99_ms_1000_clients": p99_top,
        "lost": lost,
        "unexpected_closes": sum(r["unexpected_closes"] for r in results),
        "server_cpu_s": server_cpu_s,
        "orchestra_cpu_s": round(time.process_time(), 2),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "elapsed_s": round(time.time() - started, 1),
        "targets": {"p99_ms_1000_clients": TARGET_P99_MS, "lost": 0},
        "met": {"p99_ms_1000_clients": p99_top < TARGET_P99_MS, "lost": lost == 0},
    }
    print(json.dumps(summary))
    return 0


def print_round(result: dict[str, Any]) -> None:
    print(
        f"{result['clients']} clients (connected in {result['connect_s']} s, "
        f"{result['unexpected_closes']} closed by the server, {result['duplicates']} duplicates, "
        f"clients used {result['clients_cpu_s']} s CPU)"
    )
    for phase, row in result["phases"].items():
        print(
            f"  {phase:>14}: {row['calls']:5d} calls  pops {row['delivered']}/{row['expected']}"
            f"  p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  max {row['max_ms']} ms"
            f"  server CPU {row['server_cpu_ms_per_call']} ms/call"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="short phases (under a minute)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run the service on PostgreSQL (a server URL such as "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres) instead of SQLite",
    )
    parser.add_argument(
        "--with-crm",
        action="store_true",
        help="the whole service as `cti serve` runs it (call-to-deal rules write the CRM too)",
    )
    parser.add_argument(
        "--no-gc-tuning",
        dest="gc_tuning",
        action="store_false",
        help="leave the service's garbage collector at Python's defaults",
    )
    parser.add_argument("--gc-tuning", dest="gc_tuning", action="store_true", default=True)
    parser.add_argument("--role", choices=("orchestra", "server", "clients"), default="orchestra")
    parser.add_argument("--db")
    parser.add_argument("--ami-port", type=int)
    parser.add_argument("--url")
    parser.add_argument("--tokens")
    parser.add_argument("--users", type=int)
    args = parser.parse_args()
    if args.role == "server":
        if os.environ.get("POP_BENCH_PROFILE"):  # profile the service: where does its CPU go?
            import cProfile

            cProfile.runctx("asyncio.run(serve(args))", globals(), locals(), str(PROFILE_PATH))
        else:
            asyncio.run(serve(args))
        return 0
    if args.role == "clients":
        asyncio.run(browsers(args))
        return 0
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    sys.exit(main())
