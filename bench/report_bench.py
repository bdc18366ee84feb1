"""Time every report on a large SQLite data set: 1,000,000 stage changes (``--quick``: 100,000).

    .venv/bin/python bench/report_bench.py --quick
    .venv/bin/python bench/report_bench.py --db /tmp/reports.db --keep   # seed once, rerun fast

The deals come from the CRM bench's data set (bench/dataset.py: 100,000 contacts, 100,000 deals
over three pipelines, 1,000,000 stage changes) when it is there, else from a similar generator
here; on top: 10 campaigns with costs and touches, and 200,000 calls from the contacts' numbers.
Each report runs ``--repeat`` times (a fresh session each); best and median wall times print,
and the least CPU time (SQLite runs in this process, so it shows the work done even when other
processes share the cores). The target: every report under 500 ms (best wall time) on the
biggest pipeline, whole team, for the last quarter and for all time (the worst case), and for
one seller. Ends with one JSON line of the figures and the target.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.migrate import upgrade
from crmlite.db.models import (
    Activity,
    Campaign,
    CampaignCost,
    Contact,
    Deal,
    DealStageChange,
    Pipeline,
    Stage,
    User,
)
from crmlite.domain.reports import ReportScope
from crmlite.services import campaign_reports, reports, reports_calls, reports_speed

try:
    from bench.dataset import seed_crm  # the CRM bench's data set
except ImportError:  # pragma: no cover - only while that bench is absent
    seed_crm = None

TARGET_MS = 500.0
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
START = END - dt.timedelta(days=365)
STAGES = [
    ("Unsorted", "open", 5, True),
    ("Lead", "open", 10, False),
    ("Qualified", "open", 25, False),
    ("Demo", "open", 40, False),
    ("Proposal", "open", 60, False),
    ("Negotiation", "open", 80, False),
    ("Won", "won", 100, False),
    ("Lost", "lost", 0, False),
]
OPEN_STAGES = 6
REASONS = ["price", "competitor", "no budget", "timing", None]
CURRENCIES = ["RUB"] * 8 + ["USD", "EUR"]
SELLERS = 20
CAMPAIGNS = 10
BATCH = 20_000


def _at(offset_s: float) -> dt.datetime:
    return START + dt.timedelta(seconds=offset_s)


async def _insert_many(engine: AsyncEngine, table: Any, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as connection:
        for start in range(0, len(rows), BATCH):
            await connection.execute(insert(table), rows[start : start + BATCH])


async def seed(engine: AsyncEngine, deals: int, calls: int, rng: random.Random) -> None:
    """Fill an empty migrated database: the CRM data set, campaigns, touches and calls."""
    if seed_crm is not None:
        await seed_crm(engine, contacts=deals, deals=deals, stage_changes=deals * 10, now=END)
    else:
        await _seed_own_crm(engine, deals, rng)
    async with engine.begin() as connection:
        campaigns = []
        for index in range(CAMPAIGNS):
            campaign_id = (
                await connection.execute(
                    insert(Campaign)
                    .values(name=f"Campaign {index}", active=True, created_at=START)
                    .returning(Campaign.id)
                )
            ).scalar_one()
            campaigns.append(int(campaign_id))
            await connection.execute(
                insert(CampaignCost).values(
                    campaign_id=campaign_id, period_start=START.date(), period_end=END.date(),
                    amount=Decimal(100_000 * (index + 1)), currency="RUB",
                )
            )  # fmt: skip
        # Six deals and contacts in ten came through a campaign (first touch = latest here).
        for table in (Deal.__table__, Contact.__table__):
            touched = (table.c.id % 10) < 6
            await connection.execute(
                table.update()
                .where(touched)
                .values(
                    first_campaign_id=campaigns[0] + table.c.id % CAMPAIGNS,
                    latest_campaign_id=campaigns[0] + table.c.id % CAMPAIGNS,
                )
            )
        sellers = list(
            (await connection.execute(select(User.id).where(User.role == "seller"))).scalars()
        )
    await _insert_many(engine, Activity, _calls(calls, sellers, campaigns, rng))
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


async def _seed_own_crm(engine: AsyncEngine, deals: int, rng: random.Random) -> None:
    """Users, a pipeline, contacts, deals and their stage history, like bench/dataset.py's."""
    async with engine.begin() as connection:
        pipeline_id = (
            await connection.execute(
                insert(Pipeline)
                .values(name="Bench", position=5, is_default=False, created_at=START)
                .returning(Pipeline.id)
            )
        ).scalar_one()
        stage_ids = [
            (
                await connection.execute(
                    insert(Stage)
                    .values(
                        pipeline_id=pipeline_id, name=name, position=position, kind=kind,
                        probability=probability, is_unsorted=unsorted,
                    )
                    .returning(Stage.id)
                )
            ).scalar_one()
            for position, (name, kind, probability, unsorted) in enumerate(STAGES)
        ]  # fmt: skip
        await connection.execute(
            insert(User),
            [
                {
                    "login": f"bench{i}", "display_name": f"Bench {i}", "locale": "en",
                    "role": "head" if i == 0 else "seller", "active": True, "created_at": START,
                }
                for i in range(SELLERS + 1)
            ],
        )  # fmt: skip
        sellers = list(
            (await connection.execute(select(User.id).where(User.role == "seller"))).scalars()
        )
    span = (END - START).total_seconds()
    contacts, deal_rows, changes = [], [], []
    for index in range(deals):
        born = rng.uniform(0, span * 0.97)
        contacts.append(
            {
                "id": index + 1, "name": f"Contact {index}", "owner_id": rng.choice(sellers),
                "created_at": _at(born), "updated_at": _at(born),
            }
        )  # fmt: skip
        position, moment = 0 if rng.random() < 0.3 else 1, born
        ending = rng.random()
        path = [(stage_ids[position], moment)]
        for move in range(9):
            moment += rng.expovariate(1 / (2.5 * 86400))
            if move == 8 and ending < 0.6:
                position = 6 if ending < 0.25 else 7
            else:
                step = 1 if rng.random() < 0.7 else -1
                position = min(max(position + step, 1), OPEN_STAGES - 1)
            path.append((stage_ids[position], moment))
        closed = path[-1][1] if position >= OPEN_STAGES else None
        deal_rows.append(
            {
                "id": index + 1, "title": f"Deal {index}",
                "amount": Decimal(rng.randrange(10, 5_000) * 100),
                "currency": rng.choice(CURRENCIES), "contact_id": index + 1,
                "owner_id": rng.choice(sellers), "pipeline_id": pipeline_id,
                "stage_id": stage_ids[position], "source": "manual",
                "lost_reason": rng.choice(REASONS) if position == 7 else None,
                "created_at": _at(born), "updated_at": _at(path[-1][1]),
                "stage_entered_at": _at(path[-1][1]),
                "closed_at": None if closed is None else _at(closed), "version": 1,
            }
        )  # fmt: skip
        previous = None
        for stage_id, moved in path:
            changes.append(
                {
                    "deal_id": index + 1, "from_stage_id": previous, "to_stage_id": stage_id,
                    "changed_at": _at(moved), "changed_by_id": None,
                }
            )  # fmt: skip
            previous = stage_id
    await _insert_many(engine, Contact, contacts)
    await _insert_many(engine, Deal, deal_rows)
    await _insert_many(engine, DealStageChange, changes)


def _calls(
    count: int, sellers: list[int], campaigns: list[int], rng: random.Random
) -> list[dict[str, Any]]:
    """Calls over the data set's span from 30% as many numbers (those of the first contacts)."""
    span = (END - START).total_seconds()
    numbers = [f"+79{n:09d}" for n in range(max(count * 3 // 10, 1))]
    rows = []
    for _ in range(count):
        started = _at(rng.uniform(0, span))
        number = rng.choice(numbers)
        inbound = rng.random() < 0.7
        answered = rng.random() < (0.7 if inbound else 0.6)
        agent = rng.choice(sellers) if answered or not inbound else None
        rows.append(
            {
                "kind": "call", "direction": "inbound" if inbound else "outbound",
                "created_at": started, "started_at": started,
                "from_number": number if inbound else "101",
                "to_number": "+74950000001" if inbound else number,
                "answered_at": started + dt.timedelta(seconds=12) if answered else None,
                "duration_s": rng.randrange(20, 600) if answered else 0,
                "outcome": "answered" if answered else "missed", "agent_id": agent,
                "campaign_id": rng.choice(campaigns) if inbound and rng.random() < 0.5 else None,
            }
        )  # fmt: skip
    return rows


Report = Callable[[AsyncSession], Awaitable[object]]


def reports_to_time(pipeline_id: int, seller_id: int) -> dict[str, Report]:
    everything = ReportScope(pipeline_id, START, END + dt.timedelta(days=1))
    quarter = ReportScope(pipeline_id, END - dt.timedelta(days=90), END + dt.timedelta(days=1))
    one_seller = ReportScope(pipeline_id, START, END + dt.timedelta(days=1), seller_id)
    sla = dt.timedelta(minutes=15)
    return {
        "funnel": lambda s: reports.funnel_report(s, everything),
        "funnel (quarter)": lambda s: reports.funnel_report(s, quarter),
        "funnel (one seller)": lambda s: reports.funnel_report(s, one_seller),
        "time in stage": lambda s: reports.time_in_stage_report(s, everything),
        "time in stage (quarter)": lambda s: reports.time_in_stage_report(s, quarter),
        "time in stage (one seller)": lambda s: reports.time_in_stage_report(s, one_seller),
        "sales summary + velocity": lambda s: reports.sales_summary(s, everything),
        "forecast (configured + learned)": lambda s: reports.forecast_report(s, everything),
        "loss reasons": lambda s: reports.loss_reasons_report(s, everything),
        "calls per seller": lambda s: reports_calls.calls_report(s, everything),
        "speed to lead": lambda s: reports_speed.speed_to_lead_report(s, everything),
        "speed to lead (quarter)": lambda s: reports_speed.speed_to_lead_report(s, quarter),
        "missed calls + SLA": lambda s: reports_calls.missed_calls_report(
            s, everything, sla=sla, now=END
        ),
        "missed calls + SLA (quarter)": lambda s: reports_calls.missed_calls_report(
            s, quarter, sla=sla, now=END
        ),
        "SLA escalations (last week)": lambda s: reports_calls.sla_escalations(s, now=END, sla=sla),
        "campaigns": lambda s: campaign_reports.campaign_report(s, everything),
        "planned campaign": lambda s: campaign_reports.planned_campaign_forecast(
            s, everything, leads=100
        ),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    deals = 10_000 if args.quick else 100_000
    calls = 20_000 if args.quick else 200_000
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "reports.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        async with sessions() as session:
            seeded = await session.scalar(select(func.count()).select_from(Campaign))
        if not seeded:
            began = time.perf_counter()
            await seed(engine, deals, calls, random.Random(5))
            print(f"seeded {deals:,} deals in {time.perf_counter() - began:.1f} s into {path}")
        async with sessions() as session:
            pipeline_id = await session.scalar(
                select(Deal.pipeline_id)
                .group_by(Deal.pipeline_id)
                .order_by(func.count().desc())
                .limit(1)
            )
            deals_in_pipeline = await session.scalar(
                select(func.count()).where(Deal.pipeline_id == pipeline_id)
            )
            counts = {
                "contacts": await session.scalar(select(func.count()).select_from(Contact)),
                "deals": await session.scalar(select(func.count()).select_from(Deal)),
                "stage_changes": await session.scalar(
                    select(func.count()).select_from(DealStageChange)
                ),
                "calls": await session.scalar(select(func.count()).select_from(Activity)),
            }
            seller_id = await session.scalar(
                select(User.id).where(User.role == "seller").order_by(User.id).limit(1)
            )
        print(", ".join(f"{name} {n:,}" for name, n in counts.items()))
        print(f"reports on pipeline {pipeline_id} ({deals_in_pipeline:,} deals)")
        figures: dict[str, dict[str, float]] = {}
        for name, report in reports_to_time(int(pipeline_id), int(seller_id or 0)).items():
            times, cpu = [], []
            for _ in range(args.repeat):
                async with sessions() as session:
                    began, began_cpu = time.perf_counter(), time.process_time()
                    await report(session)
                    times.append((time.perf_counter() - began) * 1000)
                    cpu.append((time.process_time() - began_cpu) * 1000)
            best, median = min(times), statistics.median(times)
            figures[name] = {
                "best_ms": round(best, 1),
                "median_ms": round(median, 1),
                "cpu_ms": round(min(cpu), 1),
            }
            verdict = "ok" if best < TARGET_MS else "SLOW"
            print(
                f"{name:34s} best {best:7.1f} ms  median {median:7.1f} ms  "
                f"cpu {min(cpu):7.1f} ms  {verdict}"
            )
    finally:
        await engine.dispose()
        if not args.keep and not args.db:
            shutil.rmtree(path.parent, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores (wall times stretch with it)")
    return {
        "bench": "reports",
        "load_average": round(load, 1),
        "quick": args.quick,
        "data": counts,
        "reports": figures,
        "target_best_ms": TARGET_MS,
        "all_within_target": all(f["best_ms"] < TARGET_MS for f in figures.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="10,000 deals, 100,000 changes")
    parser.add_argument("--db", help="SQLite file to use (seeded when it has no bench data)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
