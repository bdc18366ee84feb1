"""A leased PBX's cards and webhooks leave only while its lease is held; forgetting sends none."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from cti.calls.events import AgentRinging, CallEnded, CallStarted
from cti.fencing import ConsumerFence
from cti.pops.fanout import InProcessFanout
from cti.pops.hub import ScreenPopHub
from cti.pops.messages import MessageEncoder, MessageIds
from cti.pops.service import PopService, PopSettings
from cti.webhooks.events import WebhookEvents
from tests.unit.test_pops_service import BASE, FakeDirectory, FakeLookup, Inbox, _settle


async def _service(fence: ConsumerFence) -> tuple[PopService, Inbox, InProcessFanout]:
    fanout = InProcessFanout()
    hub = ScreenPopHub(fanout, encoder=MessageEncoder(MessageIds("f")))
    inbox = Inbox()
    await fanout.start(inbox.deliver)
    service = PopService(
        hub, FakeDirectory(), FakeLookup(), settings=PopSettings(wrapup_wait_s=0.1), fence=fence
    )
    return service, inbox, fanout


async def _ring(service: PopService, pbx: str, linkedid: str) -> None:
    call = replace(BASE, pbx=pbx, linkedid=linkedid)
    await service.on_call_event(CallStarted(pbx=pbx, at=100.0, call=call))
    await service.on_call_event(
        AgentRinging(pbx=pbx, at=100.1, call=call, extension="101", interface="PJSIP/101")
    )
    await _settle()


async def test_a_leased_pbx_without_its_lease_pops_nothing_and_keeps_no_live_card() -> None:
    fence = ConsumerFence()
    fence.lease_required("leased")
    service, inbox, fanout = await _service(fence)
    await _ring(service, "leased", "1.1")
    await _ring(service, "other", "2.1")  # a PBX nobody leases (SQLite, one instance) pops
    assert [m["card"]["linkedid"] for m in inbox.by_user[1] if m["type"] == "call.ringing"] == [
        "2.1"
    ]
    cards = [json.loads(card)["linkedid"] for card in await fanout.live_cards(1)]
    assert cards == ["2.1"]
    assert fence.refused >= 1
    await service.close()


async def test_forgetting_a_pbx_drops_its_calls_without_a_message() -> None:
    service, inbox, _ = await _service(ConsumerFence())
    await _ring(service, "pbx", "3.1")
    sent = len(inbox.by_user[1])
    service.forget_pbx("pbx")
    assert service.live_call("3.1") is None
    ended = replace(BASE, linkedid="3.1", state="ended", ended_at=101.0, outcome="missed")
    await service.on_crm_outcome(CallEnded(pbx="pbx", at=101.0, call=ended, outcome="missed"), None)
    await _settle()
    assert len(inbox.by_user[1]) == sent, "nothing is sent for a forgotten call"
    await service.close()


class RecordedWebhooks:
    def __init__(self) -> None:
        self.types: list[str] = []

    async def publish(
        self, event_type: str, event_id: str, data: Mapping[str, Any], occurred_at: dt.datetime
    ) -> int:
        self.types.append(event_type)
        return 1


async def test_webhooks_of_a_leased_pbx_wait_for_its_lease() -> None:
    fence = ConsumerFence()
    fence.lease_required("leased")
    sent = RecordedWebhooks()
    webhooks = WebhookEvents(sent, fence)
    for pbx in ("leased", "other"):
        call = replace(BASE, pbx=pbx, linkedid=f"{pbx}.1")
        await webhooks.on_crm_outcome(CallStarted(pbx=pbx, at=100.0, call=call), None)
    assert sent.types == ["call.started"], "only the PBX nobody leases sent its webhook"
