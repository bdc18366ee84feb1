"""A call over the trunk between two offices is internal on both PBXs, whatever numbers it
carries; the same call over the provider's trunk is a customer's."""

from __future__ import annotations

from cti.calls import CallEnded, CallTracker
from cti.calls.config import CallModelConfig
from cti.protocol import AmiMessage, PbxEvent
from cti.sim import IdSource, Step, flows


def _ended_direction(steps: list[Step], config: CallModelConfig) -> str:
    tracker = CallTracker(per_pbx={"west": config})
    ended = [
        event
        for step in steps
        for fields in step.events
        for event in tracker.feed(PbxEvent("west", AmiMessage.of(fields), step.at))
        if isinstance(event, CallEnded)
    ]
    assert len(ended) == 1
    return ended[0].call.direction


OFFICES = CallModelConfig(office_trunk_endpoints=("office-east",))


def test_an_inbound_call_from_the_other_office_is_internal() -> None:
    steps = flows.direct_call(
        IdSource(1, system_name="west"),
        caller="+74959990000",
        agent="101",
        trunk_name="PJSIP/office-east",
    )
    assert _ended_direction(steps, OFFICES) == "internal"
    # Unconfigured, the same trunk looks like any inbound line.
    assert _ended_direction(steps, CallModelConfig()) == "inbound"


def test_dialling_the_other_office_is_internal_and_a_customer_stays_outbound() -> None:
    ids = IdSource(1, system_name="west")
    to_office = flows.outbound_call(
        ids, agent="101", number="+74951230000", trunk_name="PJSIP/office-east"
    )
    to_customer = flows.outbound_call(ids, agent="101", number="+79161234567")
    assert _ended_direction(to_office, OFFICES) == "internal"
    assert _ended_direction(to_customer, OFFICES) == "outbound"


def test_a_simulated_office_prefixes_its_ids_with_its_system_name() -> None:
    steps = flows.queue_call(IdSource(7, system_name="east"), caller="+79161234567")
    linkedids = {e["Linkedid"] for step in steps for e in step.events if "Linkedid" in e}
    assert linkedids == {"east-7.0"}
