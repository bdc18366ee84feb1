"""Calls into CRM data, and the dialplan's route lookup, against a database with many contacts.

Seeds ``--contacts`` contacts (each with a phone, an owner and the owner's extension), then:

* route lookups: ``responsible_seller`` for random known and unknown numbers (what
  ``GET /api/v1/route`` does per inbound call): p50/p99 in ms;
* calls: ring-all queue calls from new callers through ``CallToCrm`` (started, three agents
  ringing, answered, ended: every effect written once), and the same calls replayed (every effect
  found, nothing written): per-event p50/p99 in ms, events per second and this process's CPU per
  event, one event after another;
* paced: new callers' calls offered at ``--rate`` calls a second as the app runs them (per-call
  ordered lanes, as many at once as ``cti.telephony.crm_concurrency`` allows; a call's events 0.1 s
  apart, its answer 1 s and its end 2 s after its start): the CRM lag (an event's due time ->
  its effects committed) p50/p99, the calls and events per second achieved, CPU per event.

SQLite in a temporary file by default; ``--postgres URL`` (or CTI_TEST_POSTGRES_URL) adds a run
on a fresh PostgreSQL database. Usage: ``python bench/call_crm_bench.py [--quick]``; the last line
is one JSON object with the figures and their targets.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from crmlite.db.checkpoints import WalCheckpointer  # noqa: E402
from crmlite.db.engine import create_engine, session_factory  # noqa: E402
from crmlite.db.inline_sqlite import lane_engine  # noqa: E402
from crmlite.db.migrate import upgrade  # noqa: E402
from crmlite.db.models import Contact, ContactPhone, TelephonyIdentity, User  # noqa: E402
from crmlite.domain.phones import PhoneRules  # noqa: E402
from crmlite.services.call_catalog import CallCatalogCache  # noqa: E402
from crmlite.services.call_routing import responsible_seller  # noqa: E402
from crmlite.services.telephony_users import TelephonyUserCache  # noqa: E402
from cti.lanes import OrderedLanes  # noqa: E402
from cti.rules.book import RuleBook  # noqa: E402
from cti.rules.call_to_crm import CallToCrm  # noqa: E402
from cti.rules.executor import RuleExecutor  # noqa: E402
from cti.web.call_crm import lane_retries  # noqa: E402
from tests.integration.call_support import inbound_call, ring_all_answered  # noqa: E402

TARGET_ROUTE_P99_MS = 5.0
TARGET_EVENT_P99_MS = 50.0
TARGET_RATE_CPS = 100.0  # new-caller ring-all queue calls a second (about 600 call events)
TARGET_LAG_P99_MS = 250.0
POOL_SIZE = 10  # the default [database] pool_size
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _seed(sessions: Any, contacts: int) -> list[str]:
    async with sessions.begin() as session:
        await session.execute(
            insert(User),
            [
                {"login": f"seller{i}", "display_name": f"Seller {i}", "role": "seller",
                 "locale": "en", "active": True, "created_at": NOW}
                for i in range(100, 150)
            ],
        )  # fmt: skip
        users = list(await session.scalars(select(User.id).order_by(User.id)))
        await session.execute(
            insert(TelephonyIdentity),
            [
                {"user_id": uid, "kind": "extension", "value": str(100 + i)}
                for i, uid in enumerate(users)
            ],
        )
        numbers = [f"+7916{n:07d}" for n in range(contacts)]
        for start in range(0, contacts, 5000):
            chunk = numbers[start : start + 5000]
            await session.execute(
                insert(Contact),
                [
                    {"name": f"Client {start + i}", "owner_id": users[(start + i) % len(users)],
                     "created_at": NOW, "updated_at": NOW}
                    for i in range(len(chunk))
                ],
            )  # fmt: skip
        ids = list(await session.scalars(select(Contact.id).order_by(Contact.id)))
        for start in range(0, contacts, 5000):
            await session.execute(
                insert(ContactPhone),
                [
                    {"contact_id": cid, "raw": number, "normalized": number, "kind": "e164"}
                    for cid, number in zip(
                        ids[start : start + 5000], numbers[start : start + 5000], strict=True
                    )
                ],
            )  # fmt: skip
    return numbers


async def _paced(crm: CallToCrm, rate: float, seconds: float, running: int) -> dict[str, Any]:
    """Offer new callers' calls at ``rate`` a second through per-call lanes; lag and throughput."""
    lanes = OrderedLanes(name="bench", max_running=running)
    lags: list[float] = []
    offsets = (0.0, 0.1, 0.2, 0.3, 1.0, 1.0, 1.0, 2.0)  # started, 3 ringing, 2 stop, answer, end
    loop = asyncio.get_running_loop()
    began = loop.time()
    cpu = time.process_time()

    async def one_call(n: int, start: float) -> None:
        call = inbound_call(f"paced.{n}", caller=f"+7925{n:07d}")
        for event, offset in zip(ring_all_answered(call, answered_by="101"), offsets, strict=True):
            due = start + offset
            await asyncio.sleep(max(0.0, due - loop.time()))

            async def job(event: Any = event, due: float = due) -> None:
                await crm.handle(event)
                lags.append((loop.time() - due) * 1000)

            await lanes.submit(event.linkedid, job)

    total = int(rate * seconds)
    callers = [asyncio.create_task(one_call(n, began + n / rate)) for n in range(total)]
    await asyncio.gather(*callers)
    await lanes.join()
    elapsed = loop.time() - began
    cpu_ms = (time.process_time() - cpu) * 1000
    return {
        "offered_cps": rate,
        "calls": total,
        "achieved_cps": round(total / max(elapsed - offsets[-1], 1e-9), 1),
        "events_per_s": round(len(lags) / max(elapsed, 1e-9), 1),
        "lag_p50_ms": round(statistics.median(lags), 2),
        "lag_p99_ms": round(_percentile(lags, 0.99), 2),
        "cpu_ms_per_event": round(cpu_ms / len(lags), 3),
        "lane_failures": lanes.failures,
    }


async def _run(
    url: str,
    label: str,
    contacts: int,
    lookups: int,
    calls: int,
    *,
    user_cache: bool = True,
    inline_lane: bool = True,
    rate: float = TARGET_RATE_CPS,
    seconds: float = 5.0,
) -> dict[str, Any]:
    # As `cti serve` composes it: on SQLite the WAL is checkpointed by a worker thread every
    # second, never inside a commit (an inline checkpoint would stall the loop's lane).
    engine = create_engine(url, pool_size=POOL_SIZE, background_checkpoints=True)
    checkpointer = WalCheckpointer(engine)
    await checkpointer.start()
    await upgrade(engine)
    sessions = session_factory(engine)
    numbers = await _seed(sessions, contacts)
    # As the app runs them: on SQLite the call path (route lookups, the lane) on the loop's thread.
    inline = lane_engine(engine) if inline_lane else None
    path_sessions = session_factory(inline) if inline is not None else sessions
    rng = random.Random(7)
    route_ms: list[float] = []
    found = 0
    for index in range(lookups):
        number = rng.choice(numbers) if index % 4 else f"+7999{rng.randrange(10**7):07d}"
        start = time.perf_counter()
        async with path_sessions() as session:
            seller = await responsible_seller(session, number)
        route_ms.append((time.perf_counter() - start) * 1000)
        found += seller is not None
    phones = PhoneRules("RU")
    users = TelephonyUserCache() if user_cache else None  # as the app runs it (one process)
    catalog = CallCatalogCache() if user_cache else None
    executor = RuleExecutor(phones, users=users, catalog=catalog)
    attempts, backoff_s = lane_retries(inline is not None)
    crm = CallToCrm(
        path_sessions, RuleBook(phones), executor, attempts=attempts, backoff_s=backoff_s
    )
    all_events = [
        ring_all_answered(inbound_call(f"bench.{n}", caller=f"+7926{n:07d}"), answered_by="101")
        for n in range(calls)
    ]
    timings: dict[str, list[float]] = {"first": [], "replay": []}
    for phase in ("first", "replay"):
        started = time.perf_counter()
        cpu = time.process_time()
        for events in all_events:
            for event in events:
                t0 = time.perf_counter()
                await crm.handle(event)
                timings[phase].append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
        timings[f"{phase}_rate"] = [len(timings[phase]) / elapsed]
        timings[f"{phase}_cpu"] = [(time.process_time() - cpu) * 1000 / len(timings[phase])]
    # As cti.telephony.crm_concurrency runs them: one writer on SQLite, the pool on PostgreSQL.
    paced = await _paced(crm, rate, seconds, 1 if url.startswith("sqlite") else POOL_SIZE)
    if inline is not None:
        await inline.dispose()
    await checkpointer.stop()
    await engine.dispose()
    figures = {
        "backend": label,
        "user_cache": user_cache,
        "inline_lane": inline is not None,
        "contacts": contacts,
        "route_p50_ms": round(statistics.median(route_ms), 3),
        "route_p99_ms": round(_percentile(route_ms, 0.99), 3),
        "route_found": found,
        "route_lookups": lookups,
        "event_p50_ms": round(statistics.median(timings["first"]), 3),
        "event_p99_ms": round(_percentile(timings["first"], 0.99), 3),
        "events_per_s": round(timings["first_rate"][0], 1),
        "replay_event_p50_ms": round(statistics.median(timings["replay"]), 3),
        "replay_event_p99_ms": round(_percentile(timings["replay"], 0.99), 3),
        "replay_events_per_s": round(timings["replay_rate"][0], 1),
        "cpu_ms_per_event": round(timings["first_cpu"][0], 3),
        "replay_cpu_ms_per_event": round(timings["replay_cpu"][0], 3),
        "paced": paced,
    }
    print(
        f"[{label}] {contacts} contacts: route p50 {figures['route_p50_ms']} ms, "
        f"p99 {figures['route_p99_ms']} ms ({found}/{lookups} found); "
        f"call events p50 {figures['event_p50_ms']} ms, p99 {figures['event_p99_ms']} ms, "
        f"{figures['events_per_s']}/s; replayed p50 {figures['replay_event_p50_ms']} ms, "
        f"p99 {figures['replay_event_p99_ms']} ms, {figures['replay_events_per_s']}/s; "
        f"CPU {figures['cpu_ms_per_event']} ms/event\n"
        f"[{label}] paced {paced['offered_cps']} calls/s for {seconds} s: achieved "
        f"{paced['achieved_cps']} calls/s ({paced['events_per_s']} events/s), CRM lag p50 "
        f"{paced['lag_p50_ms']} ms, p99 {paced['lag_p99_ms']} ms, CPU "
        f"{paced['cpu_ms_per_event']} ms/event",
        flush=True,
    )
    return figures


async def _postgres(
    base: str,
    contacts: int,
    lookups: int,
    calls: int,
    *,
    user_cache: bool,
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    name = f"cti_bench_{uuid.uuid4().hex[:8]}"
    dsn = base.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
    admin = await asyncpg.connect(dsn + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return await _run(
            base.rsplit("/", 1)[0] + "/" + name,
            "postgresql",
            contacts,
            lookups,
            calls,
            user_cache=user_cache,
            rate=rate,
            seconds=seconds,
        )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, well under a minute")
    parser.add_argument("--postgres", default=os.environ.get("CTI_TEST_POSTGRES_URL", ""))
    parser.add_argument(
        "--no-user-cache",
        dest="user_cache",
        action="store_false",
        help="no per-process caches (users, stages, campaigns): ask the database every event",
    )
    parser.add_argument(
        "--aiosqlite-lane",
        dest="inline_lane",
        action="store_false",
        help="SQLite: run the lane through aiosqlite's worker thread, as before the inline lane",
    )
    parser.add_argument("--rate", type=float, default=TARGET_RATE_CPS, help="paced calls/s")
    args = parser.parse_args()
    contacts, lookups, calls = (20_000, 1_000, 100) if args.quick else (200_000, 5_000, 500)
    seconds = 5.0 if args.quick else 30.0
    pacing = {"user_cache": args.user_cache, "rate": args.rate, "seconds": seconds}
    lane = {"inline_lane": args.inline_lane}
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        runs.append(await _run(url, "sqlite", contacts, lookups, calls, **pacing, **lane))
    if args.postgres:
        runs.append(await _postgres(args.postgres, contacts, lookups, calls, **pacing))
    met = {
        "route_p99_ms": all(r["route_p99_ms"] < TARGET_ROUTE_P99_MS for r in runs),
        "event_p99_ms": all(r["event_p99_ms"] < TARGET_EVENT_P99_MS for r in runs),
        "rate_cps": all(r["paced"]["achieved_cps"] >= TARGET_RATE_CPS * 0.98 for r in runs),
        "lag_p99_ms": all(r["paced"]["lag_p99_ms"] <= TARGET_LAG_P99_MS for r in runs),
    }
    print(
        json.dumps(
            {
                "bench": "call_crm",
                "runs": runs,
                "targets": {
                    "route_p99_ms": TARGET_ROUTE_P99_MS,
                    "event_p99_ms": TARGET_EVENT_P99_MS,
                    "rate_cps": TARGET_RATE_CPS,
                    "lag_p99_ms": TARGET_LAG_P99_MS,
                },
                "met": met,
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
