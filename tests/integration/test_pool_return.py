"""The idle return on real SQLite and PostgreSQL: who returns, once, and who stays."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Contact, ContactPoolEvent, Deal, Stage
from crmlite.domain.pool import IDLE_REASON, PoolEventKind
from crmlite.domain.principal import SYSTEM, Principal
from crmlite.services.activities import ActivityService, CallDirection, CallLog, Parent
from crmlite.services.contacts import ContactChanges, ContactService
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.deals import DealService
from crmlite.services.pool_return import held_since_before, return_batch, return_idle_contacts
from crmlite.services.tasks import TaskChanges, TaskService
from tests.integration.crm_support import add_users

NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
IDLE = 30 * DAY


def at(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


async def held_contact(
    sessions: async_sessionmaker[AsyncSession], owner: Principal, since: dt.datetime, name: str
) -> int:
    async with sessions.begin() as db:
        contact = await ContactService(db, owner, clock=at(since)).create(name)
        return contact.id


async def stages(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """An open non-Unsorted stage and a won stage of the default pipeline."""
    async with sessions() as db:
        rows = (await db.execute(select(Stage.id, Stage.kind, Stage.is_unsorted))).all()
    open_stage = next(r.id for r in rows if r.kind == "open" and not r.is_unsorted)
    won = next(r.id for r in rows if r.kind == "won")
    return open_stage, won


async def pool_events(sessions: async_sessionmaker[AsyncSession], contact_id: int) -> list[str]:
    async with sessions() as db:
        return list(
            await db.scalars(
                select(ContactPoolEvent.kind)
                .where(ContactPoolEvent.contact_id == contact_id)
                .order_by(ContactPoolEvent.id)
            )
        )


async def test_an_idle_contact_returns_once_with_its_open_deals(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, head, _ = await add_users(sessions)
    open_stage, won = await stages(sessions)
    contact_id = await held_contact(sessions, anna, NOW - 40 * DAY, "Idle Ivan")
    async with sessions.begin() as db:
        deals = DealService(db, anna, clock=at(NOW - 40 * DAY))
        open_deal = await deals.create("Open", contact_id=contact_id, stage_id=open_stage)
        won_deal = await deals.create("Won", contact_id=contact_id, stage_id=won)
        # Boris' deal on the same contact is his: it stays with him.
        boris_deal = await DealService(db, head, clock=at(NOW - 40 * DAY)).create(
            "Boris'", contact_id=contact_id, stage_id=open_stage, owner_id=boris.user_id
        )

    first = await return_idle_contacts(sessions, now=NOW, idle=IDLE)
    again = await return_idle_contacts(sessions, now=NOW + DAY, idle=IDLE)

    assert (first.returned, first.deals) == (1, 1)
    assert again.returned == 0
    async with sessions() as db:
        contact = await db.get_one(Contact, contact_id)
        owners = {r.id: r.owner_id for r in await db.execute(select(Deal.id, Deal.owner_id))}
        event = await db.scalar(select(ContactPoolEvent))
    assert (contact.owner_id, contact.owned_since, contact.pooled_at) == (None, None, NOW)
    assert owners == {open_deal.id: None, won_deal.id: anna.user_id, boris_deal.id: boris.user_id}
    assert event is not None
    assert (event.kind, event.from_user_id, event.by_user_id, event.reason, event.at) == (
        "returned",
        anna.user_id,
        None,
        IDLE_REASON,
        NOW,
    )


Work = Callable[[AsyncSession, Principal, Principal, int, int], Awaitable[Any]]


async def _note(db: AsyncSession, owner: Principal, _o: Principal, contact: int, _d: int) -> None:
    await ActivityService(db, owner, clock=at(NOW - 5 * DAY)).add_note(
        Parent(contact_id=contact), "called about the offer"
    )


async def _call(db: AsyncSession, owner: Principal, _o: Principal, contact: int, _d: int) -> None:
    # Logged by the call side (no author), handled by the owner as the agent.
    await ActivityService(db, SYSTEM, clock=at(NOW - 5 * DAY)).log_call(
        Parent(contact_id=contact),
        CallLog(
            direction=CallDirection.INBOUND, from_number="+79160000000", agent_id=owner.user_id
        ),
    )


async def _task(db: AsyncSession, owner: Principal, _o: Principal, contact: int, _d: int) -> None:
    # Made two months ago, done by the owner five days ago: the completion is what counts.
    tasks = TaskService(db, owner, clock=at(NOW - 60 * DAY))
    task = await tasks.create("Send the price", parent=Parent(contact_id=contact))
    await TaskService(db, owner, clock=at(NOW - 5 * DAY)).update(task.id, TaskChanges(done=True))


async def _move(db: AsyncSession, owner: Principal, _o: Principal, _c: int, deal: int) -> None:
    won = await db.scalar(select(Stage.id).where(Stage.kind == "won"))
    assert won is not None
    await DealMoveService(db, owner, clock=at(NOW - 5 * DAY)).move(deal, won)


async def _colleague_note(
    db: AsyncSession, _owner: Principal, other: Principal, contact: int, _d: int
) -> None:
    await ActivityService(db, SYSTEM, clock=at(NOW - 5 * DAY)).add_note(
        Parent(contact_id=contact), "a colleague's note"
    )
    del other


async def _old_note(
    db: AsyncSession, owner: Principal, _o: Principal, contact: int, _d: int
) -> None:
    await ActivityService(db, owner, clock=at(NOW - 31 * DAY)).add_note(
        Parent(contact_id=contact), "last month"
    )


@pytest.mark.parametrize(
    ("work", "stays"),
    [
        (_note, True),
        (_call, True),
        (_task, True),
        (_move, True),
        (_colleague_note, False),  # somebody else's work does not keep it for the owner
        (_old_note, False),  # the owner's last touch is older than idle_days
    ],
    ids=["note", "call-as-agent", "done-task", "stage-move", "colleague-note", "old-note"],
)
async def test_the_owners_recent_activity_keeps_the_contact(
    sessions: async_sessionmaker[AsyncSession], work: Work, stays: bool
) -> None:
    anna, boris, _, _ = await add_users(sessions)
    open_stage, _ = await stages(sessions)
    contact_id = await held_contact(sessions, anna, NOW - 90 * DAY, "Worked Wanda")
    async with sessions.begin() as db:
        deal = await DealService(db, anna, clock=at(NOW - 90 * DAY)).create(
            "Offer", contact_id=contact_id, stage_id=open_stage
        )
    async with sessions.begin() as db:
        await work(db, anna, boris, contact_id, deal.id)

    done = await return_idle_contacts(sessions, now=NOW, idle=IDLE)

    assert done.returned == (0 if stays else 1)
    async with sessions() as db:
        owner = await db.scalar(select(Contact.owner_id).where(Contact.id == contact_id))
    assert owner == (anna.user_id if stays else None)


async def test_a_contact_held_for_less_than_idle_days_stays(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, _, head, _ = await add_users(sessions)
    old = await held_contact(sessions, anna, NOW - 200 * DAY, "Reassigned Rita")
    # A head gave it to Anna yesterday: her idle clock starts there.
    async with sessions.begin() as db:
        await ContactService(db, head, clock=at(NOW - 200 * DAY)).update(
            old, ContactChanges(owner_id=head.user_id)
        )
        await ContactService(db, head, clock=at(NOW - DAY)).update(
            old, ContactChanges(owner_id=anna.user_id)
        )

    done = await return_idle_contacts(sessions, now=NOW, idle=IDLE)

    assert done.returned == 0
    assert await pool_events(sessions, old) == []


class FailingAfter:
    """A session factory whose ``begin()`` fails after ``n`` units of work: a pass cut short."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], n: int) -> None:
        self._sessions = sessions
        self._left = n

    def __call__(self) -> AsyncSession:
        return self._sessions()

    def begin(self) -> Any:
        if self._left == 0:
            raise OperationalError("BEGIN", {}, Exception("the instance stopped"))
        self._left -= 1
        return self._sessions.begin()


async def test_a_pass_cut_short_and_run_again_returns_nobody_twice(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, _, _ = await add_users(sessions)
    ids = [
        await held_contact(sessions, owner, NOW - 40 * DAY, f"Idle {n}")
        for n, owner in enumerate([anna, boris, anna, boris, anna])
    ]
    cut_short = FailingAfter(sessions, 1)
    with pytest.raises(OperationalError):
        await return_idle_contacts(cut_short, now=NOW, idle=IDLE, batch_size=2)  # type: ignore[arg-type]
    async with sessions() as db:
        returned_first = await db.scalar(
            select(func.count()).select_from(Contact).where(Contact.pooled_at.is_not(None))
        )
    assert returned_first == 2  # the first batch committed, then the instance stopped

    done = await return_idle_contacts(sessions, now=NOW + dt.timedelta(minutes=5), idle=IDLE)

    assert done.returned == 3
    for contact_id in ids:
        assert await pool_events(sessions, contact_id) == [PoolEventKind.RETURNED.value]


async def test_work_done_after_the_pass_read_keeps_the_contact(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, _, _, _ = await add_users(sessions)
    contact_id = await held_contact(sessions, anna, NOW - 40 * DAY, "Late Lena")
    cutoff = NOW - IDLE
    async with sessions() as db:
        [seen] = await held_since_before(db, cutoff)
    assert seen.last_activity is None
    # Anna writes a note between the pass' read and its write.
    async with sessions.begin() as db:
        await ActivityService(db, anna, clock=at(NOW)).add_note(
            Parent(contact_id=contact_id), "she called back"
        )
    async with sessions.begin() as db:
        returned = await return_batch(db, [seen], now=NOW, cutoff=cutoff)
    assert returned == (0, 0)
    assert await pool_events(sessions, contact_id) == []
    async with sessions.begin() as db:
        again = await return_batch(db, [seen], now=NOW + 31 * DAY, cutoff=NOW + DAY)
    assert again == (1, 0)  # once her note is old too, the same guard lets it go
