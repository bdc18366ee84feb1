"""The call-back watch counts each office's SLA in that office's hours and time zone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.principal import SYSTEM, Role
from crmlite.domain.reports import ReportScope
from crmlite.services.activities import (
    ActivityKind,
    ActivityService,
    CallDirection,
    CallLog,
    Parent,
)
from crmlite.services.contacts import ContactService
from crmlite.services.exports import calls_export, stream_rows
from crmlite.services.phones import PhoneInput
from crmlite.services.reports_calls import missed_calls_report, sla_escalations
from crmlite.services.reports_speed import speed_to_lead_report
from crmlite.services.users import create_user
from cti.callbacks import CallbackSlaWatch
from cti.pops.fanout import InProcessFanout
from cti.pops.hub import ScreenPopHub
from cti.settings import Settings, sla_clock

SLA = dt.timedelta(minutes=15)
FRIDAY_16_UTC = dt.datetime(2026, 11, 20, 16, 0, tzinfo=dt.UTC)  # 19:00 Moscow, 17:00 Berlin
SETTINGS = Settings.model_validate(
    {
        "callbacks": {"timezone": "Europe/Moscow", "hours": {"mon-fri": ["09:00-18:00"]}},
        "pbx": [
            {"name": "east", "username": "cti", "secret": "s"},  # the install-wide hours
            {"name": "west", "username": "cti", "secret": "s", "timezone": "Europe/Berlin"},
        ],
    }
)


async def _missed(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as db:
        await create_user(db, SYSTEM, login="helen", role=Role.HEAD)
        for pbx, number in (("east", "+79161234567"), ("west", "+4930123456")):
            contact = await ContactService(db, SYSTEM).create(
                f"Caller {pbx}", phones=[PhoneInput(number)]
            )
            await ActivityService(db, SYSTEM, clock=lambda: FRIDAY_16_UTC).log_call(
                Parent(contact_id=contact.id),
                CallLog(
                    direction=CallDirection.INBOUND,
                    from_number=number,
                    started_at=FRIDAY_16_UTC,
                    ended_at=FRIDAY_16_UTC + dt.timedelta(seconds=20),
                    outcome="missed",
                    pbx=pbx,
                ),
            )


async def test_a_call_missed_after_closing_falls_due_after_the_next_opening(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _missed(sessions)
    friday_evening = FRIDAY_16_UTC + dt.timedelta(minutes=30)
    monday_0600, monday_0620 = (
        dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 23, 6, 20, tzinfo=dt.UTC),
    )
    clock = iter([friday_evening, monday_0600, monday_0620])
    watch = CallbackSlaWatch(
        sessions,
        ScreenPopHub(InProcessFanout()),
        sla=SLA,
        region="RU",
        extension_pattern=r"^\d{2,5}$",
        hours=sla_clock(SETTINGS),
        clock=lambda: next(clock),
    )
    first, second, third = (await watch.check(), await watch.check(), await watch.check())
    # Berlin was open until 18:00 local: 15 minutes after the miss.
    assert [(b.caller, b.deadline) for b in first] == [("+4930123456", FRIDAY_16_UTC + SLA)]
    assert second == [], "Moscow had closed at 18:00: nothing is due over the weekend"
    # Moscow opens Monday 09:00 (06:00 UTC): due at 09:15 local.
    assert [(b.caller, b.deadline) for b in third] == [
        ("+79161234567", dt.datetime(2026, 11, 23, 6, 15, tzinfo=dt.UTC))
    ]
    async with sessions() as db:
        plain = await sla_escalations(db, now=friday_evening, sla=SLA)
        monday = await sla_escalations(db, now=monday_0620, sla=SLA, clock=sla_clock(SETTINGS))
    assert sorted(b.caller for b in plain) == ["+4930123456", "+79161234567"]
    assert sorted(b.caller for b in monday) == ["+4930123456", "+79161234567"]


async def test_missed_calls_report_counts_each_office_hours(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _missed(sessions)
    # The east caller is called back on Monday at 09:10 Moscow time: within its office's SLA.
    monday_0610 = dt.datetime(2026, 11, 23, 6, 10, tzinfo=dt.UTC)
    async with sessions.begin() as db:
        contact = await ContactService(db, SYSTEM).create(
            "Back", phones=[PhoneInput("+79161234568")]
        )
        await ActivityService(db, SYSTEM, clock=lambda: monday_0610).log_call(
            Parent(contact_id=contact.id),
            CallLog(
                direction=CallDirection.OUTBOUND,
                to_number="+79161234567",
                started_at=monday_0610,
                answered_at=monday_0610,
                ended_at=monday_0610 + dt.timedelta(minutes=2),
                outcome="answered",
                pbx="east",
            ),
        )
    window = ReportScope(
        pipeline_id=None,
        since=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        until=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    async with sessions() as db:
        hours = await missed_calls_report(db, window, sla=SLA, now=now, clock=sla_clock(SETTINGS))
        plain = await missed_calls_report(db, window, sla=SLA, now=now)
    counts = (hours.missed, hours.called_back, hours.within_sla, hours.breached)
    assert counts == (2, 1, 1, 1), "east called back in time; west never"
    assert [(b.caller, b.deadline) for b in hours.open_breaches] == [
        ("+4930123456", FRIDAY_16_UTC + SLA)
    ]
    assert (plain.within_sla, plain.breached) == (0, 2), "in plain minutes both are late"


async def test_speed_to_lead_counts_the_open_hours_of_the_office_first_called(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _missed(sessions)
    monday_0610 = dt.datetime(2026, 11, 23, 6, 10, tzinfo=dt.UTC)  # 09:10 Moscow
    friday_1630 = FRIDAY_16_UTC + dt.timedelta(minutes=30)  # 17:30 Berlin, still open
    async with sessions.begin() as db:
        for pbx, number, at in (
            ("east", "+79161234567", monday_0610),
            ("west", "+4930123456", friday_1630),
        ):
            contact_id = await _contact_of(db, number)
            await ActivityService(db, SYSTEM, clock=lambda at=at: at).log_call(
                Parent(contact_id=contact_id),
                CallLog(
                    direction=CallDirection.OUTBOUND,
                    to_number=number,
                    started_at=at,
                    answered_at=at,
                    ended_at=at + dt.timedelta(minutes=1),
                    outcome="answered",
                    pbx=pbx,
                ),
            )
    window = ReportScope(
        pipeline_id=None,
        since=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        until=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )
    async with sessions() as db:
        hours = await speed_to_lead_report(db, window, sla_clock(SETTINGS))
        plain = await speed_to_lead_report(db, window)
    # East waited ten open minutes (Monday 09:00-09:10 Moscow), west thirty (17:00-17:30 Berlin).
    assert (hours.leads, hours.responded) == (2, 2)
    assert (hours.median_s, hours.p90_s, hours.average_s) == (1200.0, 1680.0, 1200.0)
    weekend = (monday_0610 - FRIDAY_16_UTC).total_seconds()
    assert plain.median_s == (weekend + 1800) / 2, "round the clock the weekend counts"


async def _contact_of(db: AsyncSession, number: str) -> int:
    contact = await ContactService(db, SYSTEM).find_by_phone(number)
    assert contact is not None
    return contact.id


async def test_the_call_log_filters_by_office(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _missed(sessions)
    async with sessions() as db:
        service = ActivityService(db, SYSTEM)
        west = await service.find(kind=ActivityKind.CALL, pbx="west")
        every = await service.find(kind=ActivityKind.CALL)
        nowhere = await service.find(kind=ActivityKind.CALL, pbx="north")
        exported = [
            row
            async for rows in stream_rows(db, calls_export(db, SYSTEM, pbx="east"))
            for row in rows
        ]
    assert [(a.from_number, a.pbx) for a in west.items] == [("+4930123456", "west")]
    assert (every.total, nowhere.total) == (2, 0)
    assert [row[4] for row in exported] == ["+79161234567"]  # from_number
