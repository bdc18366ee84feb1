"""The whole system under load: two ``cti serve`` instances, PostgreSQL, Redis, the PBX simulator,
1,000 websocket tabs, and one ``kill -9`` of the consuming instance in the middle.

Processes on 127.0.0.1:

* this one (the orchestra): a fresh PostgreSQL database and Redis key prefix, the PBX simulator
  (real AMI over TCP, in this process so it knows every call it generated and when each call's
  first ring left the socket), and the steps: ring-all queue calls of three sellers from new
  callers, every third one missed, one answered call in ten blind-transferred, at 10, 30, 50 and
  100 new calls a second for 30 s each;
* two ``cti serve`` processes sharing the database and Redis: one holds the PBX's consumer lock,
  the other stands by; in the middle of the second step the consumer is killed with SIGKILL, the
  standby takes over, and the killed one is started again (a standby now);
* the browsers (``--role clients``): N tabs over the sellers, half on each instance, each
  reconnecting to the other instance when its socket closes.

Before the first step, 5 s at 10 calls a second warm the instances' caches (not scored). After
each step the CRM lane drains and the database is counted for that step's calls: contacts,
deals, call-back tasks and call logs must match what the simulator generated exactly. Printed per
step: calls generated versus logged, contacts/deals/tasks created versus expected, pops delivered
versus expected (each rung seller's every tab: a ``call.ringing`` or, after a reconnect, the card
in ``state``; a call that began and stopped ringing between the kill and the survivor's snapshot
of the calls up (its CoreShowChannels after its login) could pop nowhere: its pops are counted
apart, and so are those of a call that rang in the last 2 s before the kill, popped on no tab and
was over before the snapshot: its events died unread in the killed consumer), ring-to-card
p50/p99 (first ring event leaving the PBX -> card in the tab; of the calls that rang while an
instance consumed, and with the takeover's calls in the p99 beside it), CRM lag
p50/p99 (first ring event leaving the PBX -> a card carrying the call's committed deal in a tab:
the ringing event's CRM work committed and its outcome pushed), and the takeover time (kill ->
the standby's AMI consumer login; kill -> its snapshot; kill -> its first ringing card). The last
line is one JSON object: the figures, the highest rate at which everything matched with the CRM
lag p99 <= 1 s, and the targets. ``--quick``: one 15 s step at 30 calls a second, the kill a
quarter in (so the survivor takes over while calls still come).

Usage: ``python bench/load_bench.py [--quick] [--postgres URL] [--redis URL]`` (defaults:
CTI_TEST_POSTGRES_URL, CTI_TEST_REDIS_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RING_TO_CARD_P99_MS = 20.0
TARGET_CRM_LAG_P99_MS = 1000.0
TARGET_RATE_CPS = 100.0
SELLERS, TABS_PER_SELLER = 500, 2
AGENTS_PER_CALL = 3
RING_S, TALK_S = 1.5, 2.0
FIRST_EXTENSION = 1000
RING_EVENTS = frozenset({"AgentCalled", "DialBegin"})
DRAIN_TIMEOUT_S = 90.0
# How far behind the killed consumer may have been: a call that rang this long before the kill,
# popped nowhere and was over before the survivor's snapshot died unread with it.
VICTIM_BACKLOG_S = 2.0
WARMUP_RATE_CPS, WARMUP_S = 10.0, 5.0


# --- the browsers -----------------------------------------------------------------------------


async def browsers(args: argparse.Namespace) -> None:
    """Keep the tabs open (reconnecting on close); on ``REPORT`` print what arrived since."""
    import aiohttp

    urls: list[str] = args.urls.split(",")
    tokens: list[str] = json.loads(await asyncio.to_thread(Path(args.tokens).read_text))
    # kind, linkedid, tab, arrived at, and for a ringing card: when it was encoded, and where from
    arrivals: list[tuple[str, str, int, float, float | None, str | None]] = []
    counters = {"reconnects": 0, "connect_failures": 0}
    connected: set[int] = set()
    all_connected = asyncio.Event()
    gate = asyncio.Semaphore(64)
    total = len(tokens) * args.tabs

    async def tab(index: int, token: str, session: aiohttp.ClientSession) -> None:
        attempt = 0
        while True:
            url = urls[(index + attempt) % len(urls)]
            try:
                async with gate:
                    ws = await session.ws_connect(f"{url}/ws", max_msg_size=0, heartbeat=None)
                    await ws.send_str(json.dumps({"type": "auth", "token": token}))
                    await ws.receive(timeout=30)  # hello
                    state = await ws.receive(timeout=30)
                now = time.time()
                for card in json.loads(state.data).get("cards", []):
                    arrivals.append(("state", card["linkedid"], index, now, None, None))
            except (aiohttp.ClientError, OSError, TimeoutError, TypeError, ValueError):
                counters["connect_failures"] += 1
                attempt += 1
                await asyncio.sleep(0.2 + random.random() * 0.3)
                continue
            connected.add(index)
            if len(connected) == total:
                all_connected.set()
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                now = time.time()
                head = message.data[:90]
                if '"call.ringing"' in head:
                    data = json.loads(message.data)
                    encoded = dt.datetime.fromisoformat(data["at"]).timestamp()
                    arrivals.append(("ring", data["card"]["linkedid"], index, now, encoded, url))
                elif '"call.updated"' in head and '"deal":{' in message.data:
                    data = json.loads(message.data)
                    if data["card"].get("deal"):
                        arrivals.append(("crm", data["card"]["linkedid"], index, now, None, None))
            connected.discard(index)
            counters["reconnects"] += 1
            attempt += 1

    lag = {"max_ms": 0.0}

    async def loop_lag() -> None:
        # How late this process runs its callbacks: a late clock here inflates every delay.
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.1)
            late_ms = (time.perf_counter() - before - 0.1) * 1000
            lag["max_ms"] = max(lag["max_ms"], late_ms)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(loop_lag())] + [
            asyncio.create_task(tab(s * args.tabs + t, token, session))
            for s, token in enumerate(tokens)
            for t in range(args.tabs)
        ]
        await asyncio.wait_for(all_connected.wait(), timeout=180)
        # The tabs measure delays: their own collector's pauses over the growing arrivals would be
        # counted as the service's. As the service does (cti.observability.settle_memory): what
        # exists now is kept out of collections, and the young generation is collected seldom.
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        print("READY", flush=True)
        while (await asyncio.to_thread(sys.stdin.readline)).strip() == "REPORT":
            batch, arrivals[:] = list(arrivals), []
            report = {"arrivals": batch, "connected": len(connected), **counters}
            report["loop_lag_max_ms"], lag["max_ms"] = round(lag["max_ms"], 1), 0.0
            print(json.dumps(report), flush=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- the database -----------------------------------------------------------------------------


async def create_database(server_url: str) -> tuple[str, str]:
    """A fresh database on ``server_url``'s server: (its SQLAlchemy URL, its name)."""
    import asyncpg

    name = f"cti_load_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server_url.rsplit("/", 1)[0] + "/" + name, name


async def drop_database(server_url: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def seed(url: str, sellers: int) -> tuple[list[str], str]:
    """Migrate; add the sellers (extension 1000+i) and one admin: (seller tokens, admin token)."""
    import datetime as dt

    from sqlalchemy import insert

    from crmlite.db.engine import create_engine, session_factory
    from crmlite.db.migrate import upgrade
    from crmlite.db.models import TelephonyIdentity, User
    from crmlite.services.auth import create_api_token

    engine = create_engine(url)
    await upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    rows = [
        {"id": i + 1, "login": f"agent{FIRST_EXTENSION + i}", "role": "seller",
         "display_name": f"Agent {FIRST_EXTENSION + i}", "locale": "en", "active": True,
         "created_at": now}
        for i in range(sellers)
    ]  # fmt: skip
    admin_id = sellers + 1
    rows.append(rows[0] | {"id": admin_id, "login": "bench-admin", "role": "admin",
                           "display_name": "Bench admin"})  # fmt: skip
    async with engine.begin() as connection:
        await connection.execute(insert(User), rows)
        await connection.execute(
            insert(TelephonyIdentity),
            [
                {"user_id": i + 1, "kind": "extension", "value": str(FIRST_EXTENSION + i)}
                for i in range(sellers)
            ],
        )
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequence past them
            await connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))"
            )
    async with session_factory(engine).begin() as db:
        tokens = [(await create_api_token(db, i + 1, "bench")).token for i in range(sellers)]
        admin = (await create_api_token(db, admin_id, "bench")).token
    await engine.dispose()
    return tokens, admin


async def count_effects(url: str, linkedids: list[str], phones: list[str]) -> dict[str, int]:
    """What the CRM holds for these calls: rows counted, not effects trusted."""
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        row = await connection.fetchrow(
            """
            WITH people AS (
                SELECT DISTINCT contact_id FROM contact_phones WHERE normalized = ANY($2::text[])
            )
            SELECT
              (SELECT count(*) FROM contact_phones WHERE normalized = ANY($2::text[])) AS contacts,
              (SELECT count(*) FROM deals WHERE contact_id IN (SELECT contact_id FROM people))
                AS deals,
              (SELECT count(*) FROM activities WHERE kind = 'task'
                 AND contact_id IN (SELECT contact_id FROM people)) AS tasks,
              (SELECT count(*) FROM activities WHERE kind = 'call'
                 AND linkedid = ANY($1::text[])) AS logged,
              (SELECT count(*) FROM call_effects WHERE linkedid = ANY($1::text[])
                 AND effect LIKE 'call_log@ended%') AS ended
            """,
            linkedids,
            phones,
        )
    finally:
        await connection.close()
    assert row is not None
    return dict(row)


# --- the instances ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Instance:
    """One ``cti serve`` process."""

    name: str
    port: int
    config: Path
    log: Path
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cti.cli", "--config", str(self.config),
                "serve", "--port", str(self.port),
                cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip

    async def wait_healthy(self, http: Any, timeout_s: float = 60.0) -> None:
        import aiohttp

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} did not come up; see {self.log}")

    async def consuming(self, http: Any, admin_token: str) -> bool:
        headers = {"Authorization": f"Bearer {admin_token}"}
        async with http.get(f"{self.url}/api/v1/pbx", headers=headers) as response:
            links = (await response.json())["items"]
        return any(link["consuming"] for link in links)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def write_config(path: Path, db_url: str, redis_url: str, prefix: str, ami_port: int) -> None:
    path.write_text(
        f"""
[database]
url = "{db_url}"
pool_size = 20
[redis]
url = "{redis_url}"
[logging]
level = "WARNING"
format = "console"
[pops]
queue_size = 1024
redis_prefix = "{prefix}"
[[pbx]]
name = "sim"
host = "127.0.0.1"
port = {ami_port}
username = "cti"
secret = "secret"
reconnect_min_s = 0.2
reconnect_max_s = 2.0
""",
        encoding="utf-8",
    )


# --- the steps --------------------------------------------------------------------------------


@dataclass
class PlannedCall:
    linkedid: str
    caller: str
    rung: tuple[int, ...]  # seller indexes
    missed: bool
    transferred: bool
    steps: list[Any] = field(repr=False)


def plan_calls(sim: Any, rng: random.Random, step: int, count: int) -> list[PlannedCall]:
    """``count`` new-caller ring-all calls: every third missed, one answered in ten transferred."""
    from cti.sim import flows

    extensions = [str(FIRST_EXTENSION + i) for i in range(SELLERS)]
    planned = []
    for k in range(count):
        rung = tuple(rng.sample(range(SELLERS), AGENTS_PER_CALL + 1))
        missed = k % 3 == 2
        transferred = not missed and k % 10 == 0
        caller = f"+7926{step}{k:06d}"
        steps = flows.queue_call(
            sim.ids,
            caller=caller,
            agents=tuple(extensions[i] for i in rung[:AGENTS_PER_CALL]),
            answer_by=None if missed else extensions[rung[0]],
            ring_s=RING_S,
            talk_s=TALK_S,
            transfer_to=extensions[rung[-1]] if transferred else None,
        )
        linkedid = next(
            str(e["Linkedid"]) for step_ in steps for e in step_.events if "Linkedid" in e
        )
        planned.append(
            PlannedCall(linkedid, caller, rung[:AGENTS_PER_CALL], missed, transferred, steps)
        )
    return planned


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


def score_step(
    rate: float,
    calls: list[PlannedCall],
    rang_at: dict[str, float],
    arrivals: list[list[Any]],
    counts: dict[str, int],
    gap: tuple[float, float] | None = None,
    consumers: tuple[str, str | None] = ("", None),
) -> dict[str, Any]:
    """One step's row: counts against what the simulator generated, delays from its ring stamps.

    ``gap`` (kill, the survivor's snapshot of the calls up): a call that began and stopped ringing
    inside it could pop on no tab (no instance consumed; the survivor's snapshot shows it answered
    or gone). Its pops are counted apart, not expected; its CRM effects are expected like any
    call's. ``consumers``: the consuming instance's URL before the kill, and after it.
    """
    first: dict[tuple[str, int], float] = {}
    crm_at: dict[str, float] = {}
    split: dict[tuple[str, int], tuple[float, str]] = {}  # a ringing card: encoded at, from
    for kind, linkedid, tab, at, encoded, via in arrivals:
        if kind == "crm":
            crm_at[linkedid] = min(at, crm_at.get(linkedid, at))
            continue
        key = (linkedid, tab)
        if at <= first.get(key, at):
            first[key] = at
            if encoded is not None:
                split[key] = (encoded, via)
            else:
                split.pop(key, None)

    rings = [rang_at[c.linkedid] for c in calls if c.linkedid in rang_at]
    origin = gap[0] if gap is not None else min(rings, default=0.0)

    def in_gap(rang: float) -> bool:
        """The call began ringing between the kill and the survivor's snapshot."""
        return gap is not None and gap[0] < rang < gap[1]

    expected = delivered = unreachable = lost_with_victim = 0
    undelivered: dict[str, int] = {}  # linkedid -> tabs that never got its card
    ring_ms: list[float] = []  # calls that rang while an instance consumed
    # Where a ringing card's time went: first ring -> encoded in the consumer, then encoded -> in
    # the tab, for tabs on the consuming instance and on the other one.
    encoding_ms: list[float] = []
    delivery_ms: dict[str, list[float]] = {"same_instance": [], "other_instance": []}
    late: list[float] = []  # when (from the kill, or the step's first ring) pops over 100 ms rang
    gap_ring_ms: list[float] = []  # rang during the takeover, popped by the survivor's snapshot
    for call in calls:
        rang = rang_at.get(call.linkedid)
        if gap is not None and rang is not None and in_gap(rang) and rang + RING_S < gap[1]:
            unreachable += len(call.rung) * TABS_PER_SELLER
            continue
        tabs = [s * TABS_PER_SELLER + t for s in call.rung for t in range(TABS_PER_SELLER)]
        if (
            gap is not None
            and rang is not None
            and gap[0] - VICTIM_BACKLOG_S < rang <= gap[0]
            and rang + RING_S < gap[1]
            and all((call.linkedid, tab) not in first for tab in tabs)
        ):
            # Rang just before the kill, popped on no tab, and over before the survivor looked:
            # its events were still unread in the killed consumer. Counted apart (its CRM
            # effects, from the survivor's replay, are expected like any call's).
            lost_with_victim += len(tabs)
            continue
        for seller in call.rung:
            for t in range(TABS_PER_SELLER):
                expected += 1
                at = first.get((call.linkedid, seller * TABS_PER_SELLER + t))
                if at is not None:
                    delivered += 1
                    if rang is not None:
                        (gap_ring_ms if in_gap(rang) else ring_ms).append((at - rang) * 1000)
                        stamp = split.get((call.linkedid, seller * TABS_PER_SELLER + t))
                        if stamp is not None and not in_gap(rang):
                            encoded, via = stamp
                            consumer = consumers[1] if gap and rang > gap[0] else consumers[0]
                            side = "same_instance" if via == consumer else "other_instance"
                            encoding_ms.append((encoded - rang) * 1000)
                            delivery_ms[side].append((at - encoded) * 1000)
                        if at - rang > 0.1:
                            late.append(rang)
                else:
                    undelivered[call.linkedid] = undelivered.get(call.linkedid, 0) + 1
    lag_ms: list[float] = []
    gap_lag_ms: list[float] = []
    for c in calls:
        if c.linkedid in crm_at and c.linkedid in rang_at:
            rang = rang_at[c.linkedid]
            (gap_lag_ms if in_gap(rang) else lag_ms).append((crm_at[c.linkedid] - rang) * 1000)
    missed = sum(c.missed for c in calls)
    row: dict[str, Any] = {
        "rate_cps": rate,
        "calls": len(calls),
        "missed": missed,
        "transferred": sum(c.transferred for c in calls),
        "logged": counts["logged"],
        "contacts": counts["contacts"],
        "deals": counts["deals"],
        "tasks": counts["tasks"],
        "expected": {
            "logged": len(calls),
            "contacts": len(calls),
            "deals": len(calls),
            "tasks": missed,
        },
        "pops_delivered": delivered,
        "pops_expected": expected,
        "pops_while_nobody_consumed": unreachable,
        "pops_lost_with_the_killed_consumer": lost_with_victim,
        "ring_to_card_p50_ms": percentile(ring_ms, 0.50),
        "ring_to_card_p99_ms": percentile(ring_ms, 0.99),
        "ring_to_card_p99_ms_with_takeover": percentile(ring_ms + gap_ring_ms, 0.99),
        "ring_to_encoded_p50_p99_ms": [
            percentile(encoding_ms, 0.50),
            percentile(encoding_ms, 0.99),
        ],
        "encoded_to_tab_p50_p99_ms": {
            side: [percentile(ms, 0.50), percentile(ms, 0.99)] for side, ms in delivery_ms.items()
        },
        "crm_lag_p50_ms": percentile(lag_ms, 0.50),
        "crm_lag_p99_ms": percentile(lag_ms, 0.99),
        "crm_lag_p99_ms_with_takeover": percentile(lag_ms + gap_lag_ms, 0.99),
        "crm_lag_samples": len(lag_ms),
        # Pops later than 100 ms: how many, and when the first and last of their calls rang.
        "late_pops": {
            "count": len(late),
            "rang_s": [round(min(late) - origin, 2), round(max(late) - origin, 2)] if late else [],
            "from": "the kill" if gap is not None else "the step's first ring",
        },
        # A few undelivered calls: when each began ringing, from the kill (s), and its tabs.
        "undelivered_sample": [
            {
                "linkedid": linkedid,
                "tabs": tabs,
                "rang_after_kill_s": round(rang_at[linkedid] - gap[0], 2)
                if gap is not None and linkedid in rang_at
                else None,
            }
            for linkedid, tabs in list(undelivered.items())[:5]
        ],
    }
    row["matched"] = all(row[k] == v for k, v in row["expected"].items()) and (
        delivered == expected
    )
    return row


async def wait_drained(url: str, calls: list[PlannedCall]) -> dict[str, int]:
    """Poll until every call's end is logged, or nothing changes for 10 s (bounded)."""
    linkedids = [c.linkedid for c in calls]
    phones = [c.caller for c in calls]
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    last: dict[str, int] = {}
    steady_since = time.monotonic()
    while True:
        counts = await count_effects(url, linkedids, phones)
        if counts["ended"] >= len(calls) and counts["logged"] >= len(calls):
            return counts
        if counts != last:
            last, steady_since = counts, time.monotonic()
        if time.monotonic() - steady_since > 10 or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.5)


def print_row(step: int, row: dict[str, Any]) -> None:
    e = row["expected"]
    print(
        f"step {step} {row['rate_cps']:>5.0f}/s: calls {row['calls']:5d} logged {row['logged']:5d}"
        f" | contacts {row['contacts']}/{e['contacts']} deals {row['deals']}/{e['deals']}"
        f" tasks {row['tasks']}/{e['tasks']}"
        f" | pops {row['pops_delivered']}/{row['pops_expected']}"
        + (
            f" (+{row['pops_while_nobody_consumed']} rang only while nobody consumed)"
            if row["pops_while_nobody_consumed"]
            else ""
        )
        + (
            f" (+{row['pops_lost_with_the_killed_consumer']} of calls that rang just before the"
            " kill and were over before the survivor looked, unread by the killed consumer)"
            if row["pops_lost_with_the_killed_consumer"]
            else ""
        )
        + f" | ring->card p50 {row['ring_to_card_p50_ms']} p99 {row['ring_to_card_p99_ms']} ms"
        + (
            f" ({row['ring_to_card_p99_ms_with_takeover']} with the takeover's)"
            if "takeover" in row
            else ""
        )
        + f" [ring->encoded p99 {row['ring_to_encoded_p50_p99_ms'][1]} ms, encoded->tab p99"
        f" {row['encoded_to_tab_p50_p99_ms']['same_instance'][1]} ms on the consumer's tabs,"
        f" {row['encoded_to_tab_p50_p99_ms']['other_instance'][1]} ms on the other's]"
        + f" | CRM lag p50 {row['crm_lag_p50_ms']} p99 {row['crm_lag_p99_ms']} ms"
        + (
            f" ({row['crm_lag_p99_ms_with_takeover']} with the takeover's)"
            if "takeover" in row
            else ""
        )
        + (
            f" | CPU per call: machine {row['machine_cpu_ms_per_call']} ms"
            if "machine_cpu_ms_per_call" in row
            else ""
        )
        + (
            f", consumer {row['consumer_cpu_ms_per_call']} ms"
            if "consumer_cpu_ms_per_call" in row
            else ""
        )
        + f" | {'MATCH' if row['matched'] else 'MISMATCH'}"
        f" | tabs' loop late by up to {row['clients_loop_lag_max_ms']} ms"
        + (
            f" | kill -> login {row['takeover']['login_s']} s,"
            f" snapshot {row['takeover']['snapshot_s']} s"
            if "takeover" in row
            else ""
        ),
        flush=True,
    )


def busy_cpu_s() -> float | None:
    """CPU time the whole machine spent busy so far (Linux ``/proc/stat``), in seconds."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int | None) -> float | None:
    """CPU time (user + system) process ``pid`` has used so far, in seconds."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_step(
    ctx: Orchestra, step: int, rate: float, seconds: float, *, kill: bool, kill_at: float = 0.5
) -> dict[str, Any]:
    """Play one step at ``rate`` (killing the consumer ``kill_at`` into it if asked); score it."""
    calls = plan_calls(ctx.sim, ctx.rng, step, int(rate * seconds))
    consumer = await ctx.consumer()
    consumer_pid = consumer.process.pid if consumer.process is not None else None
    machine_before, consumer_before = busy_cpu_s(), process_cpu_s(consumer_pid)
    loop = asyncio.get_running_loop()
    kill_task: asyncio.Task[dict[str, Any]] | None = None
    start = loop.time()
    for k, call in enumerate(calls):
        if kill and kill_task is None and k >= len(calls) * kill_at:
            kill_task = asyncio.create_task(ctx.kill_consumer())
        delay = start + k / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        ctx.sim.play(call.steps)
    takeover = await kill_task if kill_task is not None else None
    counts = await wait_drained(ctx.db_url, calls)
    machine_after, consumer_after = busy_cpu_s(), process_cpu_s(consumer_pid)
    arrivals = await ctx.collect_arrivals()
    gap = (
        (takeover["killed_at"], takeover["killed_at"] + takeover["snapshot_s"])
        if takeover is not None
        else None
    )
    consumers = (consumer.url, takeover.pop("survivor_url") if takeover is not None else None)
    row = score_step(rate, calls, ctx.rang_at, arrivals["arrivals"], counts, gap, consumers)
    row["clients_connected"] = arrivals["connected"]
    row["client_reconnects"] = arrivals["reconnects"]
    row["clients_loop_lag_max_ms"] = arrivals["loop_lag_max_ms"]
    # CPU per call, from the step's start to its drain: the whole machine (both instances,
    # PostgreSQL, Redis, the simulator, the tabs) and the consuming instance alone (no kill).
    if machine_before is not None and machine_after is not None and calls:
        row["machine_cpu_ms_per_call"] = round(
            (machine_after - machine_before) * 1000 / len(calls), 2
        )
    if consumer_before is not None and consumer_after is not None and calls and not kill:
        row["consumer_cpu_ms_per_call"] = round(
            (consumer_after - consumer_before) * 1000 / len(calls), 2
        )
    if takeover is not None:
        killed_at = takeover.pop("killed_at")
        later_rings = [
            at
            for kind, linkedid, _tab, at, _encoded, _via in arrivals["arrivals"]
            if kind == "ring" and ctx.rang_at.get(linkedid, 0.0) > killed_at
        ]
        takeover["first_pop_s"] = round(min(later_rings) - killed_at, 2) if later_rings else None
        row["takeover"] = takeover
    return row


@dataclass
class Orchestra:
    """What the steps share: the simulator, the instances, the clients, the database."""

    sim: Any
    instances: list[Instance]
    clients: asyncio.subprocess.Process
    db_url: str
    http: Any
    admin_token: str
    rng: random.Random
    rang_at: dict[str, float] = field(default_factory=dict)

    def on_sent(self, events: Any, now: float) -> None:
        for event in events:
            if event.get("Event") in RING_EVENTS:
                linkedid = event.get("Linkedid")
                if isinstance(linkedid, str) and linkedid not in self.rang_at:
                    self.rang_at[linkedid] = now

    async def consumer(self, timeout_s: float = 60.0) -> Instance:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for instance in self.instances:
                with contextlib.suppress(Exception):
                    if await instance.consuming(self.http, self.admin_token):
                        return instance
            await asyncio.sleep(0.2)
        raise RuntimeError("no instance consumes the PBX")

    async def kill_consumer(self) -> dict[str, Any]:
        """SIGKILL the consumer; time the standby's AMI login; start the killed one again."""
        victim = await self.consumer()
        logins = self.sim.logins
        killed_at = time.time()
        victim.kill()
        assert victim.process is not None
        await victim.process.wait()
        await asyncio.wait_for(self.sim.wait_for_login(logins + 1), timeout=60)
        login_s = time.time() - killed_at
        # The survivor's snapshot of the calls up (CoreShowChannels): from then on it pops.
        for _ in range(3000):  # 30 s at most
            later = [at for at in self.sim.snapshots if at > killed_at + login_s]
            if later:
                break
            await asyncio.sleep(0.01)
        snapshot_s = (min(later) if later else time.time()) - killed_at
        survivor = await self.consumer()
        await victim.start()
        victim.restarts += 1
        await victim.wait_healthy(self.http)
        return {
            "killed": victim.name,
            "survivor": survivor.name,
            "survivor_url": survivor.url,
            "killed_at": killed_at,
            "login_s": round(login_s, 2),
            "snapshot_s": round(snapshot_s, 2),
        }

    async def collect_arrivals(self) -> dict[str, Any]:
        await asyncio.sleep(1.0)  # the last cards in flight
        assert self.clients.stdin is not None
        assert self.clients.stdout is not None
        self.clients.stdin.write(b"REPORT\n")
        await self.clients.stdin.drain()
        line = await asyncio.wait_for(self.clients.stdout.readline(), timeout=60)
        report: dict[str, Any] = json.loads(line)
        return report


async def orchestrate(args: argparse.Namespace) -> int:
    import aiohttp
    import redis.asyncio as redis

    from cti.sim import PbxSimulator

    started = time.time()
    schedule = [(30.0, 15.0)] if args.quick else [(r, 30.0) for r in (10.0, 30.0, 50.0, 100.0)]
    kill_step = 0 if args.quick else 1
    if args.steps:  # a custom ladder (to study one rate): no kill unless asked for
        schedule = [(float(r), float(s)) for r, s in (p.split("x") for p in args.steps.split(","))]
        kill_step = args.kill_step
    prefix = f"cti:loadbench:{uuid.uuid4().hex[:8]}"
    db_url, db_name = await create_database(args.postgres)
    instances: list[Instance] = []
    clients: asyncio.subprocess.Process | None = None
    rows: list[dict[str, Any]] = []
    try:
        tokens, admin_token = await seed(db_url, SELLERS)
        with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
            folder = Path(tmp)
            (folder / "tokens.json").write_text(json.dumps(tokens))
            async with (
                PbxSimulator(port=0, seed=11) as sim,
                aiohttp.ClientSession() as http,
            ):
                config = folder / "cti.toml"
                write_config(config, db_url, args.redis, prefix, sim.port)
                instances = [
                    Instance(name, free_port(), config, folder / f"{name}.log")
                    for name in ("a", "b")
                ]
                for instance in instances:
                    await instance.start()
                for instance in instances:
                    await instance.wait_healthy(http)
                clients = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--role", "clients",
                    "--urls", ",".join(i.url for i in instances),
                    "--tokens", str(folder / "tokens.json"), "--tabs", str(TABS_PER_SELLER),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    limit=1 << 28,
                )  # fmt: skip
                assert clients.stdout is not None
                line = await asyncio.wait_for(clients.stdout.readline(), timeout=240)
                if not line.startswith(b"READY"):
                    raise RuntimeError(f"the clients did not connect: {line!r}")
                ctx = Orchestra(sim, instances, clients, db_url, http, admin_token,
                                random.Random(7))  # fmt: skip
                sim.on_sent = ctx.on_sent
                first = await ctx.consumer()
                print(
                    f"{SELLERS * TABS_PER_SELLER} tabs on {len(instances)} instances "
                    f"(instance {first.name} consumes); load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                # Unscored: fill the caches (who sits at each extension, compiled statements,
                # PostgreSQL's plans) as a running service has them; the takeover starts cold.
                warm = await run_step(ctx, len(schedule), WARMUP_RATE_CPS, WARMUP_S, kill=False)
                print(f"warm-up: {warm['calls']} calls, {warm['logged']} logged", flush=True)
                for index, (rate, seconds) in enumerate(schedule):
                    # --quick kills a quarter in: the survivor (7-10 s later) still gets live calls.
                    row = await run_step(
                        ctx, index, rate, seconds, kill=index == kill_step,
                        kill_at=0.25 if args.quick else 0.5,
                    )  # fmt: skip
                    rows.append(row)
                    print_row(index, row)
                with contextlib.suppress(Exception):
                    tail = (folder / "a.log").read_text()[-2000:] + (folder / "b.log").read_text()[
                        -2000:
                    ]
                    errors = [ln for ln in tail.splitlines() if "error" in ln.lower()]
                    if errors:
                        print("instance log errors (tail):", *errors[-5:], sep="\n  ")
    finally:
        if clients is not None and clients.returncode is None:
            clients.kill()
            await clients.wait()
        for instance in instances:
            await instance.stop()
        await drop_database(args.postgres, db_name)
        client = redis.from_url(args.redis)
        async for key in client.scan_iter(f"{prefix}*"):
            await client.delete(key)
        await client.aclose()
    print(json.dumps(summarize(args, rows, started)))
    return 0


def summarize(
    args: argparse.Namespace, rows: list[dict[str, Any]], started: float
) -> dict[str, Any]:
    """The last line: every step, the highest clean rate, the takeover, the targets."""
    clean = [
        r["rate_cps"]
        for r in rows
        if r["matched"]
        and r["crm_lag_p99_ms"] is not None
        and r["crm_lag_p99_ms"] <= TARGET_CRM_LAG_P99_MS
    ]
    keeping_up = [
        r["ring_to_card_p99_ms"]
        for r in rows
        if r["crm_lag_p99_ms"] is not None and r["crm_lag_p99_ms"] <= TARGET_CRM_LAG_P99_MS
    ]
    takeover = next((r["takeover"] for r in rows if "takeover" in r), None)
    ring_p99 = max((p for p in keeping_up if p is not None), default=None)
    highest = max(clean, default=0.0)
    # What the target rate would keep busy, at the CPU per call of the fastest step that kept up
    # (slower steps spread the fixed costs, heartbeats and pollers, over fewer calls).
    per_call = [
        r["machine_cpu_ms_per_call"]
        for r in rows
        if r["rate_cps"] == highest and "machine_cpu_ms_per_call" in r
    ]
    cores_for_target = round(min(per_call) * TARGET_RATE_CPS / 1000, 2) if per_call else None
    return {
        "bench": "load",
        "quick": args.quick,
        "steps": rows,
        "highest_clean_rate_cps": highest,
        "ring_to_card_p99_ms_while_crm_keeps_up": ring_p99,
        "takeover": takeover,
        "cores_busy_at_target_rate": cores_for_target,
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "elapsed_s": round(time.time() - started, 1),
        "targets": {
            "counts": "exact at every step",
            "ring_to_card_p99_ms": TARGET_RING_TO_CARD_P99_MS,
            "crm_lag_p99_ms": TARGET_CRM_LAG_P99_MS,
            "rate_cps": TARGET_RATE_CPS,
        },
        "met": {
            "counts": all(r["matched"] for r in rows),
            "ring_to_card_p99_ms": ring_p99 is not None and ring_p99 <= TARGET_RING_TO_CARD_P99_MS,
            "rate_cps": highest >= TARGET_RATE_CPS,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one 15 s step at 30 calls a second")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("CTI_TEST_POSTGRES_URL"),
        help="PostgreSQL server URL (a fresh database is made on it and dropped after)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        default=os.environ.get("CTI_TEST_REDIS_URL"),
        help="Redis URL (the bench's keys live under a prefix of their own and are deleted)",
    )
    parser.add_argument(
        "--steps",
        metavar="RATExSECONDS,...",
        help="a custom ladder, e.g. 50x20,80x20 (no kill unless --kill-step)",
    )
    parser.add_argument(
        "--kill-step", type=int, default=-1, help="with --steps: the step (from 0) with the kill"
    )
    parser.add_argument("--role", choices=("orchestra", "clients"), default="orchestra")
    parser.add_argument("--urls")
    parser.add_argument("--tokens")
    parser.add_argument("--tabs", type=int, default=TABS_PER_SELLER)
    args = parser.parse_args()
    if args.role == "clients":
        asyncio.run(browsers(args))
        return 0
    if not args.postgres or not args.redis:
        parser.error("needs PostgreSQL and Redis: --postgres/--redis or CTI_TEST_POSTGRES_URL/"
                     "CTI_TEST_REDIS_URL")  # fmt: skip
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    sys.exit(main())
