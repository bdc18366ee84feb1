"""The ringing card's duplicate hint: added by an update once found, never holding the card back."""

from __future__ import annotations

import asyncio
from typing import Any

from cti.pops.fanout import InProcessFanout
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
