"""What the telephony side asks of the CRM for one call event, and what the CRM answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from crmlite.domain.product_text import ProductText, product_text

ContactMode = Literal["find-or-create", "find", "none"]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call as the CRM logs it; the telephony side fills it from its call snapshot."""

    linkedid: str
    direction: str  # inbound, outbound, internal
    customer_number: str | None  # as the PBX gave it: the caller (inbound) or the callee
    customer_name: str | None = None
    our_number: str | None = None  # the DID for inbound, the agent for outbound
    queue: str | None = None
    started_at: dt.datetime | None = None
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    outcome: str | None = None
    agent_user_id: int | None = None  # the user holding the call (follows transfers)
    recording_url: str | None = None
    # Where the call is in its life: "ringing", "answered", "ended"; with the transfer count it
    # keys each update of the call activity so that one is applied once.
    progress: str = "ringing"
    transfers: int = 0
    pbx: str | None = None  # the configured PBX (office) the call went through


@dataclass(frozen=True, slots=True)
class Assignee:
    """Who gets something: a definite user, the contact's or deal's owner, or a group's turn."""

    user_id: int | None = None
    contact_owner: bool = False
    deal_owner: bool = False
    group: str | None = None
    members: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DealRequest:
    pipeline_id: int | None  # None: the default pipeline
    stage_id: int | None  # None: its Unsorted stage
    reuse_open: bool = True


@dataclass(frozen=True, slots=True)
class OwnerRequest:
    key: str  # distinguishes owner changes of one call: answer, each transfer
    assignee: Assignee


@dataclass(frozen=True, slots=True)
class TaskRequest:
    key: str  # one task per key per call (the rule's id)
    title: str  # {caller} becomes the contact's name or the number as people read it
    due_at: dt.datetime
    assignee: Assignee


@dataclass(frozen=True, slots=True)
class CallWork:
    """Everything the rules asked of the CRM for one call event."""

    call: CallRecord
    at: dt.datetime  # the event's time: every row written carries it
    contact: ContactMode = "none"
    deal: DealRequest | None = None
    owner: OwnerRequest | None = None
    tasks: tuple[TaskRequest, ...] = ()
    log_call: bool = False
    rule_id: str | None = None
    # The install's language for the titles this call writes (deal, tasks).
    text: ProductText = field(default_factory=lambda: product_text("en"))
    # Users the caller found active just now (the telephony user cache): not asked again.
    active_users: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class CallEffects:
    """What the call has in the CRM after this event (ids the screen pop links to)."""

    contact_id: int | None = None
    contact_created: bool = False
    deal_id: int | None = None
    deal_created: bool = False
    owner_id: int | None = None
    owner_changed: bool = False
    task_ids: tuple[int, ...] = ()
    tasks_created: tuple[int, ...] = ()
    call_activity_id: int | None = None
    blocked: bool = False
    applied: tuple[str, ...] = field(default=())  # effect keys written by this event
    recorded: frozenset[str] = frozenset()  # every effect key the call has after this event
