"""The pop service: ring-all cards, answered / answered by X, transfer, wrap-up, slow lookups."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from cti.calls.events import (
    AgentRinging,
    AgentStoppedRinging,
    CallAnswered,
    CallEnded,
    CallSnapshot,
    CallStarted,
    CallTransferred,
)
from cti.pops.directory import PopUser
from cti.pops.fanout import InProcessFanout
from cti.pops.hub import ScreenPopHub
from cti.pops.lookup import CallerInfo
from cti.pops.messages import MessageEncoder, MessageIds
from cti.pops.service import PopService, PopSettings

USERS = {
    "101": PopUser(1, "anna", "Anna"),
    "102": PopUser(2, "boris", "Boris"),
    "103": PopUser(3, "chen", "Chen"),
    "104": PopUser(4, "dara", "Dara"),
}
KNOWN = CallerInfo(
    contact={"id": 10, "name": "Ivan Petrov", "company": "Romashka", "email": None},
    owner={"id": 2, "name": "Boris"},
    deals=({"id": 5, "title": "Fridge", "pipeline": {"id": 1}, "stage": {"id": 2}},),
    activities=({"id": 1, "kind": "call"},),
)


class FakeDirectory:
    async def resolve(self, names: Iterable[str], *, pbx: str | None = None) -> dict[str, PopUser]:
        return {n: USERS[n] for n in names if n in USERS}


class FakeLookup:
    def __init__(self, info: CallerInfo = KNOWN, gate: asyncio.Event | None = None) -> None:
        self.info, self.gate = info, gate
        self.numbers: list[str] = []

    async def by_number(self, e164: str) -> CallerInfo:
        self.numbers.append(e164)
        if self.gate is not None:
            await self.gate.wait()
        return self.info

    async def by_contact(self, contact_id: int) -> CallerInfo:
        return self.info

    async def stage_options(self, pipeline_id: int | None) -> list[dict[str, Any]]:
        return [{"id": 1, "name": "Unsorted"}, {"id": 2, "name": "Qualified"}]


class Inbox:
    """Records what each user's tabs would receive."""

    def __init__(self) -> None:
        self.by_user: dict[int, list[dict[str, Any]]] = {}

    def deliver(self, user_id: int, text: str) -> None:
        self.by_user.setdefault(user_id, []).append(json.loads(text))

    def types(self, user_id: int) -> list[str]:
        return [m["type"] for m in self.by_user.get(user_id, [])]


async def _service(lookup: FakeLookup) -> tuple[PopService, Inbox, InProcessFanout]:
    fanout = InProcessFanout()
    hub = ScreenPopHub(fanout, encoder=MessageEncoder(MessageIds("u")))
    inbox = Inbox()
    await fanout.start(inbox.deliver)
    service = PopService(hub, FakeDirectory(), lookup, settings=PopSettings(wrapup_wait_s=0.5))
    return service, inbox, fanout


BASE = CallSnapshot(
    pbx="pbx",
    linkedid="1700000000.1",
    direction="inbound",
    state="ringing",
    caller="89161234567",
    called="+74951234567",
    queue="sales",
    started_at=100.0,
)


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def _ring_all(service: PopService) -> None:
    await service.on_call_event(CallStarted(pbx="pbx", at=100.0, call=BASE))
    await _settle()
    for ext in ("101", "102", "103"):
        await service.on_call_event(
            AgentRinging(pbx="pbx", at=100.1, call=BASE, extension=ext, interface=f"PJSIP/{ext}")
        )


async def test_ring_all_then_one_answers_the_others_see_answered_by() -> None:
    service, inbox, fanout = await _service(FakeLookup())
    await _ring_all(service)
    for user in (1, 2, 3):
        ringing = inbox.by_user[user][-1]
        assert ringing["type"] == "call.ringing"
        card = ringing["card"]
        assert card["caller"]["display"] == "8 (916) 123-45-67"
        assert card["caller"]["e164"] == "+79161234567"
        assert card["contact"]["company"] == "Romashka"
        assert card["did"]["e164"] == "+74951234567"
        assert card["queue"] == "sales"
        assert card["lookup"] == "done"
    answered = replace(BASE, state="answered", answered_by="102", answered_at=102.0)
    await service.on_call_event(
        CallAnswered(pbx="pbx", at=102.0, call=answered, extension="102", interface="PJSIP/102")
    )
    for ext in ("101", "103"):
        await service.on_call_event(
            AgentStoppedRinging(
                pbx="pbx",
                at=102.0,
                call=answered,
                extension=ext,
                interface=f"PJSIP/{ext}",
                reason="answered-elsewhere",
            )
        )
    assert inbox.types(2)[-1] == "call.answered"
    assert inbox.by_user[2][-1]["card"]["status"] == "in-call"
    for user in (1, 3):
        assert inbox.types(user)[-1] == "call.answered_elsewhere"
        assert inbox.by_user[user][-1]["answered_by"]["user"]["name"] == "Boris"
        assert inbox.types(user).count("call.answered_elsewhere") == 1
        assert await fanout.live_cards(user) == []
    assert len(await fanout.live_cards(2)) == 1


async def test_transfer_moves_the_card_and_the_end_makes_a_wrapup() -> None:
    service, inbox, fanout = await _service(FakeLookup())
    await _ring_all(service)
    answered = replace(BASE, state="answered", answered_by="102", answered_at=102.0)
    await service.on_call_event(CallAnswered(pbx="pbx", at=102.0, call=answered, extension="102"))
    moved = replace(answered, answered_by="104")
    await service.on_call_event(
        CallTransferred(
            pbx="pbx",
            at=105.0,
            call=moved,
            from_extension="102",
            to_extension="104",
            transfer_kind="blind",
        )
    )
    assert inbox.types(4) == ["call.transferred"]
    assert inbox.by_user[4][0]["card"]["contact"]["name"] == "Ivan Petrov"
    assert inbox.by_user[4][0]["card"]["status"] == "in-call"
    assert inbox.types(2)[-1] == "call.withdrawn"
    assert inbox.by_user[2][-1]["reason"] == "transferred"
    ended = replace(moved, state="ended", ended_at=130.0, outcome="answered")
    await service.on_call_event(CallEnded(pbx="pbx", at=130.0, call=ended, outcome="answered"))
    await _settle()
    wrapup = inbox.by_user[4][-1]
    assert wrapup["type"] == "call.wrapup"
    assert wrapup["card"]["wrapup"]["duration_s"] == 30.0
    assert wrapup["card"]["deal"]["id"] == 5
    assert [s["name"] for s in wrapup["card"]["wrapup"]["stages"]] == ["Unsorted", "Qualified"]
    live = [json.loads(c) for c in await fanout.live_cards(4)]
    assert [c["status"] for c in live] == ["wrap-up"]
    assert service.live_call(BASE.linkedid) is None


async def test_a_slow_database_sends_the_number_first_then_completes_the_card() -> None:
    gate = asyncio.Event()
    lookup = FakeLookup(gate=gate)
    service, inbox, _ = await _service(lookup)
    await _ring_all(service)
    first = inbox.by_user[1][0]
    assert first["type"] == "call.ringing"
    assert first["card"]["lookup"] == "pending"
    assert first["card"]["contact"] is None
    assert first["card"]["caller"]["display"] == "8 (916) 123-45-67"
    gate.set()
    await _settle()
    update = inbox.by_user[1][-1]
    assert update["type"] == "call.updated"
    assert update["card"]["lookup"] == "done"
    assert update["card"]["contact"]["name"] == "Ivan Petrov"
    assert update["card"]["rev"] > first["card"]["rev"]
    assert lookup.numbers == ["+79161234567"]


async def test_a_missed_call_withdraws_every_ringing_card() -> None:
    service, inbox, fanout = await _service(FakeLookup(info=CallerInfo()))
    await _ring_all(service)
    ended = replace(BASE, state="ended", ended_at=120.0, outcome="abandoned")
    await service.on_call_event(CallEnded(pbx="pbx", at=120.0, call=ended, outcome="abandoned"))
    await _settle()
    for user in (1, 2, 3):
        assert inbox.types(user)[-1] == "call.withdrawn"
        assert inbox.by_user[user][-1]["reason"] == "abandoned"
        assert await fanout.live_cards(user) == []


async def test_the_crm_outcome_completes_the_card_with_the_new_deal() -> None:
    lookup = FakeLookup(info=CallerInfo())
    service, inbox, _ = await _service(lookup)
    await _ring_all(service)
    lookup.info = replace(KNOWN, deals=({"id": 77, "title": "New", "pipeline": {"id": 1}},))
    event = AgentRinging(pbx="pbx", at=100.1, call=BASE, extension="101", interface="PJSIP/101")
    await service.on_crm_outcome(event, {"contact_id": 10, "deal_id": 77})
    update = inbox.by_user[1][-1]
    assert update["type"] == "call.updated"
    assert update["card"]["deal"]["id"] == 77
    assert update["card"]["contact"]["id"] == 10


async def test_an_outbound_call_gets_its_number_when_the_agent_has_dialled() -> None:
    lookup = FakeLookup()
    service, inbox, _ = await _service(lookup)
    started = CallSnapshot(
        pbx="pbx", linkedid="O1", direction="unknown", state="dialing", caller="101", agent="101"
    )
    await service.on_call_event(CallStarted(pbx="pbx", at=1.0, call=started))
    assert lookup.numbers == []  # an extension is not looked up
    dialled = replace(started, direction="outbound", called="+79167654321", answered_at=3.0)
    await service.on_call_event(CallAnswered(pbx="pbx", at=3.0, call=dialled, extension=None))
    await _settle()
    assert lookup.numbers == ["+79167654321"]
    cards = [m["card"] for m in inbox.by_user[1] if m.get("card")]
    assert cards[-1]["caller"]["display"] == "8 (916) 765-43-21"
    assert cards[-1]["contact"]["name"] == "Ivan Petrov"
    assert cards[-1]["status"] == "in-call"


async def _answer_and_end(service: PopService) -> CallEnded:
    """Ring 101-103, 103 answers, the call ends: the wrap-up goes to user 3."""
    await _ring_all(service)
    answered = replace(BASE, state="answered", answered_by="103", answered_at=102.0)
    await service.on_call_event(CallAnswered(pbx="pbx", at=102.0, call=answered, extension="103"))
    ended = replace(answered, state="ended", ended_at=130.0, outcome="answered")
    end = CallEnded(pbx="pbx", at=130.0, call=ended, outcome="answered")
    await service.on_call_event(end)
    return end


async def test_the_wrapup_waits_for_the_crm_lane_to_finish_the_call() -> None:
    lookup = FakeLookup(info=CallerInfo())
    service, inbox, _ = await _service(lookup)
    service.expect_crm_outcomes()
    end = await _answer_and_end(service)
    await _settle()
    assert "call.wrapup" not in inbox.types(3), "the lane is still busy with the call"
    lookup.info = replace(KNOWN, deals=({"id": 77, "title": "New", "pipeline": {"id": 1}},))
    await service.on_crm_outcome(end, {"contact_id": 10, "deal_id": 77})
    await _settle()
    wrapups = [m for m in inbox.by_user[3] if m["type"] == "call.wrapup"]
    assert len(wrapups) == 1
    assert wrapups[0]["card"]["deal"]["id"] == 77
    assert wrapups[0]["card"]["contact"]["id"] == 10


async def test_a_deal_made_after_the_wrapup_went_out_sends_the_wrapup_again() -> None:
    lookup = FakeLookup(info=CallerInfo())
    service, inbox, fanout = await _service(lookup)
    service.expect_crm_outcomes()
    end = await _answer_and_end(service)
    await asyncio.sleep(0.6)  # past wrapup_wait_s: the lane is slower than the wrap-up's wait
    first = inbox.by_user[3][-1]
    assert first["type"] == "call.wrapup"
    assert first["card"]["deal"] is None
    lookup.info = replace(KNOWN, deals=({"id": 77, "title": "New", "pipeline": {"id": 1}},))
    answered = replace(end.call, state="answered", ended_at=None)
    late = CallAnswered(pbx="pbx", at=102.0, call=answered, extension="103")
    await service.on_crm_outcome(late, {"contact_id": 10, "deal_id": 77})
    second = inbox.by_user[3][-1]
    assert second["type"] == "call.wrapup"
    assert second["card"]["deal"]["id"] == 77
    assert second["card"]["rev"] > first["card"]["rev"]
    live = [json.loads(c) for c in await fanout.live_cards(3)]
    assert [c["deal"]["id"] for c in live] == [77], "a reconnecting tab gets the new wrap-up"
    sent = len(inbox.by_user[3])
    await service.on_crm_outcome(end, None)  # the lane is done with the call: nothing new
    assert len(inbox.by_user[3]) == sent


async def test_a_saved_wrapup_is_not_brought_back_by_a_late_deal() -> None:
    lookup = FakeLookup(info=CallerInfo())
    service, inbox, _ = await _service(lookup)
    service.expect_crm_outcomes()
    end = await _answer_and_end(service)
    await asyncio.sleep(0.6)
    await service.wrapup_saved(3, BASE.linkedid, {"result": "skipped"})
    assert inbox.types(3)[-1] == "call.wrapup_done"
    await service.on_crm_outcome(end, {"contact_id": 10, "deal_id": 77})
    assert inbox.types(3)[-1] == "call.wrapup_done"


async def test_without_a_crm_lane_the_wrapup_waits_only_for_the_lookup() -> None:
    service, inbox, _ = await _service(FakeLookup())
    await _answer_and_end(service)
    await _settle()
    assert inbox.types(3)[-1] == "call.wrapup"
    assert inbox.by_user[3][-1]["card"]["deal"]["id"] == 5


async def test_a_crm_lane_that_never_reports_is_forgotten_after_the_followup() -> None:
    fanout = InProcessFanout()
    hub = ScreenPopHub(fanout, encoder=MessageEncoder(MessageIds("u")))
    inbox = Inbox()
    await fanout.start(inbox.deliver)
    settings = PopSettings(wrapup_wait_s=0.05, crm_followup_s=0.05)
    service = PopService(hub, FakeDirectory(), FakeLookup(), settings=settings)
    service.expect_crm_outcomes()
    end = await _answer_and_end(service)
    await asyncio.sleep(0.3)
    assert inbox.types(3)[-1] == "call.wrapup"
    sent = len(inbox.by_user[3])
    await service.on_crm_outcome(end, {"contact_id": 10, "deal_id": 77})
    assert len(inbox.by_user[3]) == sent, "the call is no longer followed"
