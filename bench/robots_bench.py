"""Time the stage robots on a stage full of deals (SQLite; PostgreSQL with ``--postgres URL``).

    .venv/bin/python bench/robots_bench.py --quick        # 10,000 deals in the watched stage
    .venv/bin/python bench/robots_bench.py                # 100,000

One pipeline stage holds N open deals (a note or a call on every third one) and carries an entry
robot (a task) and a stuck robot (nudge after 3 days); the steps of all but a backlog of deals are
already recorded, as in a service that has caught up. Measured: how many entry robots and nudges
fire per second on the backlog (each its own transaction with its effect row), the scheduled
pass's entry sweep and stuck scan with nothing left to do (what every pass costs: the stuck clock
over every deal of the stage, with its activity subqueries), and the heads' stuck list. Targets:
the idle sweep and the stuck scan under 2 s at 100,000 deals, so a five-minute pass stays a small
part of the time. Ends with one JSON line of the figures and targets.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.migrate import upgrade
from crmlite.db.models import Activity, Deal, RobotEffect, Stage, StageRobot, User
from crmlite.domain.principal import Principal, Role
from crmlite.domain.robots import Step, entry_key, step_effect
from crmlite.services.pipelines import PipelineService, StageInput
from crmlite.services.robot_runs import run_entry_robots, run_stuck_robots
from crmlite.services.robots import RobotInput, RobotService
from crmlite.services.stuck_deals import stuck_deals

NOW = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
TARGET_S = 2.0


async def _seed(url: str, deals: int) -> tuple[Any, int]:
    engine = create_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    async with sessions.begin() as db:
        user = User(login="bench", display_name="Bench", role="head", locale="en", active=True,
                    created_at=NOW)  # fmt: skip
        db.add(user)
        await db.flush()
        head = Principal(user.id, "bench", Role.HEAD)
        pipeline = await PipelineService(db, head, clock=lambda: NOW).create(
            "Bench robots", [StageInput("Watched")]
        )
        stage_id = await db.scalar(
            select(Stage.id).where(Stage.pipeline_id == pipeline.id, Stage.name == "Watched")
        )
        assert stage_id is not None
        robots = RobotService(db, head, clock=lambda: NOW - dt.timedelta(days=5))
        await robots.create(
            pipeline.id, stage_id, RobotInput("enter", "create_task", {"title": "Go"})
        )
        await robots.create(pipeline.id, stage_id, RobotInput("stuck", "nudge", {"days": 3}))
        rows = []
        for n in range(deals):
            entered = NOW - dt.timedelta(days=10 - (n % 10), minutes=n % 997)
            rows.append({"title": f"Deal {n}", "amount": 0, "currency": "RUB", "owner_id": user.id,
                         "pipeline_id": pipeline.id, "stage_id": stage_id, "source": "manual",
                         "created_at": entered, "updated_at": entered,
                         "stage_entered_at": entered, "version": 1})  # fmt: skip
        await db.execute(insert(Deal), rows)
        ids = list(await db.scalars(select(Deal.id).where(Deal.stage_id == stage_id)))
        touched = NOW - dt.timedelta(days=1)
        notes = [{"kind": "note" if i % 2 else "call", "deal_id": deal_id, "body": "touch",
                  "created_at": touched} for i, deal_id in enumerate(ids[::3])]  # fmt: skip
        await db.execute(insert(Activity), notes)
    return engine, stage_id


async def _timed(work: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await work
    return time.perf_counter() - start, result


async def _mark_done(sessions: Any, stage_id: int, keep: int) -> None:
    """Record every step as done but for ``keep`` deals: a service that has caught up."""
    async with sessions.begin() as db:
        robots = dict((await db.execute(select(StageRobot.trigger, StageRobot.id))).all())
        await db.execute(
            update(StageRobot).where(StageRobot.id == robots["enter"]).values(active_since=NOW)
        )
        deals = (
            await db.execute(
                select(Deal.id, Deal.stage_entered_at)
                .where(Deal.stage_id == stage_id)
                .order_by(Deal.id)
            )
        ).all()
        fresh = [deal_id for deal_id, _ in deals[:keep]]
        await db.execute(update(Deal).where(Deal.id.in_(fresh)).values(stage_entered_at=NOW))
        effects = [
            {"entry_key": entry_key(deal_id, stage_id, entered), "effect": step_effect(
                robots["stuck"], Step.NUDGE), "robot_id": robots["stuck"], "deal_id": deal_id,
             "stage_id": stage_id, "entered_at": entered, "step": "nudge", "outcome": "done",
             "stalled": False, "created_at": NOW}
            for deal_id, entered in deals[keep * 2 :]
        ]  # fmt: skip
        for start in range(0, len(effects), 5_000):
            await db.execute(insert(RobotEffect), effects[start : start + 5_000])


async def run(url: str, deals: int, backlog: int) -> dict[str, Any]:
    engine, stage_id = await _seed(url, deals)
    sessions = session_factory(engine)
    await _mark_done(sessions, stage_id, backlog)
    fire_s, fired = await _timed(run_entry_robots(sessions, now=NOW))
    idle_s, idle = await _timed(run_entry_robots(sessions, now=NOW))
    stuck_s, nudged = await _timed(run_stuck_robots(sessions, now=NOW))
    again_s, _ = await _timed(run_stuck_robots(sessions, now=NOW))
    async with sessions() as db:
        head = Principal(1, "bench", Role.HEAD)
        list_s, listed = await _timed(stuck_deals(db, head, NOW))
    await engine.dispose()
    return {
        "backend": url.split(":", 1)[0],
        "deals": deals,
        "entry_fired": len(fired),
        "entry_fires_per_s": round(len(fired) / fire_s, 1) if fire_s else None,
        "entry_sweep_idle_s": round(idle_s, 3),
        "entry_sweep_idle_found": len(idle),
        "stuck_nudged": len(nudged),
        "stuck_nudges_per_s": round(len(nudged) / stuck_s, 1) if stuck_s else None,
        "stuck_pass_caught_up_s": round(again_s, 3),
        "stuck_list_s": round(list_s, 3),
        "stuck_listed": len(listed),
        "target_pass_s": TARGET_S,
        "met": idle_s < TARGET_S and again_s < TARGET_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="10,000 deals instead of 100,000")
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL to run on instead")
    args = parser.parse_args()
    deals = 10_000 if args.quick else 100_000
    backlog = 200 if args.quick else 1_000
    with tempfile.TemporaryDirectory() as folder:
        url = args.postgres or f"sqlite+aiosqlite:///{folder}/robots.db"
        result = asyncio.run(run(url, deals, backlog))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
