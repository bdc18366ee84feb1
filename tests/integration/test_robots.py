"""Stage robots on both databases: each step acts once per stay, and activity resets the clock."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.models import Deal, RobotEffect
from crmlite.services.activities import ActivityService, CallDirection, CallLog, Parent
from crmlite.services.contacts import ContactService
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.robot_runs import run_entry_robots, run_stuck_robots
from crmlite.services.robots import RobotInput, RobotService
from crmlite.services.stage_entries import ring_on_commit
from crmlite.services.stuck_deals import stuck_deals
from crmlite.services.tasks import TaskChanges, TaskService
from tests.integration.robot_support import START, RobotWorld, robot_world

DAY = dt.timedelta(days=1)


async def test_an_entry_robot_acts_once_per_stay_however_often_it_runs(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    world = await robot_world(sessions)
    await world.robot("Offer", "enter", "create_task", title="Send the offer", due_in=2)
    await world.robot("Offer", "enter", "set_field", probability=55, add_tag="offer")
    deal_id = await world.deal("Fleet of vans", at=START)
    await world.move(deal_id, "Offer", at=START + DAY)

    # The prompt path, the sweep, a replay and a second instance (its own engine and pool) at once.
    second = create_engine(database_url)
    try:
        runs = await asyncio.gather(
            run_entry_robots(sessions, now=START + DAY, deal_ids={deal_id}),
            run_entry_robots(session_factory(second), now=START + DAY),
            run_entry_robots(sessions, now=START + DAY),
            run_entry_robots(session_factory(second), now=START + DAY, deal_ids={deal_id}),
        )
    finally:
        await second.dispose()
    assert sum(len(r) for r in runs) == 2  # the two robots, each once
    assert await world.tasks(deal_id) == ["Send the offer"]
    async with sessions() as db:
        deal = await db.get(Deal, deal_id)
        assert deal is not None
        assert (deal.probability, deal.tags) == (55, ["offer"])
        task_due = await db.scalar(
            select(RobotEffect.task_id).where(RobotEffect.deal_id == deal_id).limit(1)
        )
    assert task_due is not None
    # Again later (a restart): nothing new.
    assert await run_entry_robots(sessions, now=START + 3 * DAY) == []
    assert await world.tasks(deal_id) == ["Send the offer"]

    # Out and back in is a new stay: the robots act again, once.
    await world.move(deal_id, "Qualify", at=START + 4 * DAY)
    await world.move(deal_id, "Offer", at=START + 5 * DAY)
    await run_entry_robots(sessions, now=START + 5 * DAY)
    await run_entry_robots(sessions, now=START + 5 * DAY)
    assert await world.tasks(deal_id) == ["Send the offer", "Send the offer"]
    assert len(await world.effects(deal_id)) == 4


async def test_entry_robots_skip_deals_that_entered_before_them_or_left(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    world = await robot_world(sessions)
    early = await world.deal("Entered before the robot", at=START - 2 * DAY)
    await world.move(early, "Offer", at=START - DAY)
    await world.robot("Offer", "enter", "notify_owner", message="New offer stage deal")
    gone = await world.deal("Left again", at=START)
    await world.move(gone, "Offer", at=START + dt.timedelta(hours=1))
    await world.move(gone, "Qualify", at=START + dt.timedelta(hours=2))
    assert await run_entry_robots(sessions, now=START + DAY) == []
    assert await world.effects(early) == []
    assert await world.effects(gone) == []


async def test_a_send_moves_the_deal_and_the_target_stage_robots_follow(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    world = await robot_world(sessions)
    await world.robot("Offer", "enter", "send_to_pipeline", pipeline_id=world.other_pipeline_id)
    await world.robot("Offer", "enter", "create_task", title="Before leaving")
    async with sessions.begin() as db:
        await RobotService(db, world.admin, clock=lambda: START).create(
            world.other_pipeline_id,
            world.other_stages["Onboard"],
            RobotInput("enter", "create_task", {"title": "Welcome call"}),
        )
    deal_id = await world.deal("Sent on", at=START)
    await world.move(deal_id, "Offer", at=START + DAY)
    first = await run_entry_robots(sessions, now=START + DAY)
    # The task runs before the send (a send ends the stay), then the deal is in Onboard.
    assert [n.action for n in first] == ["create_task", "send_to_pipeline"]
    async with sessions() as db:
        deal = await db.get(Deal, deal_id)
        assert deal is not None
        assert deal.stage_id == world.other_stages["Onboard"]
    await run_entry_robots(sessions, now=START + DAY)
    await run_entry_robots(sessions, now=START + DAY)
    assert await world.tasks(deal_id) == ["Before leaving", "Welcome call"]


async def test_calls_notes_and_done_tasks_reset_the_stuck_clock(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    world = await robot_world(sessions)
    await world.robot("Qualify", "stuck", "nudge", days=3, escalate_after_days=2, mark_stalled=True)
    async with sessions.begin() as db:
        contacts = ContactService(db, world.seller, clock=lambda: START)
        caller = await contacts.create("Rings In")
        quiet = await contacts.create("Stays Quiet")
    deals = {}
    for name, contact in (("called", caller.id), ("quiet", quiet.id), ("noted", None),
                          ("tasked", None), ("deal-call", None)):  # fmt: skip
        deals[name] = await world.deal(name, at=START, contact_id=contact)
        await world.move(deals[name], "Qualify", at=START)
    later = START + 2 * DAY
    async with sessions.begin() as db:
        activities = ActivityService(db, world.seller, clock=lambda: later)
        # An inbound call from the deal's contact, logged on the contact only.
        await activities.log_call(
            Parent(contact_id=caller.id),
            CallLog(CallDirection.INBOUND, from_number="+74951234567", started_at=later),
        )
        await activities.log_call(
            Parent(deal_id=deals["deal-call"]),
            CallLog(CallDirection.OUTBOUND, to_number="+74951234568", started_at=later),
        )
        await activities.add_note(Parent(deal_id=deals["noted"]), "Sent the brochure")
        tasks = TaskService(db, world.seller, clock=lambda: later)
        task = await tasks.create("Prepare", parent=Parent(deal_id=deals["tasked"]))
        await tasks.update(task.id, TaskChanges(done=True))

    fired = await run_stuck_robots(sessions, now=START + 4 * DAY)
    assert {(n.deal_id, n.step) for n in fired} == {(deals["quiet"], "nudge")}
    nudge = fired[0]
    assert nudge.user_ids == (world.seller.user_id,)
    assert nudge.idle_days == 4
    assert await world.tasks(deals["quiet"]) == ["Stuck deal: quiet"]
    assert await world.tasks(deals["called"]) == []
    listed = await _stuck(sessions, world, START + 4 * DAY)
    assert listed == {deals["quiet"]: (4, True)}

    # Replays and restarts add nothing; two days on the quiet one escalates, the rest nudge.
    assert await run_stuck_robots(sessions, now=START + 4 * DAY) == []
    fired = await run_stuck_robots(sessions, now=START + 5 * DAY)
    steps = sorted((n.step, n.deal_id) for n in fired)
    assert steps == sorted(
        [("escalate", deals["quiet"])]
        + [("nudge", deals[n]) for n in ("called", "noted", "tasked", "deal-call")]
    )
    escalation = next(n for n in fired if n.step == "escalate")
    assert escalation.user_ids == (world.head.user_id,)
    again = await asyncio.gather(*(run_stuck_robots(sessions, now=START + 9 * DAY)
                                   for _ in range(3)))  # fmt: skip
    assert sorted(n.deal_id for run in again for n in run) == sorted(
        deals[n] for n in ("called", "noted", "tasked", "deal-call")
    )  # their escalations, once each
    async with sessions() as db:
        steps_done = list(await db.scalars(select(RobotEffect.step).order_by(RobotEffect.id)))
    assert sorted(steps_done) == ["escalate"] * 5 + ["nudge"] * 5


async def _stuck(
    sessions: async_sessionmaker[AsyncSession], world: RobotWorld, now: dt.datetime
) -> dict[int, tuple[int, bool]]:
    async with sessions() as db:
        found = await stuck_deals(db, world.head, now)
        mine = await stuck_deals(db, world.other, now)
    assert mine == []  # a seller sees only their own
    return {s.deal_id: (s.idle_days, s.stalled) for s in found}


async def test_a_committed_move_rings_the_robots_and_a_rolled_back_one_does_not(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    heard: list[frozenset[int]] = []
    ring_on_commit(sessions, heard.append)
    world = await robot_world(sessions)
    deal_id = await world.deal("Bell", at=START)
    assert heard == [frozenset({deal_id})]  # its first placement is an entry too
    await world.move(deal_id, "Offer", at=START + DAY)
    assert heard[-1] == frozenset({deal_id})
    before = len(heard)
    async with sessions() as db:
        await DealMoveService(db, world.seller, clock=lambda: START + 2 * DAY).move(
            deal_id, world.stages["Qualify"]
        )
        await db.rollback()
    async with sessions.begin() as db:
        await ActivityService(db, world.seller).add_note(Parent(deal_id=deal_id), "no move")
    assert len(heard) == before
