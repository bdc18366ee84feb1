"""The demo's six months of history: every report, the board and the pool show something real on
first open, for the head of sales and for a seller, and the same seed seeds the same data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.migrate import upgrade
from crmlite.db.models import (
    Activity,
    BoardTotal,
    Contact,
    ContactEmail,
    ContactPoolEvent,
    Deal,
    DealStageChange,
    Pipeline,
    Stage,
    TelephonyIdentity,
    User,
)
from crmlite.domain.principal import Role
from crmlite.services.pool_return import return_idle_contacts
from cti.demo import DEMO_PASSWORD, DEMO_USERS, demo_caller_numbers, seed_demo
from tests.support.api import ApiClient, ApiHarness, ApiUser

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


async def _count(db: AsyncSession, model: type, *where: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _login(api: ApiHarness, login: str) -> ApiClient:
    async with api.sessions() as db:
        user = await db.scalar(select(User).where(User.login == login))
    assert user is not None
    return await api.browser(ApiUser(user.id, login, Role(user.role), DEMO_PASSWORD))


def _window(days: int = 30) -> dict[str, str]:
    """The reports screen's first window: the last 30 days up to tomorrow."""
    return {
        "since": (NOW - dt.timedelta(days=days)).isoformat(),
        "until": (NOW + dt.timedelta(days=1)).isoformat(),
    }


async def _get(client: ApiClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status == 200, (path, response.text)
    return response.json()


async def test_every_report_board_and_pool_show_the_history(api: ApiHarness) -> None:
    summary = await seed_demo(api.sessions, now=NOW)
    assert summary is not None
    assert 280 <= summary.contacts <= 320
    assert summary.deals == 400
    async with api.sessions() as db:
        pipeline_id = await db.scalar(select(Pipeline.id).where(Pipeline.is_default.is_(True)))
    dana, anna = await _login(api, "dana"), await _login(api, "anna")
    window = {**_window(), "pipeline_id": pipeline_id}
    for who in (dana, anna):
        funnel = await _get(who, "/api/v1/reports/funnel", **window)
        assert funnel["deals"] > 0
        assert funnel["stages"][0]["reached"] > 0
        assert funnel["won"] + funnel["lost"] > 0
        stays = await _get(who, "/api/v1/reports/time-in-stage", **window)
        assert sum(s["stays"] for s in stays) > 0
        assert any(s["median_s"] for s in stays)
        sales = await _get(who, "/api/v1/reports/sales", **window)
        assert sales["won"] > 0
        assert sales["average_cycle_s"] > 0
        assert Decimal(sales["currencies"]["RUB"]["velocity_per_day"]) > 0
        forecast = await _get(who, "/api/v1/reports/forecast", **window)
        assert Decimal(forecast["configured_total"]["RUB"]) > 0
        losses = await _get(who, "/api/v1/reports/loss-reasons", **window)
        assert any(row["reason"] for row in losses)
        calls = await _get(who, "/api/v1/reports/calls", **_window())
        assert calls["calls"] > 0
        assert calls["answered"] > 0
        speed = await _get(who, "/api/v1/reports/speed-to-lead", **_window(60))
        assert speed["responded"] > 0
        assert speed["median_s"] > 0
        missed = await _get(who, "/api/v1/reports/missed-calls", **_window(60))
        assert missed["missed"] > 0
        assert missed["called_back"] > 0
        assert missed["breached"] > 0
        board = await _get(who, f"/api/v1/board/{pipeline_id}")
        assert sum(1 for column in board["columns"] if column["count"] > 0) >= 4
    # The head sees the campaigns, the missed calls nobody called back and every seller.
    missed = await _get(dana, "/api/v1/reports/missed-calls", **_window(60))
    assert missed["never_called_back"] > 0
    assert missed["open_breaches"]
    calls = await _get(dana, "/api/v1/reports/calls", **_window())
    assert len([s for s in calls["sellers"] if s["agent_id"]]) == 5
    campaigns = await _get(dana, "/api/v1/reports/campaigns", **_window())
    assert len(campaigns) >= 3
    assert any(c["leads"] and c["calls"] and c["cost"] for c in campaigns)
    plan = await _get(dana, "/api/v1/reports/campaign-plan", **window, leads=100)
    assert plan["steps"]
    assert plan["won"] > 0
    assert Decimal(plan["revenue"]["RUB"]) > 0
    tasks = await _get(anna, "/api/v1/tasks", open="true")
    assert tasks["total"] > 0


async def test_history_spans_six_months_and_the_triggers_kept_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    assert await seed_demo(sessions, now=NOW) is not None
    async with sessions() as db:
        first, last = (
            await db.execute(
                select(func.min(DealStageChange.changed_at), func.max(DealStageChange.changed_at))
            )
        ).one()
        changes = await _count(db, DealStageChange)
        stays = await _count(db, DealStageChange, DealStageChange.stay_s.is_not(None))
        firsts = await _count(db, DealStageChange, DealStageChange.first_visit.is_(True))
        totals = await db.scalar(select(func.sum(BoardTotal.deals)))
        deals = await _count(db, Deal)
        pooled = await _count(
            db, Contact, Contact.owner_id.is_(None), Contact.pooled_at.is_not(None)
        )
        events = await _count(db, ContactPoolEvent)
        released = await _count(db, ContactPoolEvent, ContactPoolEvent.reason.is_not(None))
        kinds = dict(
            (await db.execute(select(Activity.kind, func.count()).group_by(Activity.kind))).all()
        )
        outcomes = set(await db.scalars(select(Activity.outcome).where(Activity.kind == "call")))
        overdue = await _count(
            db, Activity, Activity.kind == "task", Activity.done_at.is_(None), Activity.due_at < NOW
        )
        won_lost = dict(
            (
                await db.execute(select(Stage.kind, func.count()).join(Deal).group_by(Stage.kind))
            ).all()
        )
        extensions = set(
            await db.scalars(
                select(TelephonyIdentity.value).where(TelephonyIdentity.kind == "extension")
            )
        )
    assert dt.timedelta(days=170) < NOW - first < dt.timedelta(days=190)
    assert last < NOW
    # Every change but each deal's current stage has a stay; each deal entered its first stage.
    assert stays == changes - deals
    assert firsts >= deals
    assert totals == deals
    assert pooled >= 10
    assert events == pooled
    assert 0 < released < events
    assert kinds["call"] > 500
    assert kinds["task"] > 100
    assert kinds["note"] > 0
    assert {"answered", "missed", "busy", "no-answer"} <= outcomes
    assert overdue > 0
    assert won_lost["won"] > 40
    assert won_lost["lost"] > 30
    assert won_lost["open"] > 100
    assert extensions == {"101", "102", "103", "104", "105"}


async def test_duplicates_wait_to_be_merged(sessions: async_sessionmaker[AsyncSession]) -> None:
    await seed_demo(sessions, now=NOW)
    async with sessions() as db:
        names = list(await db.scalars(select(Contact.name)))
        emails = (
            await db.execute(
                select(ContactEmail.normalized, func.count(func.distinct(ContactEmail.address)))
                .group_by(ContactEmail.normalized)
                .having(func.count() > 1)
            )
        ).all()
    assert {"Ivan Petrov", "Иван Петров"} <= set(names)
    assert names.count("王伟") >= 2
    assert any(spellings > 1 for _, spellings in emails), "the same email in another case"


async def test_the_pool_return_leaves_the_sellers_their_books(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The demo starts the pool's idle return at once: it must not empty the sellers' books."""
    await seed_demo(sessions, now=NOW)
    async with sessions() as db:
        pooled = await _count(db, Contact, Contact.pooled_at.is_not(None))
    result = await return_idle_contacts(sessions, now=NOW, idle=dt.timedelta(days=30))
    assert result.returned == 0
    async with sessions() as db:
        assert await _count(db, Contact, Contact.pooled_at.is_not(None)) == pooled > 0


async def test_seeding_runs_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    assert await seed_demo(sessions, now=NOW) is not None
    async with sessions() as db:
        deals = await _count(db, Deal)
        users = await _count(db, User)
    assert await seed_demo(sessions, now=NOW) is None
    async with sessions() as db:
        assert await _count(db, Deal) == deals
        assert await _count(db, User) == users == len(DEMO_USERS)


async def _fingerprint(db: AsyncSession) -> list[Any]:
    contacts = (await db.execute(select(Contact.name, Contact.owner_id, Contact.created_at)
                                 .order_by(Contact.id))).all()  # fmt: skip
    deals = (await db.execute(select(Deal.title, Deal.amount, Deal.stage_id, Deal.closed_at)
                              .order_by(Deal.id))).all()  # fmt: skip
    calls = (await db.execute(select(Activity.kind, Activity.outcome, Activity.started_at,
                                     Activity.duration_s).order_by(Activity.id))).all()  # fmt: skip
    return [contacts, deals, calls]


async def test_the_same_seed_seeds_the_same_data(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Any
) -> None:
    other = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'twin.db'}")
    try:
        await upgrade(other)
        twin = session_factory(other)
        await seed_demo(sessions, now=NOW, seed=11)
        await seed_demo(twin, now=NOW, seed=11)
        async with sessions() as db, twin() as twin_db:
            assert await _fingerprint(db) == await _fingerprint(twin_db)
        elsewhere = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
        await upgrade(elsewhere)
        await seed_demo(session_factory(elsewhere), now=NOW, seed=12)
        async with session_factory(elsewhere)() as db, twin() as twin_db:
            assert await _fingerprint(db) != await _fingerprint(twin_db)
        await elsewhere.dispose()
    finally:
        await other.dispose()


def test_the_simulator_calls_from_seeded_numbers() -> None:
    numbers = demo_caller_numbers()
    assert len(numbers) == len(set(numbers)) >= 20
    assert all(n.startswith("+") for n in numbers)


async def test_the_demo_speaks_the_install_language(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed_demo(sessions, now=NOW, locale="fa")
    async with sessions() as db:
        pipelines = set(await db.scalars(select(Pipeline.name)))
        unsorted = set(await db.scalars(select(Stage.name).where(Stage.is_unsorted.is_(True))))
        titles = list(await db.scalars(select(Deal.title).where(Deal.source == "call")))
        reasons = set(
            await db.scalars(select(Deal.lost_reason).where(Deal.lost_reason.is_not(None)))
        )
        tasks = list(await db.scalars(select(Activity.title).where(Activity.kind == "task")))
    assert pipelines == {"فروش", "خودروی نو", "خودروی کارکرده", "خدمات"}
    assert unsorted == {"دسته‌بندی‌نشده"}
    assert titles
    assert all(title.startswith("تماس از ") for title in titles)
    assert reasons <= {"قیمت بالا", "رقیب را انتخاب کرد", "بودجه ندارد", "در دسترس نبود"}
    assert any(task.startswith("تماس بی‌پاسخ از ") for task in tasks)
