"""Activities on contacts and deals: notes and call logs, listed newest first."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Activity, Contact, Deal, User
from crmlite.domain.access import sees_owned
from crmlite.domain.clock import Clock
from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal
from crmlite.services.common import Page, check_page, insert_row, utc_now
from crmlite.services.deals import DealService

_LONGEST_CALL_S = 2**31 - 1  # activities.duration_s is an INTEGER column


class ActivityKind(enum.StrEnum):
    NOTE = "note"
    CALL = "call"
    TASK = "task"


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class CallLog:
    direction: CallDirection
    from_number: str | None = None
    to_number: str | None = None
    started_at: dt.datetime | None = None
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    duration_s: int | None = None
    outcome: str | None = None
    agent_id: int | None = None
    recording_url: str | None = None
    linkedid: str | None = None
    body: str | None = None
    pbx: str | None = None  # the configured name of the PBX the call came through


@dataclass(frozen=True, slots=True)
class Parent:
    """What an activity is attached to: a contact, a deal, or both."""

    contact_id: int | None = None
    deal_id: int | None = None


class ActivityService:
    """Activity use cases for one principal inside one unit of work (the caller commits)."""

    def __init__(self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now):
        self.session = session
        self.principal = principal
        self.clock = clock

    async def resolve_parent(self, parent: Parent) -> Parent:
        """Check the principal may change the parents; a deal's contact is attached too."""
        if parent.contact_id is None and parent.deal_id is None:
            raise InvalidInput(
                "attach the activity to a contact or a deal",
                fields={"contact_id": "give contact_id and/or deal_id"},
            )
        contact_id = parent.contact_id
        if contact_id is not None:
            owner = (
                await self.session.execute(select(Contact.owner_id).where(Contact.id == contact_id))
            ).first()
            if owner is None or not sees_owned(self.principal, owner.owner_id):
                raise NotFound(f"no contact {contact_id}", details={"contact_id": contact_id})
        if parent.deal_id is not None:
            deal = await DealService(self.session, self.principal).get_for_change(parent.deal_id)
            # The deal's contact comes along, whoever owns it: the note is about the deal.
            contact_id = contact_id or deal.contact_id
        return Parent(contact_id=contact_id, deal_id=parent.deal_id)

    async def add_note(self, parent: Parent, body: str) -> Activity:
        text = body.strip()
        if not text or len(text) > 10_000:
            raise InvalidInput("invalid note", fields={"body": "1 to 10000 characters"})
        where = await self.resolve_parent(parent)
        return await self._add(Activity(kind=ActivityKind.NOTE.value, body=text), where)

    async def log_call(
        self, parent: Parent, call: CallLog, *, parents_checked: bool = False
    ) -> Activity:
        """Record a call on a contact and/or deal (the call side passes its Linkedid).

        ``parents_checked``: the caller found or made both parents in this transaction (and the
        deal is the contact's), so they are not read again.
        """
        activity_id, _ = await self.insert_call(parent, call, parents_checked=parents_checked)
        activity = await self.session.get(Activity, activity_id)
        if activity is None:  # pragma: no cover - inserted just above in this transaction
            raise NotFound(f"no activity {activity_id}")
        return activity

    async def insert_call(
        self, parent: Parent, call: CallLog, *, parents_checked: bool = False
    ) -> tuple[int, dict[str, Any]]:
        """Record a call as ``log_call`` does, without reading it back: its id and its values."""
        if call.duration_s is not None and call.duration_s < 0:
            raise InvalidInput("negative duration", fields={"duration_s": "must be >= 0"})
        if call.started_at and call.ended_at and call.ended_at < call.started_at:
            raise InvalidInput("the call ends before it starts", fields={"ended_at": "too early"})
        where = parent if parents_checked else await self.resolve_parent(parent)
        duration = call.duration_s
        if duration is None and call.answered_at and call.ended_at:
            duration = int((call.ended_at - call.answered_at).total_seconds())
        if duration is not None and duration > _LONGEST_CALL_S:
            raise InvalidInput("a call that long", fields={"ended_at": "more than 68 years"})
        if call.agent_id is not None and await self.session.get(User, call.agent_id) is None:
            raise InvalidInput("no such agent", fields={"agent_id": "not a user"})
        values: dict[str, Any] = {
            "kind": ActivityKind.CALL.value,
            "body": call.body,
            "direction": call.direction.value,
            "from_number": call.from_number,
            "to_number": call.to_number,
            "started_at": call.started_at,
            "answered_at": call.answered_at,
            "ended_at": call.ended_at,
            "duration_s": duration,
            "outcome": call.outcome,
            "agent_id": call.agent_id,
            "recording_url": call.recording_url,
            "linkedid": call.linkedid,
            "pbx": call.pbx,
            "contact_id": where.contact_id,
            "deal_id": where.deal_id,
            "author_id": self.principal.user_id,
            "created_at": self.clock(),
        }
        return await insert_row(self.session, Activity, values), values

    async def _add(self, activity: Activity, where: Parent) -> Activity:
        activity.contact_id = where.contact_id
        activity.deal_id = where.deal_id
        activity.author_id = self.principal.user_id
        activity.created_at = self.clock()
        self.session.add(activity)
        await self.session.flush()
        return activity

    def visible(self) -> ColumnElement[bool] | None:
        """SQL for activities this principal sees: on their contacts or deals, or their tasks."""
        if self.principal.sees_everything:
            return None
        me = self.principal.user_id
        own_contacts = select(Contact.id).where(Contact.owner_id == me)
        own_deals = select(Deal.id).where(Deal.owner_id == me)
        return or_(
            Activity.contact_id.in_(own_contacts),
            Activity.deal_id.in_(own_deals),
            and_(Activity.kind == ActivityKind.TASK.value, Activity.assignee_id == me),
            Activity.author_id == me,
        )

    async def get(self, activity_id: int) -> Activity:
        query = select(Activity).where(Activity.id == activity_id)
        visible = self.visible()
        if visible is not None:
            query = query.where(visible)
        activity = await self.session.scalar(query)
        if activity is None:
            raise NotFound(f"no activity {activity_id}", details={"activity_id": activity_id})
        return activity

    async def find(
        self,
        *,
        contact_id: int | None = None,
        deal_id: int | None = None,
        kind: ActivityKind | None = None,
        pbx: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Activity]:
        """Activities the principal sees, newest first, optionally of one contact or deal."""
        check_page(limit, offset)
        conditions = self.conditions(contact_id=contact_id, deal_id=deal_id, kind=kind, pbx=pbx)
        total = await self.session.scalar(select(func.count(Activity.id)).where(*conditions))
        rows = await self.session.scalars(
            select(Activity)
            .where(*conditions)
            .order_by(Activity.created_at.desc(), Activity.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return Page(items=list(rows), total=total or 0, limit=limit, offset=offset)

    def conditions(
        self,
        *,
        contact_id: int | None = None,
        deal_id: int | None = None,
        kind: ActivityKind | None = None,
        pbx: str | None = None,
    ) -> list[ColumnElement[bool]]:
        """What ``find`` filters on (exports too); ``pbx``: calls through that office's PBX."""
        conditions: list[ColumnElement[bool]] = []
        visible = self.visible()
        if visible is not None:
            conditions.append(visible)
        if contact_id is not None:
            conditions.append(Activity.contact_id == contact_id)
        if deal_id is not None:
            conditions.append(Activity.deal_id == deal_id)
        if kind is not None:
            conditions.append(Activity.kind == kind.value)
        if pbx is not None:
            conditions.append(Activity.pbx == pbx)
        return conditions

    async def delete(self, activity_id: int) -> None:
        """Remove a note or call log; only its author, heads and admins may."""
        activity = await self.get(activity_id)
        if not self.principal.may_touch(activity.author_id):
            raise PermissionDenied("only the author removes an activity")
        await self.session.delete(activity)
        await self.session.flush()
