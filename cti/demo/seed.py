"""Seed six months of believable history in a few seconds: people, pipelines, campaigns, contacts
(some in the public pool, some entered twice), deals walking their stages, calls and tasks.

Users and campaigns go through the CRM's services; the bulk of the history goes in with Core
executemany inserts, oldest first, so the database's own triggers keep the stays, first visits
(migration 0004) and board totals (migration 0002) exactly as live use would. Runs once: a
database that already has the demo users is left alone.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import (
    Activity,
    Base,
    BoardTotal,
    Contact,
    ContactEmail,
    ContactPhone,
    ContactPoolEvent,
    Deal,
    DealStageChange,
    Pipeline,
    Stage,
    User,
)
from crmlite.domain.principal import Principal
from crmlite.domain.product_text import ProductText, product_text
from crmlite.services.campaigns import add_cost, add_source, create_campaign
from crmlite.services.standard_pipeline import localize_standard_pipeline
from cti.demo.calls import CallPlanner
from cti.demo.deals import ContactRef, DealPlan, PipelinePlan, StageSlot, plan_deals
from cti.demo.people import NumberPlan, Person, draw_people, duplicate_pairs
from cti.demo.quotes import seed_quotes
from cti.demo.users import DEMO_USERS, create_demo_users
from cti.demo.vocabulary import DemoWords, demo_words

HISTORY = dt.timedelta(days=182)
CONTACTS = 288  # plus the duplicate pairs: about 300
DEALS = 400
POOL_SHARE = 0.1
# Campaign DIDs and the web form's source, in the order of DemoWords.campaigns.
SOURCES = (("did", "+74951234567"), ("did", "+74951234568"), ("web_form", "site"),
           ("did", "+74951234569"))  # fmt: skip
MONTHLY_COST = (90_000, 40_000, 15_000, 60_000)


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What was seeded, for the command's last line."""

    contacts: int
    pooled: int
    deals: int
    stage_changes: int
    activities: int

    def to_dict(self) -> dict[str, int]:
        return {
            "contacts": self.contacts,
            "pooled": self.pooled,
            "deals": self.deals,
            "stage_changes": self.stage_changes,
            "activities": self.activities,
        }


def demo_people(seed: int) -> tuple[list[Person], list[tuple[Person, Person]]]:
    """The demo's customers for ``seed``: the same list every time (the simulator calls them)."""
    rng = random.Random(f"{seed}:people")  # noqa: S311 - demo data, not secrets
    numbers = NumberPlan(rng)
    return draw_people(rng, CONTACTS, numbers), duplicate_pairs(numbers)


async def seed_demo(
    sessions: async_sessionmaker[AsyncSession],
    *,
    seed: int = 7,
    locale: str = "en",
    now: dt.datetime | None = None,
) -> DemoSummary | None:
    """Seed the demo unless its users exist; what was seeded, or None when it was there."""
    moment = now or dt.datetime.now(dt.UTC)
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    text, words = product_text(locale), demo_words(locale)
    async with sessions.begin() as db:
        if await db.scalar(select(User.id).where(User.login == "admin")) is not None:
            return None
        users = await create_demo_users(db, moment - HISTORY - dt.timedelta(days=7))
        await localize_standard_pipeline(db, text)
        pipelines = await _pipelines(db, text, words, moment - HISTORY)
        campaigns = await _campaigns(db, users["dana"], words, moment)
        ids = {login: user.user_id for login, user in users.items() if user.user_id is not None}
        sellers = [ids[u.login] for u in DEMO_USERS if u.extension]
        people, pairs = demo_people(seed)
        contacts, pooled = await _contacts(
            db, rng, moment, (people, pairs), sellers, campaigns, words
        )
        deals = plan_deals(rng, moment, contacts, pipelines, words, text, DEALS)
        deal_ids = await _deals(db, deals)
        changes = await _stage_changes(db, deals, deal_ids)
        extensions = {ids[u.login]: u.extension for u in DEMO_USERS if u.extension}
        planner = CallPlanner(rng, moment, dict(zip(campaigns, _dids(), strict=False)),
                              extensions, words, text)  # fmt: skip
        for deal, deal_id in zip(deals, deal_ids, strict=True):
            planner.deal_history(deal, deal_id)
        _calls_without_deals(planner, rng, moment, contacts, pooled)
        rows = planner.ordered()
        await db.execute(insert(_table(Activity)), rows)
        await _check_triggers(db, len(deals))
        quotable = [i for d, i in zip(deals, deal_ids, strict=True) if _quotable(d)]
        await seed_quotes(db, random.Random(f"{seed}:quotes"), moment, quotable, locale=locale)  # noqa: S311
    return DemoSummary(len(contacts), len(pooled), len(deals), changes, len(rows))


def _quotable(deal: DealPlan) -> bool:
    """An open deal a seller works on: the kind a quote is made for."""
    return deal.stage.kind == "open" and not deal.stage.is_unsorted and deal.owner_id is not None


def _table(model: type[Base]) -> Table:
    """The model's table: Core executemany, one statement per batch (the ORM's bulk path splits
    rows by which columns are None)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


async def _insert_returning_ids(
    db: AsyncSession, model: type[Base], rows: list[dict[str, object]]
) -> list[int]:
    """Insert ``rows`` in one executemany with ids given here; the ids, in the rows' order.

    Explicit ids, because RETURNING in parameter order makes SQLite insert row by row. The
    transaction already wrote (the users), so it holds the write lock while it counts.
    """
    table = _table(model)
    first = int(await db.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
    ids = list(range(first, first + len(rows)))
    await db.execute(insert(table), [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
    if db.get_bind().dialect.name == "postgresql":
        # Explicit ids do not move the sequence: move it past them.
        await db.execute(
            select(func.setval(func.pg_get_serial_sequence(table.name, "id"), ids[-1]))
        )
    return ids


def _dids() -> list[str]:
    return [value if kind == "did" else "+74951234567" for kind, value in SOURCES]


async def _pipelines(
    db: AsyncSession, text: ProductText, words: DemoWords, created: dt.datetime
) -> list[PipelinePlan]:
    """The standard pipeline and the demo's three, named in the install's language."""
    first = await db.scalar(select(func.coalesce(func.max(Pipeline.position), 0)))
    for offset, (name, steps) in enumerate(words.pipelines.items(), start=1):
        pipeline_id = await db.scalar(
            insert(Pipeline)
            .values(
                name=name, position=int(first or 0) + offset, is_default=False, created_at=created
            )
            .returning(Pipeline.id)
        )
        rows = [(text.stage("unsorted"), "open", 0), *steps,
                (text.stage("won"), "won", 100), (text.stage("lost"), "lost", 0)]  # fmt: skip
        await db.execute(
            insert(_table(Stage)),
            [
                {
                    "pipeline_id": pipeline_id,
                    "name": stage,
                    "position": position,
                    "kind": kind,
                    "probability": probability,
                    "is_unsorted": position == 0,
                }
                for position, (stage, kind, probability) in enumerate(rows)
            ],
        )
    result = await db.execute(
        select(Pipeline.id, Pipeline.is_default, Stage.id, Stage.kind, Stage.is_unsorted)
        .join(Stage, Stage.pipeline_id == Pipeline.id)
        .where(Stage.archived_at.is_(None))
        .order_by(Pipeline.position, Pipeline.id, Stage.position)
    )
    stages: dict[int, list[StageSlot]] = {}
    default: dict[int, bool] = {}
    for pipeline_id, is_default, stage_id, kind, unsorted in result:
        stages.setdefault(pipeline_id, []).append(StageSlot(stage_id, kind, unsorted))
        default[pipeline_id] = is_default
    return [
        PipelinePlan(
            pipeline_id,
            tuple(slots),
            weight=55 if default[pipeline_id] else 15,
            amounts=(150_000, 2_500_000) if default[pipeline_id] else (20_000, 900_000),
        )
        for pipeline_id, slots in stages.items()
        if slots[0].is_unsorted and len(slots) > 3
    ]


async def _campaigns(
    db: AsyncSession, head: Principal, words: DemoWords, now: dt.datetime
) -> list[int]:
    """Four campaigns with their numbers (or web form) and a cost for every month."""
    ids: list[int] = []
    start = (now - HISTORY).date().replace(day=1)
    for index, name in enumerate(words.campaigns):
        kind, value = SOURCES[index]
        created = now - HISTORY if index < 3 else now - dt.timedelta(days=75)
        campaign = await create_campaign(db, head, name=name, channel=kind, now=created)
        await add_source(db, head, campaign.id, kind=kind, value=value, active_from=created)
        month = start if index < 3 else created.date().replace(day=1)
        while month <= now.date():
            following = (month + dt.timedelta(days=32)).replace(day=1)
            await add_cost(db, head, campaign.id, period_start=month,
                           period_end=following - dt.timedelta(days=1),
                           amount=str(MONTHLY_COST[index]), currency="RUB")  # fmt: skip
            month = following
        ids.append(campaign.id)
    return ids


def _national(e164: str) -> str:
    """How the number was typed: national digits, the way people write it."""
    parsed = phonenumbers.parse(e164)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


async def _contacts(
    db: AsyncSession,
    rng: random.Random,
    now: dt.datetime,
    drawn: tuple[list[Person], list[tuple[Person, Person]]],
    sellers: Sequence[int],
    campaigns: Sequence[int],
    words: DemoWords,
) -> tuple[list[ContactRef], list[tuple[ContactRef, int]]]:
    """Insert the contacts with phones and emails; every contact, and the pooled ones."""
    people, pairs = drawn
    everyone = people + [person for pair in pairs for person in pair]
    rows, refs_in = [], []
    for index, person in enumerate(everyone):
        # A steady stream over six months, a little busier lately.
        age = HISTORY * (1 - rng.random() ** 0.8)
        created = now - age - dt.timedelta(hours=1)
        campaign = rng.choice(campaigns) if rng.random() < 0.7 else None
        in_pool = index < len(people) and age > dt.timedelta(days=45) and rng.random() < POOL_SHARE
        owner = None if in_pool else sellers[rng.randrange(len(sellers))]
        pooled_at = created + (age - dt.timedelta(days=rng.uniform(1, 30))) if in_pool else None
        rows.append(
            {
                "name": person.name,
                "company": person.company,
                "email": person.email,
                "owner_id": owner,
                "created_at": created,
                "updated_at": pooled_at or created,
                "first_campaign_id": campaign,
                "latest_campaign_id": campaign,
                # A held contact changed hands or was worked within the last three weeks (no
                # draw: the seed's sequence stays), so the pool's idle return, which runs as the
                # demo starts, leaves the sellers their books on first open.
                "owned_since": None
                if in_pool
                else max(created, now - dt.timedelta(days=1 + index % 21)),
                "pooled_at": pooled_at,
            }
        )
        refs_in.append((person, created, campaign, owner, in_pool))
    ids = await _insert_returning_ids(db, Contact, rows)
    phones, emails, events = [], [], []
    refs: list[ContactRef] = []
    pooled: list[tuple[ContactRef, int]] = []  # with the seller who held it last
    for contact_id, (person, created, campaign, owner, in_pool) in zip(ids, refs_in, strict=True):
        for number in person.phones:
            phones.append({"contact_id": contact_id, "raw": _national(number),
                           "normalized": number, "kind": "e164",
                           "label": rng.choice(("mobile", "work"))})  # fmt: skip
        if person.email:
            emails.append({"contact_id": contact_id, "address": person.email,
                           "normalized": person.email.lower()})  # fmt: skip
        ref = ContactRef(contact_id, person.name, person.company, owner, created,
                         person.phones[0], campaign)  # fmt: skip
        refs.append(ref)
        if in_pool:
            previous = sellers[rng.randrange(len(sellers))]
            pooled.append((ref, previous))
            events.append(_pool_event(rng, contact_id, rows[len(refs) - 1], previous, words))
    await db.execute(insert(_table(ContactPhone)), phones)
    await db.execute(insert(_table(ContactEmail)), emails)
    if events:
        await db.execute(insert(_table(ContactPoolEvent)), events)
    return refs, pooled


def _pool_event(
    rng: random.Random,
    contact_id: int,
    row: dict[str, object],
    previous: int,
    words: DemoWords,
) -> dict[str, object]:
    """How a pooled contact got there: the idle rule took it back, or its seller let it go."""
    returned = rng.random() < 0.6
    return {
        "contact_id": contact_id,
        "kind": "returned" if returned else "released",
        "from_user_id": previous,
        "to_user_id": None,
        "by_user_id": None if returned else previous,
        "reason": None if returned else rng.choice(words.pool_release_reasons),
        "at": row["pooled_at"],
    }


async def _deals(db: AsyncSession, deals: list[DealPlan]) -> list[int]:
    """Insert the deals in their current stage (the board-totals trigger counts each)."""
    ordered = sorted(range(len(deals)), key=lambda i: deals[i].created_at)
    rows = [deals[i].row() for i in ordered]
    ids = await _insert_returning_ids(db, Deal, rows)
    by_plan = dict(zip(ordered, ids, strict=True))
    return [by_plan[i] for i in range(len(deals))]


async def _stage_changes(db: AsyncSession, deals: list[DealPlan], ids: list[int]) -> int:
    """Insert every stage change, oldest first: the stays trigger pairs each with the next."""
    rows = []
    for deal, deal_id in zip(deals, ids, strict=True):
        previous: int | None = None
        for stage, at in deal.path:
            rows.append({"deal_id": deal_id, "from_stage_id": previous, "to_stage_id": stage.id,
                         "changed_at": at, "changed_by_id": deal.owner_id})  # fmt: skip
            previous = stage.id
    rows.sort(key=lambda row: (row["changed_at"], row["deal_id"]))
    await db.execute(insert(_table(DealStageChange)), rows)
    return len(rows)


def _calls_without_deals(
    planner: CallPlanner,
    rng: random.Random,
    now: dt.datetime,
    contacts: list[ContactRef],
    pooled: list[tuple[ContactRef, int]],
) -> None:
    """Calls that made no deal: questions, wrong numbers, and the pool's old conversations."""
    for contact in contacts:
        if contact.owner_id is None or rng.random() > 0.35:
            continue
        at = contact.created_at + dt.timedelta(days=rng.uniform(0, 40))
        if at >= now:
            continue
        if rng.random() < 0.25:
            planner.missed(contact, None, contact.owner_id, at)
        else:
            planner.call(contact, None, contact.owner_id, inbound=True, at=at, outcome="answered")
    for contact, seller in pooled:
        # Calls of the seller who held it, before it went back to the pool.
        at = contact.created_at + dt.timedelta(hours=rng.uniform(1, 72))
        outcome = rng.choice(("answered", "no-answer", "busy"))
        planner.call(contact, None, seller, inbound=False, at=at, outcome=outcome)


async def _check_triggers(db: AsyncSession, deals: int) -> None:
    """The triggers did their part: board totals count every deal; closed stays have lengths."""
    counted = await db.scalar(select(func.coalesce(func.sum(BoardTotal.deals), 0)))
    if int(counted or 0) != deals:
        raise RuntimeError(f"board totals count {counted} deals, {deals} were seeded")
    unpaired = await db.scalar(
        select(func.count())
        .select_from(DealStageChange)
        .where(DealStageChange.left_at.is_not(None), DealStageChange.stay_s.is_(None))
    )
    if unpaired:
        raise RuntimeError(f"{unpaired} stage changes have an end but no stay length")
