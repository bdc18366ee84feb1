"""The Unsorted inbox: deals that calls created wait here until a person accepts, declines or
merges them."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crmlite.db.models import (
    Activity,
    BlockedNumber,
    CallEffect,
    Contact,
    ContactPhone,
    Deal,
    InboxDecision,
    Stage,
)
from crmlite.domain.access import may_assign_to_others, may_claim_deal
from crmlite.domain.clock import Clock
from crmlite.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal
from crmlite.services.common import Page, check_page, require_active_user, utc_now
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.deals import DealService


class DeclineReason(enum.StrEnum):
    SPAM = "spam"
    WRONG_NUMBER = "wrong_number"
    SERVICE_REQUEST = "service_request"


@dataclass(frozen=True, slots=True)
class InboxItem:
    deal_id: int
    title: str
    pipeline_id: int
    stage_id: int
    contact_id: int | None
    contact_name: str | None
    phone: str | None
    owner_id: int | None
    source: str
    created_at: dt.datetime
    calls: int
    last_call_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Decision:
    """What was decided about an Unsorted deal (also what the webhook ``deal.<decision>`` says)."""

    decision_id: int
    decision: str
    deal_id: int
    deal_title: str
    contact_id: int | None
    reason: str | None
    into_deal_id: int | None
    stage_id: int | None
    owner_id: int | None
    decided_by: int | None
    decided_at: dt.datetime
    blocked_numbers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Plain dict (datetimes as they are)."""
        return {
            "decision_id": self.decision_id,
            "decision": self.decision,
            "deal_id": self.deal_id,
            "deal_title": self.deal_title,
            "contact_id": self.contact_id,
            "reason": self.reason,
            "into_deal_id": self.into_deal_id,
            "stage_id": self.stage_id,
            "owner_id": self.owner_id,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "blocked_numbers": list(self.blocked_numbers),
        }


class InboxService:
    """Inbox use cases for one principal inside one unit of work (the caller commits)."""

    def __init__(self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now):
        self.session = session
        self.principal = principal
        self.clock = clock

    async def waiting(
        self, *, pipeline_id: int | None = None, limit: int = 50, offset: int = 0
    ) -> Page[InboxItem]:
        """Open deals in Unsorted stages the principal sees, newest first, with call counts."""
        check_page(limit, offset)
        conditions = [Stage.is_unsorted.is_(True), Stage.kind == "open"]
        if pipeline_id is not None:
            conditions.append(Deal.pipeline_id == pipeline_id)
        if not self.principal.sees_everything:
            conditions.append((Deal.owner_id == self.principal.user_id) | Deal.owner_id.is_(None))
        calls = (
            select(
                Activity.deal_id.label("deal_id"),
                func.count(Activity.id).label("calls"),
                func.max(Activity.started_at).label("last_call_at"),
            )
            .where(Activity.kind == "call", Activity.deal_id.is_not(None))
            .group_by(Activity.deal_id)
            .subquery()
        )
        phone = aliased(ContactPhone)
        first_phone = (
            select(phone.normalized)
            .where(phone.contact_id == Deal.contact_id)
            .order_by(phone.id)
            .limit(1)
            .scalar_subquery()
        )
        base = select(Deal.id).join(Stage, Stage.id == Deal.stage_id).where(*conditions)
        total = await self.session.scalar(select(func.count()).select_from(base.subquery()))
        rows = await self.session.execute(
            select(
                Deal.id,
                Deal.title,
                Deal.pipeline_id,
                Deal.stage_id,
                Deal.contact_id,
                Contact.name,
                first_phone,
                Deal.owner_id,
                Deal.source,
                Deal.created_at,
                func.coalesce(calls.c.calls, 0),
                calls.c.last_call_at,
            )
            .join(Stage, Stage.id == Deal.stage_id)
            .outerjoin(Contact, Contact.id == Deal.contact_id)
            .outerjoin(calls, calls.c.deal_id == Deal.id)
            .where(*conditions)
            .order_by(Deal.created_at.desc(), Deal.id.desc())
            .limit(limit)
            .offset(offset)
        )
        items = [InboxItem(*row) for row in rows]
        return Page(items=items, total=int(total or 0), limit=limit, offset=offset)

    async def _waiting(self, deal_id: int) -> Deal:
        """A deal still waiting in Unsorted that the principal may decide about."""
        deal = await DealService(self.session, self.principal).get(deal_id)
        if not deal.stage.is_unsorted or deal.stage.kind != "open":
            raise Conflict("this deal is not waiting in Unsorted", details={"deal_id": deal_id})
        if not (
            self.principal.may_touch(deal.owner_id)
            or may_claim_deal(self.principal, deal.owner_id, in_unsorted=True)
        ):
            raise PermissionDenied("this deal has another owner", details={"deal_id": deal_id})
        return deal

    async def accept(self, deal_id: int, stage_id: int, owner_id: int | None = None) -> Decision:
        """Take the deal into work: a stage of its pipeline after Unsorted, and an owner."""
        deal = await self._waiting(deal_id)
        target = await self.session.get(Stage, stage_id)
        if target is None or target.pipeline_id != deal.pipeline_id:
            raise InvalidInput(
                "no such stage in the deal's pipeline",
                fields={"stage_id": "a stage of the deal's pipeline"},
            )
        if target.is_unsorted or target.kind != "open":
            raise InvalidInput(
                "choose an open stage after Unsorted",
                fields={"stage_id": "an open stage other than Unsorted"},
            )
        owner = owner_id if owner_id is not None else self.principal.user_id
        if owner != self.principal.user_id and not may_assign_to_others(self.principal):
            raise PermissionDenied("sellers accept deals for themselves only")
        if owner is None:
            raise InvalidInput("name an owner", fields={"owner_id": "required"})
        await require_active_user(self.session, owner, field="owner_id")
        now = self.clock()
        if deal.owner_id != owner:
            deal.owner_id = owner
            deal.updated_at = now
            deal.version += 1
            await self.session.flush()
        await DealMoveService(self.session, self.principal, clock=self.clock).move(
            deal_id, stage_id
        )
        return await self._record(deal, "accepted", now, stage_id=stage_id, owner_id=owner)

    async def decline(
        self, deal_id: int, reason: DeclineReason | str, *, block_number: bool = False
    ) -> Decision:
        """Not a sale: delete the deal (its calls stay on the contact), maybe block the number."""
        try:
            why = DeclineReason(reason)
        except ValueError as err:
            choices = ", ".join(r.value for r in DeclineReason)
            raise InvalidInput("unknown reason", fields={"reason": choices}) from err
        deal = await self._waiting(deal_id)
        now = self.clock()
        blocked: list[str] = []
        if block_number and deal.contact_id is not None:
            blocked = await self._block(deal.contact_id, why.value, now)
        decision = await self._record(deal, "declined", now, reason=why.value, blocked=blocked)
        await self._remove(deal, into=None)
        return decision

    async def merge(self, deal_id: int, into_deal_id: int) -> Decision:
        """Fold the deal into the contact's existing deal: its calls and tasks move there."""
        deal = await self._waiting(deal_id)
        if into_deal_id == deal_id:
            raise InvalidInput("a deal cannot merge into itself", fields={"into_deal_id": "other"})
        try:
            target = await DealService(self.session, self.principal).get_for_change(into_deal_id)
        except NotFound as err:
            raise InvalidInput(
                "no such deal", fields={"into_deal_id": "an open deal of the same contact"}
            ) from err
        if target.contact_id != deal.contact_id or target.stage.kind != "open":
            raise InvalidInput(
                "merge into an open deal of the same contact",
                fields={"into_deal_id": "an open deal of the same contact"},
            )
        now = self.clock()
        decision = await self._record(deal, "merged", now, into_deal_id=into_deal_id)
        await self._remove(deal, into=into_deal_id)
        target.updated_at = now
        await self.session.flush()
        return decision

    async def _remove(self, deal: Deal, *, into: int | None) -> None:
        """Move the deal's activities (or detach them) and re-point call effects, then delete."""
        await self.session.execute(
            update(Activity).where(Activity.deal_id == deal.id).values(deal_id=into)
        )
        # Later events of the same call then land on the merged deal (or on none).
        await self.session.execute(
            update(CallEffect).where(CallEffect.deal_id == deal.id).values(deal_id=into)
        )
        await self.session.execute(delete(Deal).where(Deal.id == deal.id))
        self.session.expunge(deal)
        await self.session.flush()

    async def _block(self, contact_id: int, reason: str, now: dt.datetime) -> list[str]:
        numbers = list(
            await self.session.scalars(
                select(ContactPhone.normalized).where(ContactPhone.contact_id == contact_id)
            )
        )
        already = set(
            await self.session.scalars(
                select(BlockedNumber.normalized).where(BlockedNumber.normalized.in_(numbers))
            )
        )
        for number in numbers:
            if number not in already:
                self.session.add(
                    BlockedNumber(
                        normalized=number,
                        reason=reason,
                        created_at=now,
                        created_by_id=self.principal.user_id,
                    )
                )
        await self.session.flush()
        return numbers

    async def _record(
        self,
        deal: Deal,
        decision: str,
        now: dt.datetime,
        *,
        reason: str | None = None,
        into_deal_id: int | None = None,
        stage_id: int | None = None,
        owner_id: int | None = None,
        blocked: list[str] | None = None,
    ) -> Decision:
        row = InboxDecision(
            deal_id=deal.id,
            deal_title=deal.title,
            contact_id=deal.contact_id,
            decision=decision,
            reason=reason,
            into_deal_id=into_deal_id,
            decided_by_id=self.principal.user_id,
            decided_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return Decision(
            decision_id=row.id,
            decision=decision,
            deal_id=deal.id,
            deal_title=deal.title,
            contact_id=deal.contact_id,
            reason=reason,
            into_deal_id=into_deal_id,
            stage_id=stage_id,
            owner_id=owner_id,
            decided_by=self.principal.user_id,
            decided_at=now,
            blocked_numbers=tuple(blocked or ()),
        )


@dataclass(frozen=True, slots=True)
class BlockedView:
    number: str
    reason: str
    created_at: dt.datetime
    created_by: int | None


async def blocked_numbers(
    session: AsyncSession, principal: Principal, *, limit: int = 100, offset: int = 0
) -> Page[BlockedView]:
    """Numbers that never create a deal, newest first (heads and admins)."""
    if not principal.sees_everything:
        raise PermissionDenied("only heads and admins see blocked numbers")
    check_page(limit, offset)
    total = await session.scalar(select(func.count(BlockedNumber.id)))
    rows = await session.execute(
        select(
            BlockedNumber.normalized,
            BlockedNumber.reason,
            BlockedNumber.created_at,
            BlockedNumber.created_by_id,
        )
        .order_by(BlockedNumber.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [BlockedView(row[0], row[1], row[2], row[3]) for row in rows]
    return Page(items=items, total=int(total or 0), limit=limit, offset=offset)


async def unblock_number(session: AsyncSession, principal: Principal, normalized: str) -> None:
    """Let a number create deals again (heads and admins)."""
    if not principal.sees_everything:
        raise PermissionDenied("only heads and admins unblock numbers")
    result = await session.execute(
        delete(BlockedNumber).where(BlockedNumber.normalized == normalized)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"{normalized} is not blocked", details={"number": normalized})
