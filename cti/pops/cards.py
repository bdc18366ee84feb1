"""The state of one live call as the pops see it, and the card each user gets from it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from cti.calls.events import CallSnapshot
from cti.pops.directory import PopUser
from cti.pops.lookup import CallerInfo, CallerNumber, format_number
from cti.pops.messages import STATUS_RINGING

LOOKUP_PENDING = "pending"  # the card says "looking up…"
LOOKUP_DONE = "done"
LOOKUP_FAILED = "failed"  # the database did not answer in time: the number alone
LOOKUP_SKIPPED = "skipped"  # nothing to look up (internal call, hidden number)


@dataclass(slots=True)
class Holder:
    """One user who has a card for the call: ringing, in call, or in wrap-up."""

    user: PopUser
    extension: str | None
    status: str = STATUS_RINGING


@dataclass(slots=True)
class LiveCall:
    """What the pops know of one call: the caller, the CRM's view, who holds a card."""

    snapshot: CallSnapshot
    customer: CallerNumber
    did: CallerNumber | None
    lookup: str = LOOKUP_PENDING
    info: CallerInfo = field(default_factory=CallerInfo)
    contact_id: int | None = None  # from the CRM outcome (a contact made for an unknown caller)
    deal_id: int | None = None  # the deal the CRM linked the call to
    holders: dict[int, Holder] = field(default_factory=dict)
    agents: dict[str, PopUser] = field(default_factory=dict)  # extension -> user, as resolved
    revision: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    lookup_task: asyncio.Task[None] | None = None
    # Set when the call's CRM lane has handled its end: no later contact or deal will come.
    crm_settled: asyncio.Event = field(default_factory=asyncio.Event)
    wrapup_sent: bool = False

    @property
    def linkedid(self) -> str:
        """The call's id."""
        return self.snapshot.linkedid

    @property
    def pbx(self) -> str:
        """The PBX the call is on."""
        return self.snapshot.pbx

    def agent_ref(self, extension: str | None) -> dict[str, Any] | None:
        """``{"extension", "user"}`` for an agent extension (user None when unmapped)."""
        if extension is None:
            return None
        user = self.agents.get(extension)
        return {"extension": extension, "user": user.to_dict() if user else None}

    def deal(self) -> dict[str, Any] | None:
        """The deal the call belongs to: the CRM's choice, else the contact's only open deal."""
        deals = self.info.deals
        if self.deal_id is not None:
            for deal in deals:
                if deal["id"] == self.deal_id:
                    return deal
            return {"id": self.deal_id}
        return deals[0] if len(deals) == 1 else None


def customer_raw(call: CallSnapshot) -> str | None:
    """The far party's number as the PBX gave it: the caller, or the called of an outbound call."""
    return call.called if call.direction == "outbound" else call.caller


def customer_number(call: CallSnapshot, region: str, extension_pattern: str) -> CallerNumber:
    """The far party's number, normalized and formatted."""
    return format_number(customer_raw(call), region, extension_pattern)


def did_number(call: CallSnapshot, region: str, extension_pattern: str) -> CallerNumber | None:
    """The number the customer dialled, for inbound calls."""
    return format_number(call.did, region, extension_pattern) if call.did else None


def build_card(live: LiveCall, holder: Holder) -> dict[str, Any]:
    """The card ``holder`` sees now."""
    call = live.snapshot
    return {
        "linkedid": call.linkedid,
        "pbx": call.pbx,
        "rev": live.revision,
        "status": holder.status,
        "direction": call.direction,
        "extension": holder.extension,
        "caller": live.customer.to_dict(),
        # On an outbound call the PBX's caller name is our own agent's, not the customer's.
        "caller_name": None if call.direction == "outbound" else call.caller_name,
        "did": live.did.to_dict() if live.did else None,
        "queue": call.queue,
        "originated": call.originated,
        "lookup": live.lookup,
        **live.info.to_dict(),
        "deal": live.deal(),
        "answered_by": live.agent_ref(call.answered_by),
        "transfers": [t.to_dict() for t in call.transfers],
        "started_at": call.started_at,
        "answered_at": call.answered_at,
    }


def build_wrapup(live: LiveCall, holder: Holder, stages: list[dict[str, Any]]) -> dict[str, Any]:
    """The wrap-up card: the call's card plus what the wrap-up form needs."""
    call = live.snapshot
    card = build_card(live, holder)
    card["wrapup"] = {
        "duration_s": call.duration_s,
        "talk_s": call.talk_s,
        "outcome": call.outcome,
        "ended_at": call.ended_at,
        "recording": call.recording,
        "stages": stages,
        "endpoint": "/api/v1/wrapups",
    }
    return card
