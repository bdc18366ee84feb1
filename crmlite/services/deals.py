"""Deals: create, read, list, edit, claim, delete, and read their stage history."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from crmlite.db.models import Contact, Deal, DealStageChange, LeadScore, Stage, User
from crmlite.domain.access import (
    check_may_change_deal,
    may_assign_to_others,
    may_claim_deal,
    sees_deal,
    sees_owned,
)
from crmlite.domain.clock import Clock
from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied
from crmlite.domain.money import parse_amount, parse_currency
from crmlite.domain.principal import Principal
from crmlite.domain.stages import (
    DealSource,
    StageKind,
    StageRef,
    check_version,
    plan_placement,
)
from crmlite.services.common import (
    Page,
    check_page,
    insert_row,
    require_active_user,
    resolve_owner,
    text_variants,
    utc_now,
)
from crmlite.services.ownership import hand_over
from crmlite.services.pipelines import PipelineService, stage_ref
from crmlite.services.stage_moves import history_row, record_history

SORT_COLUMNS = {
    "created_at": Deal.created_at,
    "updated_at": Deal.updated_at,
    "amount": Deal.amount,
    "title": Deal.title,
    "stage_entered_at": Deal.stage_entered_at,
    "expected_close_date": Deal.expected_close_date,
    "id": Deal.id,
    "score": LeadScore.score,  # the lead score (crmlite.services.scoring); unscored deals last
}


class DealStatus(enum.StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class DealFilter:
    pipeline_id: int | None = None
    stage_ids: tuple[int, ...] = ()
    owner_id: int | None = None
    unassigned: bool = False
    status: DealStatus | None = None
    contact_id: int | None = None
    text: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    sort: str = "-created_at"
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class DealChanges:
    title: str | None = None
    amount: Decimal | str | int | None = None
    currency: str | None = None
    contact_id: int | None = None
    clear_contact: bool = False
    owner_id: int | None = None
    expected_close_date: dt.date | None = None
    clear_expected_close_date: bool = False
    expected_version: int | None = None
    touched: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    from_stage_id: int | None
    from_stage_name: str | None
    to_stage_id: int
    to_stage_name: str
    changed_at: dt.datetime
    changed_by_id: int | None
    changed_by_name: str | None


def deal_query() -> Select[Deal]:
    """Deals with their stage and contact loaded in the same statement (no lazy loads)."""
    return select(Deal).options(joinedload(Deal.stage), joinedload(Deal.contact))


@dataclass(frozen=True, slots=True)
class NewDeal:
    """A deal just inserted, as written."""

    id: int
    owner_id: int | None
    version: int


class DealService:
    """Deal use cases for one principal inside one unit of work (the caller commits)."""

    def __init__(self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now):
        self.session = session
        self.principal = principal
        self.clock = clock

    def visible(self) -> ColumnElement[bool] | None:
        """SQL for "deals this principal sees" (needs Stage joined); None means all."""
        if self.principal.sees_everything:
            return None
        return or_(
            Deal.owner_id == self.principal.user_id,
            and_(Deal.owner_id.is_(None), Stage.is_unsorted.is_(True)),
        )

    async def get(self, deal_id: int) -> Deal:
        """One deal the principal sees; someone else's reads as NotFound."""
        deal = await self.session.scalar(
            deal_query().where(Deal.id == deal_id).execution_options(populate_existing=True)
        )
        if deal is None or not sees_deal(
            self.principal, deal.owner_id, in_unsorted=deal.stage.is_unsorted
        ):
            raise NotFound(f"no deal {deal_id}", details={"deal_id": deal_id})
        return deal

    async def get_for_change(self, deal_id: int) -> Deal:
        """One deal the principal may change; an unclaimed Unsorted deal must be claimed first."""
        deal = await self.get(deal_id)
        self.check_may_change(deal)
        return deal

    def check_may_change(self, deal: Deal) -> None:
        """NotFound when the principal does not see the deal, forbidden until they claim it."""
        check_may_change_deal(
            self.principal, deal.id, deal.owner_id, in_unsorted=deal.stage.is_unsorted
        )

    async def create(
        self,
        title: str,
        *,
        pipeline_id: int | None = None,
        stage_id: int | None = None,
        amount: Decimal | str | int = Decimal("0"),
        currency: str = "RUB",
        contact_id: int | None = None,
        owner_id: int | None = None,
        source: str = DealSource.MANUAL,
        expected_close_date: dt.date | None = None,
        lost_reason: str | None = None,
        placed_in: StageRef | None = None,
        contact_checked: bool = False,
    ) -> Deal:
        """Create a deal in ``stage_id`` (default: the pipeline's Unsorted) and record it.

        Callers that already know the stage (``placed_in``, e.g. from the call catalog) or that
        found the contact in this transaction (``contact_checked``) spare those reads.
        """
        made = await self.insert(
            title,
            pipeline_id=pipeline_id,
            stage_id=stage_id,
            amount=amount,
            currency=currency,
            contact_id=contact_id,
            owner_id=owner_id,
            source=source,
            expected_close_date=expected_close_date,
            lost_reason=lost_reason,
            placed_in=placed_in,
            contact_checked=contact_checked,
        )
        return await self.get_unchecked(made.id)

    async def insert(
        self,
        title: str,
        *,
        pipeline_id: int | None = None,
        stage_id: int | None = None,
        amount: Decimal | str | int = Decimal("0"),
        currency: str = "RUB",
        contact_id: int | None = None,
        owner_id: int | None = None,
        source: str = DealSource.MANUAL,
        expected_close_date: dt.date | None = None,
        lost_reason: str | None = None,
        placed_in: StageRef | None = None,
        contact_checked: bool = False,
    ) -> NewDeal:
        """Create a deal as ``create`` does, without reading it back: its id, owner, version."""
        clean_title = _clean_title(title)
        money = parse_amount(amount)
        code = parse_currency(currency)
        try:
            deal_source = DealSource(source)
        except ValueError as err:
            raise InvalidInput(
                "unknown source", fields={"source": "call, manual or import"}
            ) from err
        stage = placed_in or stage_ref(await self._initial_stage(pipeline_id, stage_id))
        owner = await resolve_owner(self.session, self.principal, owner_id)
        if contact_id is not None and not contact_checked:
            await self._require_contact(contact_id)
        now = self.clock()
        placed = plan_placement(stage, now=now, lost_reason=lost_reason)
        deal_id = await insert_row(
            self.session,
            Deal,
            {
                "title": clean_title,
                "amount": money,
                "currency": code,
                "contact_id": contact_id,
                "owner_id": owner,
                "pipeline_id": stage.pipeline_id,
                "stage_id": stage.id,
                "source": deal_source.value,
                "lost_reason": placed.lost_reason,
                "expected_close_date": expected_close_date,
                "created_at": now,
                "updated_at": now,
                "stage_entered_at": now,
                "closed_at": placed.closed_at,
                "version": 1,
            },
        )
        await record_history(
            self.session, [history_row(deal_id, None, stage.id, now, self.principal.user_id)]
        )
        return NewDeal(deal_id, owner, 1)

    async def get_unchecked(self, deal_id: int) -> Deal:
        deal = await self.session.scalar(
            deal_query().where(Deal.id == deal_id).execution_options(populate_existing=True)
        )
        if deal is None:
            raise NotFound(f"no deal {deal_id}", details={"deal_id": deal_id})
        return deal

    async def find(self, criteria: DealFilter) -> Page[Deal]:
        """Deals matching ``criteria`` that the principal sees, one page, with the total."""
        check_page(criteria.limit, criteria.offset)
        query = self._filtered(criteria)
        total = await self.session.scalar(
            query.with_only_columns(func.count(Deal.id)).order_by(None)
        )
        descending = criteria.sort.startswith("-")
        column = SORT_COLUMNS.get(criteria.sort.lstrip("-"))
        if column is None:
            raise InvalidInput(
                "unknown sort", fields={"sort": "one of " + ", ".join(sorted(SORT_COLUMNS))}
            )
        order = column.desc() if descending else column.asc()
        if column is LeadScore.score:
            query = query.outerjoin(
                LeadScore, and_(LeadScore.subject == "deal", LeadScore.subject_id == Deal.id)
            )
            order = order.nulls_last()
        tie = Deal.id.desc() if descending else Deal.id.asc()
        rows = await self.session.scalars(
            query.options(joinedload(Deal.stage), joinedload(Deal.contact))
            .order_by(order, tie)
            .limit(criteria.limit)
            .offset(criteria.offset)
        )
        return Page(
            items=list(rows.unique()),
            total=total or 0,
            limit=criteria.limit,
            offset=criteria.offset,
        )

    def _filtered(self, criteria: DealFilter) -> Select[Deal]:
        return select(Deal).join(Stage, Stage.id == Deal.stage_id).where(*self.conditions(criteria))

    def conditions(self, criteria: DealFilter) -> list[ColumnElement[bool]]:
        """What ``find`` filters on (exports too); needs Stage joined to Deal."""
        conditions: list[ColumnElement[bool]] = []
        visible = self.visible()
        if visible is not None:
            conditions.append(visible)
        if criteria.pipeline_id is not None:
            conditions.append(Deal.pipeline_id == criteria.pipeline_id)
        if criteria.stage_ids:
            conditions.append(Deal.stage_id.in_(criteria.stage_ids))
        if criteria.owner_id is not None:
            conditions.append(Deal.owner_id == criteria.owner_id)
        if criteria.unassigned:
            conditions.append(Deal.owner_id.is_(None))
        if criteria.status is not None:
            conditions.append(Stage.kind == criteria.status.value)
        if criteria.contact_id is not None:
            conditions.append(Deal.contact_id == criteria.contact_id)
        if criteria.created_from is not None:
            conditions.append(Deal.created_at >= criteria.created_from)
        if criteria.created_to is not None:
            conditions.append(Deal.created_at < criteria.created_to)
        if criteria.text and criteria.text.strip():
            matching_contacts = select(Contact.id).where(
                or_(*(Contact.name.ilike(p, escape="\\") for p in text_variants(criteria.text)))
            )
            conditions.append(
                or_(
                    *(Deal.title.ilike(p, escape="\\") for p in text_variants(criteria.text)),
                    Deal.contact_id.in_(matching_contacts),
                )
            )
        return conditions

    async def update(self, deal_id: int, changes: DealChanges) -> Deal:
        """Edit a deal's fields (not its stage: that is a move)."""
        deal = await self.get_for_change(deal_id)
        check_version(deal.version, changes.expected_version)
        if changes.title is not None:
            deal.title = _clean_title(changes.title)
        if changes.amount is not None:
            deal.amount = parse_amount(changes.amount)
        if changes.currency is not None:
            deal.currency = parse_currency(changes.currency)
        if changes.clear_contact:
            deal.contact_id = None
        elif changes.contact_id is not None and changes.contact_id != deal.contact_id:
            await self._require_contact(changes.contact_id)
            deal.contact_id = changes.contact_id
        if changes.clear_expected_close_date:
            deal.expected_close_date = None
        elif changes.expected_close_date is not None:
            deal.expected_close_date = changes.expected_close_date
        if changes.owner_id is not None and changes.owner_id != deal.owner_id:
            if not may_assign_to_others(self.principal):
                raise PermissionDenied("sellers cannot give deals to other users")
            await require_active_user(self.session, changes.owner_id, field="owner_id")
            deal.owner_id = changes.owner_id
        deal.updated_at = self.clock()
        deal.version += 1
        await self.session.flush()
        return await self.get_unchecked(deal_id)

    async def claim(self, deal_id: int) -> Deal:
        """Take an unowned deal from Unsorted (sellers), or any deal (heads, admins).

        Its contact comes along when nobody owns it yet (a caller the call side just created),
        so the seller can open the customer of the deal they took.
        """
        deal = await self.get(deal_id)
        if not may_claim_deal(self.principal, deal.owner_id, in_unsorted=deal.stage.is_unsorted):
            raise PermissionDenied("this deal already has an owner", details={"deal_id": deal_id})
        if deal.owner_id != self.principal.user_id:
            now = self.clock()
            deal.owner_id = self.principal.user_id
            deal.updated_at = now
            deal.version += 1
            # A pool contact is claimed through the pool (its limit and cool-down), not here.
            contact = deal.contact
            if contact is not None and contact.owner_id is None and contact.pooled_at is None:
                hand_over(contact, self.principal.user_id, now)
            await self.session.flush()
        return await self.get_unchecked(deal_id)

    async def delete(self, deal_id: int) -> None:
        deal = await self.get_for_change(deal_id)
        await self.session.delete(deal)
        await self.session.flush()

    async def history(self, deal_id: int) -> list[HistoryEntry]:
        """Every stage change of a deal, oldest first, with stage and user names."""
        await self.get(deal_id)
        from_stage = aliased(Stage)
        to_stage = aliased(Stage)
        rows = await self.session.execute(
            select(
                DealStageChange.id,
                DealStageChange.from_stage_id,
                from_stage.name,
                DealStageChange.to_stage_id,
                to_stage.name,
                DealStageChange.changed_at,
                DealStageChange.changed_by_id,
                User.display_name,
            )
            .outerjoin(from_stage, from_stage.id == DealStageChange.from_stage_id)
            .join(to_stage, to_stage.id == DealStageChange.to_stage_id)
            .outerjoin(User, User.id == DealStageChange.changed_by_id)
            .where(DealStageChange.deal_id == deal_id)
            .order_by(DealStageChange.changed_at, DealStageChange.id)
        )
        return [HistoryEntry(*row) for row in rows]

    async def _initial_stage(self, pipeline_id: int | None, stage_id: int | None) -> Stage:
        pipelines = PipelineService(self.session, self.principal, clock=self.clock)
        if stage_id is not None:
            stage = await self.session.get(Stage, stage_id)
            if stage is None or (pipeline_id is not None and stage.pipeline_id != pipeline_id):
                raise InvalidInput(
                    "no such stage", fields={"stage_id": "not a stage of the pipeline"}
                )
            return stage
        if pipeline_id is None:
            return await pipelines.default_intake_stage()
        pipeline = await pipelines.get(pipeline_id)
        stages = sorted(pipeline.stages, key=lambda s: (not s.is_unsorted, s.position))
        if not stages:
            raise InvalidInput("the pipeline has no stages", fields={"pipeline_id": "no stages"})
        return stages[0]

    async def _require_contact(self, contact_id: int) -> None:
        owner = await self.session.execute(select(Contact.owner_id).where(Contact.id == contact_id))
        row = owner.first()
        if row is None or not sees_owned(self.principal, row.owner_id):
            raise InvalidInput("no such contact", fields={"contact_id": "no such contact"})


def deal_status(deal: Deal) -> DealStatus:
    return DealStatus(StageKind(deal.stage.kind).value)


def _clean_title(title: str) -> str:
    clean = title.strip()
    if not clean or len(clean) > 200:
        raise InvalidInput("invalid title", fields={"title": "1 to 200 characters"})
    return clean
