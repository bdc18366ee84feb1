"""The ringing card's duplicate hint: added by an update once found, never holding the card back."""

from __future__ import annotations

import asyncio
from typing import Any

from cti.pops.fanout import InProcessFanout
from cti.pops.hints import HintQueue
from cti.pops.hub import ScreenPopHub
from cti.pops.messages import MessageEncoder, MessageIds
from cti.pops.service import PopService, PopSettings
from tests.unit.test_pops_service import KNOWN, FakeDirectory, FakeLookup, Inbox, _ring_all, _settle

ROMASHKA = {"id": 7, "name": "Иван Петров", "company": "Romashka", "score": 90, "reasons": ["name"]}


class GatedHints:
    def __init__(self, found: tuple[dict[str, Any], ...]) -> None:
        self.found = found
        self.gate = asyncio.Event()
        self.asked: list[int] = []

    async def __call__(self, contact_id: int) -> tuple[dict[str, Any], ...]:
        self.asked.append(contact_id)
        await self.gate.wait()
        return self.found


async def _service(hints: GatedHints) -> tuple[PopService, Inbox]:
    fanout = InProcessFanout()
    hub = ScreenPopHub(fanout, encoder=MessageEncoder(MessageIds("u")))
    inbox = Inbox()
    await fanout.start(inbox.deliver)
    service = PopService(
        hub, FakeDirectory(), FakeLookup(), settings=PopSettings(wrapup_wait_s=0.5), hints=hints
    )
    return service, inbox


async def test_the_card_shows_the_caller_first_then_who_they_look_like() -> None:
    hints = GatedHints((ROMASHKA,))
    service, inbox = await _service(hints)
    await _ring_all(service)
    await _settle()
    before = inbox.by_user[1][-1]
    assert before["card"]["contact"]["id"] == KNOWN.contact["id"]  # type: ignore[index]
    assert before["card"]["looks_like"] == []
    hints.gate.set()
    await _settle()
    after = inbox.by_user[1][-1]
    assert after["type"] == "call.updated"
    assert after["card"]["looks_like"] == [ROMASHKA]
    assert after["card"]["rev"] > before["card"]["rev"]
    assert hints.asked == [KNOWN.contact["id"]]  # type: ignore[index]
    await service.close()


async def test_no_candidates_send_no_update() -> None:
    hints = GatedHints(())
    service, inbox = await _service(hints)
    await _ring_all(service)
    await _settle()
    sent = len(inbox.by_user[1])
    hints.gate.set()
    await _settle()
    assert len(inbox.by_user[1]) == sent
    await service.close()


async def test_hints_are_found_one_at_a_time_and_not_for_calls_that_stopped_ringing() -> None:
    running = 0
    most = 0
    asked: list[int] = []

    async def hints(contact_id: int) -> tuple[dict[str, Any], ...]:
        nonlocal running, most
        asked.append(contact_id)
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return (ROMASHKA,)

    queue = HintQueue(hints)
    delivered: list[int] = []
    live = {1: True, 2: False, 3: True}  # call 2 was answered elsewhere before its turn

    def deliver_to(call: int) -> Any:
        async def deliver(found: tuple[dict[str, Any], ...]) -> None:
            delivered.append(call)

        return deliver

    for call in (1, 2, 3):
        queue.ask(call * 10, lambda call=call: live[call], deliver_to(call))  # type: ignore[misc]
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert delivered == [1, 3]
    assert asked == [10, 30]
    assert most == 1
    assert queue.skipped == 1
    await queue.close()
