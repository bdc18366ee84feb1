"""A missed call nobody called back within the SLA pops one notice to each head, once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.principal import SYSTEM, Role
from crmlite.services.activities import ActivityService, CallDirection, CallLog, Parent
from crmlite.services.contacts import ContactService
from crmlite.services.phones import PhoneInput
from crmlite.services.users import create_user
from cti.callbacks import CALLBACK_OVERDUE, CallbackSlaWatch
from cti.pops.fanout import FanoutUnavailable, InProcessFanout, LiveChange
from cti.pops.hub import ScreenPopHub

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
SLA = dt.timedelta(minutes=15)


class RecordingSocket:
    """A browser tab that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.arrived = asyncio.Event()

    async def send_str(self, data: str, compress: int | None = None) -> None:
        self.sent.append(json.loads(data))
        self.arrived.set()

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        self.closed = True
        return True

    def abort(self) -> None:
        self.closed = True


async def _seed(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions.begin() as db:
        head = await create_user(db, SYSTEM, login="helen", role=Role.HEAD)
        seller = await create_user(db, SYSTEM, login="sam", role=Role.SELLER)
        contact = await ContactService(db, SYSTEM).create(
            "Ivan", phones=[PhoneInput("+79161234567")], owner_id=seller.id
        )
        for minutes_ago, outcome in ((20, "missed"), (5, "missed"), (30, "answered")):
            started = NOW - dt.timedelta(minutes=minutes_ago)
            await ActivityService(db, SYSTEM, clock=lambda at=started: at).log_call(
                Parent(contact_id=contact.id),
                CallLog(
                    direction=CallDirection.INBOUND,
                    from_number="+79161234567",
                    started_at=started,
                    answered_at=started if outcome == "answered" else None,
                    ended_at=started + dt.timedelta(seconds=30),
                    outcome=outcome,
                ),
            )
    return head.id, seller.id


async def test_overdue_call_back_notifies_the_heads_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    head_id, seller_id = await _seed(sessions)
    hub = ScreenPopHub(InProcessFanout())
    await hub.start()
    head_tab, seller_tab = RecordingSocket(), RecordingSocket()
    await hub.attach(head_id, head_tab)
    await hub.attach(seller_id, seller_tab)
    clock = iter([NOW, NOW + dt.timedelta(minutes=1)])
    watch = CallbackSlaWatch(
        sessions,
        hub,
        sla=SLA,
        region="RU",
        extension_pattern=r"^\d{2,5}$",
        clock=lambda: next(clock),
    )
    try:
        first = await watch.check()
        second = await watch.check()
        await asyncio.sleep(0.05)
    finally:
        await hub.stop()

    assert [b.caller for b in first] == ["+79161234567"], "only the 20-minute-old miss is overdue"
    assert first[0].deadline == NOW - dt.timedelta(minutes=5)
    assert second == [], "a breach is reported once"
    notices = [m for m in head_tab.sent if m["type"] == CALLBACK_OVERDUE]
    assert len(notices) == 1
    assert notices[0]["caller"]["display"] == "8 (916) 123-45-67"
    assert notices[0]["sla_minutes"] == 15
    assert not [m for m in seller_tab.sent if m["type"] == CALLBACK_OVERDUE]


class FlakyFanout(InProcessFanout):
    """Redis-like fan-out that is away for the first ``outages`` publishes."""

    def __init__(self, outages: int) -> None:
        super().__init__()
        self.outages = outages

    async def publish(self, user_id: int, text: str, live: LiveChange | None = None) -> None:
        if self.outages > 0:
            self.outages -= 1
            raise FanoutUnavailable("redis is away")
        await super().publish(user_id, text, live)


async def test_a_notice_lost_to_a_fanout_outage_is_told_on_the_next_pass(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    head_id, _ = await _seed(sessions)
    hub = ScreenPopHub(FlakyFanout(outages=1))
    await hub.start()
    head_tab = RecordingSocket()
    await hub.attach(head_id, head_tab)
    clock = iter([NOW, NOW + dt.timedelta(minutes=1), NOW + dt.timedelta(minutes=2)])
    watch = CallbackSlaWatch(
        sessions,
        hub,
        sla=SLA,
        region="RU",
        extension_pattern=r"^\d{2,5}$",
        clock=lambda: next(clock),
    )
    try:
        assert len(await watch.check()) == 1  # found, but Redis was away
        assert len(await watch.check()) == 1  # the same window again: told now
        assert await watch.check() == []
        await asyncio.sleep(0.05)
    finally:
        await hub.stop()
    assert len([m for m in head_tab.sent if m["type"] == CALLBACK_OVERDUE]) == 1
