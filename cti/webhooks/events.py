"""Which webhook events a call event and its CRM outcome make (schema: docs/EVENTS.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

from cti.calls.events import (
    AgentRinging,
    AgentStoppedRinging,
    CallAnswered,
    CallEvent,
    CallTransferred,
)
from cti.fencing import OPEN_FENCE, ConsumerFence
from cti.rules.executor import CrmOutcome

CALL_TYPES = {
    "call-started": "call.started",
    "agent-ringing": "call.agent_ringing",
    "agent-stopped-ringing": "call.agent_stopped_ringing",
    "call-answered": "call.answered",
    "call-transferred": "call.transferred",
    "call-ended": "call.ended",
}


class Publisher(Protocol):
    async def publish(
        self, event_type: str, event_id: str, data: Mapping[str, Any], occurred_at: dt.datetime
    ) -> int: ...


def event_id(*parts: object) -> str:
    """A stable id: the same call event replayed gets the same id (receivers drop repeats)."""
    key = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def _discriminator(event: CallEvent) -> str:
    if isinstance(event, AgentRinging | AgentStoppedRinging):
        return event.extension
    if isinstance(event, CallAnswered):
        return event.extension or ""
    if isinstance(event, CallTransferred):
        return str(len(event.call.transfers))
    return ""


def call_event_message(
    event: CallEvent, outcome: CrmOutcome | None
) -> tuple[str, str, dict[str, Any]]:
    """(type, id, data) of the webhook for one call event."""
    event_type = CALL_TYPES.get(event.kind, f"call.{event.kind.replace('-', '_')}")
    data = event.to_dict()
    data["crm"] = _crm_part(outcome)
    return event_type, event_id(event_type, event.pbx, event.linkedid, _discriminator(event)), data


def _crm_part(outcome: CrmOutcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    return {
        "contact_id": outcome.contact_id,
        "deal_id": outcome.deal_id,
        "owner_id": outcome.owner_id,
        "task_ids": list(outcome.task_ids),
        "call_activity_id": outcome.call_activity_id,
        "rule_ids": list(outcome.rule_ids),
        "pending": outcome.pending,
    }


def crm_messages(outcome: CrmOutcome) -> list[tuple[str, str, dict[str, Any]]]:
    """The contact, deal and task events this outcome made happen (none on a replay)."""
    messages: list[tuple[str, str, dict[str, Any]]] = []
    base = {"linkedid": outcome.linkedid, "contact_id": outcome.contact_id}
    if "contact" in outcome.applied and outcome.contact_created:
        messages.append(
            ("contact.created", event_id("contact.created", outcome.contact_id), dict(base))
        )
    if "deal" in outcome.applied and outcome.deal_created:
        data = base | {"deal_id": outcome.deal_id, "owner_id": outcome.owner_id, "source": "call"}
        messages.append(("deal.created", event_id("deal.created", outcome.deal_id), data))
    if outcome.owner_changed:
        owner_key = next((k for k in outcome.applied if k.startswith("owner:")), "")
        data = base | {"deal_id": outcome.deal_id, "owner_id": outcome.owner_id}
        ident = event_id("deal.assigned", outcome.deal_id, outcome.linkedid, owner_key)
        messages.append(("deal.assigned", ident, data))
    for task_id in outcome.tasks_created:
        data = base | {"deal_id": outcome.deal_id, "task_id": task_id}
        messages.append(("task.created", event_id("task.created", task_id), data))
    return messages


class WebhookEvents:
    """The call flow's outcome sink that turns call events and CRM changes into webhooks."""

    def __init__(self, publisher: Publisher, fence: ConsumerFence = OPEN_FENCE) -> None:
        self.publisher = publisher
        self.fence = fence

    async def on_crm_outcome(self, event: CallEvent, outcome: object | None) -> None:
        """Publish the call event, then whatever the CRM created for it."""
        if not await self.fence.admits(event.pbx):
            return  # another instance consumes this PBX now: it sends the call's webhooks
        crm = outcome if isinstance(outcome, CrmOutcome) else None
        at = dt.datetime.fromtimestamp(event.at, dt.UTC)
        event_type, ident, data = call_event_message(event, crm)
        await self.publisher.publish(event_type, ident, data, at)
        if crm is not None:
            for crm_type, crm_id, crm_data in crm_messages(crm):
                await self.publisher.publish(crm_type, crm_id, crm_data, at)

    async def deal_decided(self, decision: Mapping[str, Any]) -> None:
        """Publish an Unsorted inbox decision (``deal.accepted``, ``.declined``, ``.merged``)."""
        kind = str(decision["decision"])
        at = decision.get("decided_at")
        occurred = at if isinstance(at, dt.datetime) else dt.datetime.now(dt.UTC)
        data = {
            k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in decision.items()
        }
        ident = event_id(f"deal.{kind}", decision.get("decision_id"))
        await self.publisher.publish(f"deal.{kind}", ident, data, occurred)
