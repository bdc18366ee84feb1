"""Demo data: users with extensions, pipelines, contacts and deals with a believable history.

Seeded through the CRM's own services (so every rule and the stage history hold), with a clock
moved back in time so the board and the reports have something to show. Idempotent: a database
that already has the demo users is left alone.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Stage, User
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import SYSTEM, Principal, Role
from crmlite.services.activities import ActivityService, CallDirection, CallLog, Parent
from crmlite.services.campaigns import add_cost, add_source, create_campaign
from crmlite.services.contacts import ContactService
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.deals import DealService
from crmlite.services.phones import PhoneInput
from crmlite.services.pipelines import PipelineService, StageInput
from crmlite.services.users import Identity, create_user, principal_of

DEMO_PASSWORD = "demo1234"  # noqa: S105 - the published demo password, shown on the login screen


@dataclass(frozen=True, slots=True)
class DemoUser:
    login: str
    name: str
    role: Role
    extension: str | None = None


DEMO_USERS = (
    DemoUser("admin", "Pavel Admin", Role.ADMIN),
    DemoUser("dana", "Dana Head", Role.HEAD),
    DemoUser("anna", "Anna Smirnova", Role.SELLER, "101"),
    DemoUser("boris", "Boris Ivanov", Role.SELLER, "102"),
    DemoUser("chen", "Chen Wei", Role.SELLER, "103"),
    DemoUser("dmitri", "Dmitri Orlov", Role.SELLER, "104"),
    DemoUser("elena", "Elena Popova", Role.SELLER, "105"),
)

CONTACTS = (
    ("Ирина Петрова", "ООО Ромашка", "+79161112233"),
    ("王伟", "华信贸易", "+79161234501"),
    ("علی رضایی", "Pars Trade", "+79161234502"),
    ("Ivan Petrov", "Northwind", "+79161234503"),
    ("Olga Kuznetsova", "Vector LLC", "+79161234504"),
    ("Sergey Volkov", "Volkov & Sons", "+79161234505"),
    ("李娜", "长城汽车经销", "+79161234506"),
    ("Maria Sokolova", None, "+79161234507"),
    ("Alexei Morozov", "AutoPark", "+79161234508"),
    ("Zahra Ahmadi", "Kavir Motors", "+79161234509"),
    ("Nikolai Fedorov", "Fedorov Logistics", "+79161234510"),
    ("Anastasia Lebedeva", "Lebedeva Design", "+79161234511"),
)

EXTRA_PIPELINES = {
    "New cars": (("Test drive", "open", 30), ("Offer", "open", 60), ("Contract", "open", 85)),
    "Used cars": (("Inspection", "open", 25), ("Price agreed", "open", 70)),
    "Service": (("Diagnosis", "open", 40), ("Repair", "open", 80)),
}
CLOSING = (("Won", "won", 100), ("Lost", "lost", 0))
LOSS_REASONS = ("Price too high", "Chose a competitor", "No budget", "Not reachable")


def demo_caller_numbers() -> tuple[str, ...]:
    """Numbers of seeded contacts: the simulator calls from them so known callers pop too."""
    return tuple(number for _, _, number in CONTACTS)


async def seed_demo(
    sessions: async_sessionmaker[AsyncSession], *, rules: PhoneRules, seed: int = 7
) -> bool:
    """Seed the demo data unless present; True when something was seeded."""
    async with sessions.begin() as db:
        if await db.scalar(select(User.id).where(User.login == "admin")) is not None:
            return False
        users = await _users(db)
    now = dt.datetime.now(dt.UTC)
    async with sessions.begin() as db:
        await _pipelines(db, now)
    async with sessions.begin() as db:
        await _contacts_and_deals(db, users, rules, random.Random(seed), now)  # noqa: S311 - demo data
    async with sessions.begin() as db:
        await _campaign(db, users["dana"], now)
    return True


async def _users(db: AsyncSession) -> dict[str, Principal]:
    principals: dict[str, Principal] = {}
    for user in DEMO_USERS:
        identities = (
            [
                Identity("extension", user.extension),
                Identity("interface", f"PJSIP/{user.extension}"),
            ]
            if user.extension
            else []
        )
        await create_user(
            db,
            SYSTEM,
            login=user.login,
            role=user.role,
            display_name=user.name,
            password=DEMO_PASSWORD,
            identities=identities,
        )
    rows = (await db.execute(select(User))).scalars().all()
    for row in rows:
        principals[row.login] = principal_of(row)
    return principals


async def _pipelines(db: AsyncSession, now: dt.datetime) -> None:
    pipelines = PipelineService(db, SYSTEM, clock=lambda: now)
    for name, stages in EXTRA_PIPELINES.items():
        await pipelines.create(
            name, [StageInput(n, kind, probability) for n, kind, probability in stages + CLOSING]
        )


class _Clock:
    """A clock the seeding moves forward through a deal's past."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


async def _contacts_and_deals(
    db: AsyncSession,
    users: dict[str, Principal],
    rules: PhoneRules,
    rng: random.Random,
    now: dt.datetime,
) -> None:
    sellers = [users[u.login] for u in DEMO_USERS if u.role is Role.SELLER]
    stages = (await db.execute(select(Stage).order_by(Stage.pipeline_id, Stage.position))).scalars()
    by_pipeline: dict[int, list[Stage]] = {}
    for stage in stages:
        by_pipeline.setdefault(stage.pipeline_id, []).append(stage)
    clock = _Clock(now)
    for index, (name, company, phone) in enumerate(CONTACTS):
        owner = sellers[index % len(sellers)]
        clock.at = now - dt.timedelta(days=rng.uniform(20, 60))
        contacts = ContactService(db, owner, rules, clock=clock)
        contact = await contacts.create(
            name, company=company, phones=[_phone(phone)], owner_id=owner.user_id
        )
        for _ in range(rng.choice((1, 1, 2))):
            pipeline_id = rng.choice(list(by_pipeline))
            await _deal_with_history(
                db, owner, contact.id, by_pipeline[pipeline_id], rng, clock, now, company or name
            )
        await _past_call(db, owner, contact.id, phone, rng, now)


def _phone(number: str) -> PhoneInput:
    return PhoneInput(number, label="mobile")


async def _deal_with_history(
    db: AsyncSession,
    owner: Principal,
    contact_id: int,
    stages: list[Stage],
    rng: random.Random,
    clock: _Clock,
    now: dt.datetime,
    label: str,
) -> None:
    open_stages = [s for s in stages if s.kind == "open" and not s.is_unsorted]
    won = next(s for s in stages if s.kind == "won")
    lost = next(s for s in stages if s.kind == "lost")
    clock.at = now - dt.timedelta(days=rng.uniform(10, 45))
    deals = DealService(db, owner, clock=clock)
    deal = await deals.create(
        f"{label}: {rng.choice(('fleet order', 'new model', 'trade-in', 'service contract'))}",
        pipeline_id=stages[0].pipeline_id,
        amount=str(rng.randrange(200, 5000) * 1000),
        currency="RUB",
        contact_id=contact_id,
        owner_id=owner.user_id,
        source=rng.choice(("call", "manual", "manual", "import")),
    )
    moves = DealMoveService(db, owner, clock=clock)
    depth = rng.randrange(0, len(open_stages) + 2)
    for stage in open_stages[:depth]:
        clock.at += dt.timedelta(days=rng.uniform(0.5, 6))
        if clock.at >= now:
            return
        await moves.move(deal.id, stage.id)
    if depth > len(open_stages):
        clock.at = min(now, clock.at + dt.timedelta(days=rng.uniform(0.5, 5)))
        if rng.random() < 0.6:
            await moves.move(deal.id, won.id)
        else:
            await moves.move(deal.id, lost.id, lost_reason=rng.choice(LOSS_REASONS))


async def _past_call(
    db: AsyncSession,
    owner: Principal,
    contact_id: int,
    phone: str,
    rng: random.Random,
    now: dt.datetime,
) -> None:
    started = now - dt.timedelta(days=rng.uniform(1, 9), hours=rng.uniform(0, 8))
    talk = rng.randrange(30, 600)
    await ActivityService(db, owner, clock=lambda: started).log_call(
        Parent(contact_id=contact_id),
        CallLog(
            direction=CallDirection.INBOUND,
            from_number=phone,
            to_number="+74951234567",
            started_at=started,
            answered_at=started + dt.timedelta(seconds=8),
            ended_at=started + dt.timedelta(seconds=8 + talk),
            duration_s=8 + talk,
            outcome="answered",
            agent_id=owner.user_id,
            body="Asked about delivery times",
        ),
    )


async def _campaign(db: AsyncSession, head: Principal, now: dt.datetime) -> None:
    campaign = await create_campaign(
        db, head, name="Search ads: sales line", channel="ads", now=now
    )
    await add_source(
        db,
        head,
        campaign.id,
        kind="did",
        value="+74951234567",
        active_from=now - dt.timedelta(days=90),
    )
    today = now.date()
    await add_cost(
        db,
        head,
        campaign.id,
        period_start=today - dt.timedelta(days=60),
        period_end=today,
        amount="150000",
        currency="RUB",
    )
