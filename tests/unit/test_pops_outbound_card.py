"""A click-to-call card names the customer, never the seller's own phone."""

from __future__ import annotations

import asyncio

from cti.calls import CallTracker
from cti.protocol import AmiMessage, PbxEvent
from cti.sim import call_flows
from cti.sim.builder import IdSource
from tests.unit.test_pops_service import FakeLookup, _service

CUSTOMER = "+79167654321"


async def test_originated_call_card_shows_the_customer() -> None:
    service, inbox, _ = await _service(FakeLookup())
    request = call_flows.OriginateRequest(
        action_id="c2c-1",
        channel="PJSIP/101",
        exten=CUSTOMER,
        context="from-internal",
        caller_id_num=CUSTOMER,
        caller_id_name="Ivan",
    )
    tracker = CallTracker()
    for step in call_flows.click_to_call(IdSource(), request):
        for event in step.events:
            for call_event in tracker.feed(PbxEvent("pbx", AmiMessage.of(event), step.at)):
                await service.on_call_event(call_event)
    await asyncio.sleep(0.6)
    cards = [m["card"] for messages in inbox.by_user.values() for m in messages if "card" in m]
    assert cards, "the seller who placed the call gets a card"
    for card in cards:
        assert card["caller"]["e164"] == CUSTOMER
        assert card["caller_name"] is None, "the PBX's caller name there is our own agent's"
    await service.close()
