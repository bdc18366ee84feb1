"""Call reports against the hand-computed January example (docs/REPORTS.md), on every backend."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity
from crmlite.domain.errors import InvalidInput
from crmlite.domain.reports import ReportScope
from crmlite.services.reports_calls import (
    calls_report,
    missed_calls_report,
    sla_escalations,
)
from crmlite.services.reports_speed import speed_to_lead_report
from tests.integration.reports_world import C0, C4, FEB, JAN, NOW, World, at, build_world

pytestmark = pytest.mark.db

SLA = dt.timedelta(minutes=15)


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> World:
    return await build_world(sessions)


def scope(seller: int | None = None) -> ReportScope:
    return ReportScope(pipeline_id=None, since=JAN, until=FEB, seller_id=seller)


async def test_calls_per_seller_and_answer_rate(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        report = await calls_report(session, scope())
    rows = [
        (s.agent_id, s.calls, s.answered, s.answer_rate, s.inbound, s.inbound_answered,
         s.outbound, s.talk_s)
        for s in report.sellers
    ]  # fmt: skip
    assert rows == [
        (world.anna, 4, 3, 0.75, 2, 2, 2, 180),
        (world.boris, 2, 2, 1.0, 1, 1, 1, 120),
        (None, 5, 0, 0.0, 5, 0, 0, 0),
    ]
    assert (report.calls, report.answered, report.answer_rate) == (11, 5, 0.4545)
    assert report.sellers[0].agent_name == "Anna"


async def test_calls_of_one_seller(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        report = await calls_report(session, scope(world.boris))
    assert [(s.agent_id, s.calls) for s in report.sellers] == [(world.boris, 2)]
    assert (report.calls, report.answered, report.answer_rate) == (2, 2, 1.0)


async def test_speed_to_lead(sessions: async_sessionmaker[AsyncSession], world: World) -> None:
    async with sessions() as session:
        everyone = await speed_to_lead_report(session, scope())
        anna = await speed_to_lead_report(session, scope(world.anna))
        boris = await speed_to_lead_report(session, scope(world.boris))
    assert (everyone.leads, everyone.responded) == (5, 4)
    assert (everyone.median_s, everyone.p90_s, everyone.average_s) == (455.0, 1440.0, 682.5)
    assert (anna.leads, anna.responded, anna.median_s, anna.p90_s) == (2, 2, 910.0, 1622.0)
    assert (boris.leads, boris.median_s, boris.p90_s, boris.average_s) == (2, 455.0, 571.0, 455.0)


async def test_missed_calls_and_sla_breaches(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        report = await missed_calls_report(session, scope(), sla=SLA, now=NOW)
        relaxed = await missed_calls_report(session, scope(), sla=dt.timedelta(minutes=40), now=NOW)
    assert (report.missed, report.called_back, report.never_called_back) == (5, 3, 2)
    assert (report.within_sla, report.breached, report.sla_s) == (2, 3, 900)
    assert [(b.caller, b.missed_at, b.deadline) for b in report.open_breaches] == [
        (C4, at(1, 5, 13), at(1, 5, 13, 15)),
        (C0, at(1, 7, 9), at(1, 7, 9, 15)),
    ]
    assert (relaxed.within_sla, relaxed.breached) == (3, 2)


async def test_missed_calls_of_one_seller_are_their_contacts(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        anna = await missed_calls_report(session, scope(world.anna), sla=SLA, now=NOW)
        boris = await missed_calls_report(session, scope(world.boris), sla=SLA, now=NOW)
    assert (anna.missed, anna.never_called_back, anna.breached) == (1, 1, 1)
    assert [b.caller for b in anna.open_breaches] == [C4]
    assert (boris.missed, boris.breached, boris.open_breaches) == (0, 0, [])


async def test_sla_escalations_go_to_the_heads_once(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        week = await sla_escalations(session, now=NOW, sla=SLA)
        since_jan_6 = await sla_escalations(session, now=NOW, sla=SLA, since=at(1, 6, 0))
        after_last = await sla_escalations(session, now=NOW, sla=SLA, since=at(1, 7, 9, 15))
        just_before = await sla_escalations(session, now=NOW, sla=SLA, since=at(1, 7, 9, 14, 59))
    assert [(e.caller, e.deadline, e.notify_user_ids) for e in week] == [
        (C4, at(1, 5, 13, 15), (world.head,)),
        (C0, at(1, 7, 9, 15), (world.head,)),
    ]
    assert [e.caller for e in since_jan_6] == [C0]
    assert after_last == []
    assert [e.caller for e in just_before] == [C0]


async def test_sla_must_be_positive(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        with pytest.raises(InvalidInput):
            await missed_calls_report(session, scope(), sla=dt.timedelta(0), now=NOW)


async def test_call_reports_of_one_office(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    # Boris's calls went through the west office's PBX, every other call through the east one's.
    async with sessions.begin() as session:
        await session.execute(update(Activity).where(Activity.kind == "call").values(pbx="east"))
        await session.execute(
            update(Activity)
            .where(Activity.kind == "call", Activity.agent_id == world.boris)
            .values(pbx="west")
        )

    def office(pbx: str) -> ReportScope:
        return ReportScope(pipeline_id=None, since=JAN, until=FEB, pbx=pbx)

    async with sessions() as session:
        west = await calls_report(session, office("west"))
        east = await calls_report(session, office("east"))
        east_missed = await missed_calls_report(session, office("east"), sla=SLA, now=NOW)
        west_missed = await missed_calls_report(session, office("west"), sla=SLA, now=NOW)
        north = await speed_to_lead_report(session, office("north"))
    assert [(s.agent_id, s.calls) for s in west.sellers] == [(world.boris, 2)]
    assert (east.calls, west.calls) == (9, 2)
    assert (east_missed.missed, west_missed.missed) == (5, 0)
    assert (north.leads, north.responded) == (0, 0)
