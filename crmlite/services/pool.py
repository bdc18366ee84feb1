"""The public pool's use cases: list it, claim from it, assign from it, release into it, history.

A claim is one conditional UPDATE (``owner_id IS NULL AND pooled_at IS NOT NULL``): of two sellers
claiming the same contact at once, the database lets exactly one row change, and the other gets
:class:`AlreadyClaimed`. The seller's limit holds under concurrency too: on PostgreSQL the claim
first locks the seller's user row (``FOR UPDATE``), so one seller's claims run one after the
other; SQLite has one writer at a time, and the count is read after the claim's own write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Activity, Contact, ContactPoolEvent, Deal, Stage, User
from crmlite.domain.access import may_assign_to_others
from crmlite.domain.clock import Clock
from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied
from crmlite.domain.pool import (
    LEFT_AN_OWNER,
    AlreadyClaimed,
    NotHeld,
    PoolEventKind,
    PoolPolicy,
    check_claim,
)
from crmlite.domain.principal import Principal
from crmlite.services.common import Page, check_page, require_active_user, text_variants, utc_now
from crmlite.services.contacts import ContactService
from crmlite.services.pool_return import move_to_pool


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """A contact in the pool, with why and how often it came back and who had it last."""

    contact_id: int
    name: str
    company: str | None
    pooled_at: dt.datetime
    last_activity: dt.datetime | None
    kind: str | None  # how it came back last: returned or released
    reason: str | None
    times_returned: int
    previous_owner_id: int | None
    previous_owner_name: str | None


@dataclass(frozen=True, slots=True)
class PoolEventView:
    id: int
    contact_id: int
    kind: str
    at: dt.datetime
    reason: str | None
    from_user_id: int | None
    from_user_name: str | None
    to_user_id: int | None
    to_user_name: str | None
    by_user_id: int | None
    by_user_name: str | None


@dataclass(frozen=True, slots=True)
class PoolFacts:
    """What the ringing card and the router need to know of a pool contact."""

    contact_id: int
    pooled_at: dt.datetime
    previous_owner_id: int | None
    previous_owner_name: str | None
    reason: str | None


class PoolService:
    """Pool use cases for one principal inside one unit of work (the caller commits)."""

    def __init__(
        self,
        session: AsyncSession,
        principal: Principal,
        policy: PoolPolicy,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.session = session
        self.principal = principal
        self.policy = policy
        self.clock = clock

    async def claim(self, contact_id: int) -> Contact:
        """Take a pool contact for oneself, within the limit and past the cool-down."""
        if self.principal.user_id is None:
            raise PermissionDenied("only a user can claim a contact")
        await self._take(contact_id, self.principal.user_id, PoolEventKind.CLAIMED)
        return await self._contact(contact_id)

    async def assign(self, contact_id: int, user_id: int) -> Contact:
        """A head gives a pool contact to a seller (a head's call: no limit, no cool-down)."""
        if not may_assign_to_others(self.principal):
            raise PermissionDenied("only heads of sales assign contacts from the pool")
        await require_active_user(self.session, user_id, field="user_id")
        await self._take(contact_id, user_id, PoolEventKind.ASSIGNED)
        return await self._contact(contact_id)

    async def release(self, contact_id: int, reason: str) -> Contact:
        """Give a held contact back to the pool, with its open deals, saying why."""
        why = reason.strip()
        if not why or len(why) > 200:
            raise InvalidInput("say why", fields={"reason": "1 to 200 characters"})
        contact = await ContactService(self.session, self.principal).get(contact_id)
        if contact.owner_id is None:
            raise NotHeld("nobody holds this contact", details={"contact_id": contact_id})
        moved = await move_to_pool(
            self.session,
            contact_id=contact_id,
            owner_id=contact.owner_id,
            owned_since=None,
            kind=PoolEventKind.RELEASED,
            reason=why,
            by_user_id=self.principal.user_id,
            now=self.clock(),
        )
        if moved is None:
            raise NotHeld("the contact changed hands meanwhile", details={"contact_id": contact_id})
        return await self._contact(contact_id)

    async def _take(self, contact_id: int, user_id: int, kind: PoolEventKind) -> None:
        now = self.clock()
        # PostgreSQL: one seller's claims queue on their user row, so the count below is
        # theirs alone. SQLite ignores FOR UPDATE; its single writer serializes the claims.
        await self.session.execute(select(User.id).where(User.id == user_id).with_for_update())
        taken = await self.session.execute(
            update(Contact)
            .where(
                Contact.id == contact_id,
                Contact.owner_id.is_(None),
                Contact.pooled_at.is_not(None),
            )
            .values(owner_id=user_id, owned_since=now, pooled_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            exists = await self.session.scalar(select(Contact.id).where(Contact.id == contact_id))
            if exists is None:
                raise NotFound(f"no contact {contact_id}", details={"contact_id": contact_id})
            raise AlreadyClaimed(
                "this contact is not in the pool (someone took it first)",
                details={"contact_id": contact_id},
            )
        if kind is PoolEventKind.CLAIMED:
            held = await self.session.scalar(
                select(func.count())
                .select_from(Contact)
                .where(Contact.owner_id == user_id, Contact.id != contact_id)
            )
            check_claim(
                held=held or 0,
                policy=self.policy,
                left_this_seller_at=await self._left_at(contact_id, user_id),
                now=now,
            )
        open_stages = select(Stage.id).where(Stage.kind == "open")
        await self.session.execute(
            update(Deal)
            .where(
                Deal.contact_id == contact_id,
                Deal.owner_id.is_(None),
                Deal.stage_id.in_(open_stages),
            )
            .values(owner_id=user_id, updated_at=now, version=Deal.version + 1)
            .execution_options(synchronize_session=False)
        )
        self.session.add(
            ContactPoolEvent(
                contact_id=contact_id,
                kind=kind.value,
                to_user_id=user_id,
                by_user_id=self.principal.user_id,
                at=now,
            )
        )
        await self.session.flush()

    async def _left_at(self, contact_id: int, user_id: int) -> dt.datetime | None:
        return await self.session.scalar(
            select(ContactPoolEvent.at)
            .where(
                ContactPoolEvent.contact_id == contact_id,
                ContactPoolEvent.kind.in_([k.value for k in LEFT_AN_OWNER]),
                ContactPoolEvent.from_user_id == user_id,
            )
            .order_by(ContactPoolEvent.at.desc(), ContactPoolEvent.id.desc())
            .limit(1)
        )

    async def _contact(self, contact_id: int) -> Contact:
        return await ContactService(self.session, self.principal).get(
            contact_id, check_access=False
        )

    async def pool(
        self, *, text: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[PoolEntry]:
        """The pool, the contacts that came back last first; every user sees it."""
        check_page(limit, offset)
        query = pool_query(text)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = (await self.session.execute(pool_page(query, limit, offset))).all()
        ids = [int(r.id) for r in rows]
        left, counts = await _arrivals(self.session, ids)
        last_activity = await _last_activity(self.session, ids)
        names = await _names(self.session, (e.from_user_id for e in left.values() if e))
        items = []
        for row in rows:
            event = left.get(int(row.id))
            previous = event.from_user_id if event is not None else None
            items.append(
                PoolEntry(
                    contact_id=int(row.id),
                    name=row.name,
                    company=row.company,
                    pooled_at=row.pooled_at,
                    last_activity=last_activity.get(int(row.id)),
                    kind=event.kind if event is not None else None,
                    reason=event.reason if event is not None else None,
                    times_returned=counts.get(int(row.id), 0),
                    previous_owner_id=previous,
                    previous_owner_name=names.get(previous) if previous is not None else None,
                )
            )
        return Page(items=items, total=total or 0, limit=limit, offset=offset)

    async def history(self, contact_id: int) -> list[PoolEventView]:
        """The contact's pool events, oldest first, for whoever sees the contact."""
        await ContactService(self.session, self.principal).get(contact_id)
        events = list(
            await self.session.scalars(
                select(ContactPoolEvent)
                .where(ContactPoolEvent.contact_id == contact_id)
                .order_by(ContactPoolEvent.at, ContactPoolEvent.id)
            )
        )
        names = await _names(
            self.session,
            (u for e in events for u in (e.from_user_id, e.to_user_id, e.by_user_id)),
        )
        return [
            PoolEventView(
                id=e.id,
                contact_id=e.contact_id,
                kind=e.kind,
                at=e.at,
                reason=e.reason,
                from_user_id=e.from_user_id,
                from_user_name=names.get(e.from_user_id) if e.from_user_id else None,
                to_user_id=e.to_user_id,
                to_user_name=names.get(e.to_user_id) if e.to_user_id else None,
                by_user_id=e.by_user_id,
                by_user_name=names.get(e.by_user_id) if e.by_user_id else None,
            )
            for e in events
        ]


PoolSelect = Select[int, str, str | None, dt.datetime | None]


def pool_query(text: str | None = None) -> PoolSelect:
    """The contacts in the pool, those whose name or company reads like ``text`` if given."""
    query = select(Contact.id, Contact.name, Contact.company, Contact.pooled_at).where(
        Contact.pooled_at.is_not(None)
    )
    if text and text.strip():
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for pattern in text_variants(text.strip())
                    for column in (Contact.name, Contact.company)
                )
            )
        )
    return query


def pool_page(query: PoolSelect, limit: int, offset: int) -> PoolSelect:
    """One page, last come back first: read off ix_contacts_pool_order in order, never sorted."""
    return query.order_by(Contact.pooled_at.desc(), Contact.id.desc()).limit(limit).offset(offset)


async def pool_facts(session: AsyncSession, contact_ids: Sequence[int]) -> dict[int, PoolFacts]:
    """The pool facts of those of ``contact_ids`` that sit in the pool (two indexed reads)."""
    if not contact_ids:
        return {}
    pooled = (
        await session.execute(
            select(Contact.id, Contact.pooled_at).where(
                Contact.id.in_(contact_ids), Contact.pooled_at.is_not(None)
            )
        )
    ).all()
    left, _ = await _arrivals(session, [int(r.id) for r in pooled])
    names = await _names(session, (e.from_user_id for e in left.values()))
    facts = {}
    for row in pooled:
        event = left.get(int(row.id))
        previous = event.from_user_id if event is not None else None
        facts[int(row.id)] = PoolFacts(
            contact_id=int(row.id),
            pooled_at=row.pooled_at,
            previous_owner_id=previous,
            previous_owner_name=names.get(previous) if previous is not None else None,
            reason=event.reason if event is not None else None,
        )
    return facts


async def _arrivals(
    session: AsyncSession, ids: Sequence[int]
) -> tuple[dict[int, ContactPoolEvent], dict[int, int]]:
    """Each contact's latest return or release (what put it in the pool), and how many it had."""
    if not ids:
        return {}, {}
    rows = await session.scalars(
        select(ContactPoolEvent)
        .where(
            ContactPoolEvent.contact_id.in_(ids),
            ContactPoolEvent.kind.in_([k.value for k in LEFT_AN_OWNER]),
        )
        .order_by(ContactPoolEvent.contact_id, ContactPoolEvent.at, ContactPoolEvent.id)
    )
    latest: dict[int, ContactPoolEvent] = {}
    counts: dict[int, int] = {}
    for event in rows:
        latest[event.contact_id] = event  # ordered by time: the last one wins
        counts[event.contact_id] = counts.get(event.contact_id, 0) + 1
    return latest, counts


async def _last_activity(session: AsyncSession, ids: Sequence[int]) -> dict[int, dt.datetime]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Activity.contact_id, func.max(Activity.created_at))
        .where(Activity.contact_id.in_(ids))
        .group_by(Activity.contact_id)
    )
    return {int(c or 0): at for c, at in rows if c is not None and at is not None}


async def _names(session: AsyncSession, user_ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {u for u in user_ids if u is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {int(user_id): name for user_id, name in rows}
