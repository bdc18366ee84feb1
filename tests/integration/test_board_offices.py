"""The board narrowed to one office (``pbx=``), over a real socket on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crmlite.domain.principal import SYSTEM
from crmlite.services.activities import ActivityService, CallDirection, CallLog, Parent
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.phones import PhoneInput
from tests.support.api import ApiHarness

AT = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def _call(number: str, pbx: str) -> CallLog:
    return CallLog(
        direction=CallDirection.INBOUND,
        from_number=number,
        started_at=AT,
        answered_at=AT,
        ended_at=AT + dt.timedelta(minutes=1),
        outcome="answered",
        pbx=pbx,
    )


def _cards(board: dict[str, Any]) -> list[str]:
    return sorted(card["title"] for column in board["columns"] for card in column["cards"])


async def test_the_board_of_one_office(api: ApiHarness) -> None:
    head = await api.client("head")
    async with api.sessions.begin() as db:
        contacts = ContactService(db, SYSTEM)
        east = await contacts.create("East caller", phones=[PhoneInput("+74951234567")])
        both = await contacts.create("Caller of both", phones=[PhoneInput("+74951234568")])
        deals = DealService(db, SYSTEM)
        made_by_call = await deals.create("made by a west call", source="call")
        await deals.create("east contact's deal", contact_id=east.id, amount="10.00")
        await deals.create("both offices", contact_id=both.id, amount="5.00")
        await deals.create("no calls at all", amount="1.00")
        calls = ActivityService(db, SYSTEM, clock=lambda: AT)
        await calls.log_call(Parent(deal_id=made_by_call.id), _call("+74951234569", "west"))
        await calls.log_call(Parent(contact_id=east.id), _call("+74951234567", "east"))
        await calls.log_call(Parent(contact_id=both.id), _call("+74951234568", "east"))
        await calls.log_call(Parent(contact_id=both.id), _call("+74951234568", "west"))
    pipeline = (await head.get("/api/v1/pipelines")).json()[0]["id"]
    url = f"/api/v1/board/{pipeline}"
    boards = {}
    for office in ("east", "west", "north"):
        response = await head.get(url, params={"pbx": office})
        assert response.status == 200, response.text
        boards[office] = response.json()
    everything = (await head.get(url)).json()
    assert _cards(boards["east"]) == ["both offices", "east contact's deal"]
    assert _cards(boards["west"]) == ["both offices", "made by a west call"]
    assert _cards(boards["north"]) == []
    assert len(_cards(everything)) == 4
    unsorted = boards["east"]["columns"][0]
    assert (unsorted["count"], unsorted["amounts"]) == (2, {"RUB": "15.00"}), "totals follow"
    column = await head.get(f"{url}/columns/{unsorted['stage_id']}", params={"pbx": "west"})
    assert column.status == 200, column.text
    assert sorted(c["title"] for c in column.json()["cards"]) == [
        "both offices",
        "made by a west call",
    ]
    assert (await head.get(url, params={"pbx": ""})).status == 422
