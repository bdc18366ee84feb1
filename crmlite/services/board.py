"""The kanban board of one pipeline: columns in stage order, newest (or best-scored) cards first.

What a seller sees: their own cards, plus, in the Unsorted column, the cards nobody owns yet
(deals made from calls) so they can claim them. Heads and admins see every card. Totals (count
and sums per currency) are over every card the principal sees under the filters, not one page.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import (
    Activity,
    BoardTotal,
    Contact,
    Deal,
    LeadScore,
    Pipeline,
    Stage,
    User,
)
from crmlite.domain.board import (
    DEFAULT_CARDS_PER_COLUMN,
    UNSCORED,
    Card,
    CardOrder,
    Column,
    check_limit,
    column_totals,
    days_in_stage,
    decode_cursor,
    page_cards,
)
from crmlite.domain.clock import Clock
from crmlite.domain.errors import NotFound
from crmlite.domain.principal import Principal
from crmlite.domain.stages import order_stages
from crmlite.services.common import text_variants, utc_now
from crmlite.services.pipelines import PipelineService, stage_ref

NOBODY = 0  # board_totals.owner_key of deals nobody owns


@dataclass(frozen=True, slots=True)
class BoardFilter:
    owner_id: int | None = None
    unassigned: bool = False
    text: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    # One office: deals with a call through this PBX, on the deal or with the deal's contact.
    pbx: str | None = None
    limit: int = DEFAULT_CARDS_PER_COLUMN
    order: CardOrder = CardOrder.NEWEST


@dataclass(frozen=True, slots=True)
class Board:
    pipeline: Pipeline
    columns: list[Column]


class BoardService:
    """Board reads for one principal."""

    def __init__(self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now):
        self.session = session
        self.principal = principal
        self.clock = clock

    async def board(self, pipeline_id: int, criteria: BoardFilter | None = None) -> Board:
        """Every column of the pipeline with its first page of cards and its totals."""
        criteria = criteria or BoardFilter()
        check_limit(criteria.limit)
        pipeline = await PipelineService(self.session, self.principal).get(pipeline_id)
        stages = order_stages(pipeline.stages)
        totals = await self._totals(pipeline_id, criteria, pipeline.stages)
        now = self.clock()
        cards = await self._cards([(stage, None) for stage in stages], criteria, now)
        columns: list[Column] = []
        for stage in stages:
            column = _column(stage)
            column.count, column.amounts = totals.get(stage.id, (0, {}))
            column.cards, column.next_cursor = page_cards(
                cards.get(stage.id, []), criteria.limit, criteria.order
            )
            columns.append(column)
        return Board(pipeline=pipeline, columns=columns)

    async def column(
        self, pipeline_id: int, stage_id: int, cursor: str | None, criteria: BoardFilter
    ) -> Column:
        """One column's next page after ``cursor`` (totals included, as on the board)."""
        check_limit(criteria.limit)
        stage = await self.session.get(Stage, stage_id)
        if stage is None or stage.pipeline_id != pipeline_id or stage.archived_at is not None:
            raise NotFound(f"no stage {stage_id} in pipeline {pipeline_id}")
        totals = await self._totals(pipeline_id, criteria, [stage])
        column = _column(stage)
        column.count, column.amounts = totals.get(stage.id, (0, {}))
        cards = await self._cards([(stage, cursor)], criteria, self.clock())
        column.cards, column.next_cursor = page_cards(
            cards.get(stage.id, []), criteria.limit, criteria.order
        )
        return column

    def _conditions(self, criteria: BoardFilter) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if criteria.owner_id is not None:
            conditions.append(Deal.owner_id == criteria.owner_id)
        if criteria.unassigned:
            conditions.append(Deal.owner_id.is_(None))
        if criteria.created_from is not None:
            conditions.append(Deal.created_at >= criteria.created_from)
        if criteria.created_to is not None:
            conditions.append(Deal.created_at < criteria.created_to)
        if criteria.pbx is not None:
            conditions.append(_through_office(criteria.pbx))
        if criteria.text and criteria.text.strip():
            patterns = text_variants(criteria.text.strip())
            matching_contacts = select(Contact.id).where(
                or_(*(Contact.name.ilike(p, escape="\\") for p in patterns))
            )
            conditions.append(
                or_(
                    *(Deal.title.ilike(p, escape="\\") for p in patterns),
                    Deal.contact_id.in_(matching_contacts),
                )
            )
        return conditions

    def _visible(self, unsorted_ids: list[int]) -> ColumnElement[bool] | None:
        if self.principal.sees_everything:
            return None
        mine = Deal.owner_id == self.principal.user_id
        if not unsorted_ids:
            return mine
        return or_(mine, and_(Deal.owner_id.is_(None), Deal.stage_id.in_(unsorted_ids)))

    async def _totals(
        self, pipeline_id: int, criteria: BoardFilter, stages: list[Stage]
    ) -> dict[int, tuple[int, dict[str, Decimal]]]:
        """Count and sums per column: from the running totals, or from the deals when filtered."""
        unsorted = [s.id for s in stages if s.is_unsorted]
        if criteria.text or criteria.created_from or criteria.created_to or criteria.pbx:
            rows = await self._totals_from_deals(pipeline_id, criteria, stages, unsorted)
        else:
            rows = await self._totals_from_running(pipeline_id, criteria, stages, unsorted)
        per_stage: dict[int, list[tuple[str, int, Decimal]]] = defaultdict(list)
        for stage_id, currency, count, total in rows:
            if count:
                per_stage[stage_id].append((currency, count, total))
        result: dict[int, tuple[int, dict[str, Decimal]]] = {}
        for stage_id, stage_rows in per_stage.items():
            folded = column_totals(stage_rows)
            result[stage_id] = (folded.count, folded.amounts)
        return result

    async def _totals_from_running(
        self, pipeline_id: int, criteria: BoardFilter, stages: list[Stage], unsorted: list[int]
    ) -> list[tuple[int, str, int, Decimal]]:
        """Read the trigger-kept ``board_totals``: a few rows per column, whatever the deals."""
        conditions = [BoardTotal.pipeline_id == pipeline_id]
        if len(stages) == 1:
            conditions.append(BoardTotal.stage_id == stages[0].id)
        if criteria.owner_id is not None:
            conditions.append(BoardTotal.owner_key == criteria.owner_id)
        if criteria.unassigned:
            conditions.append(BoardTotal.owner_key == NOBODY)
        if not self.principal.sees_everything:
            mine = BoardTotal.owner_key == (self.principal.user_id or NOBODY)
            conditions.append(
                or_(mine, and_(BoardTotal.owner_key == NOBODY, BoardTotal.stage_id.in_(unsorted)))
                if unsorted
                else mine
            )
        rows = await self.session.execute(
            select(
                BoardTotal.stage_id,
                BoardTotal.currency,
                func.sum(BoardTotal.deals),
                func.sum(BoardTotal.cents),
            )
            .where(*conditions)
            .group_by(BoardTotal.stage_id, BoardTotal.currency)
        )
        return [
            (stage_id, currency, int(count or 0), Decimal(int(cents or 0)) / 100)
            for stage_id, currency, count, cents in rows
        ]

    async def _totals_from_deals(
        self, pipeline_id: int, criteria: BoardFilter, stages: list[Stage], unsorted: list[int]
    ) -> list[tuple[int, str, int, Decimal]]:
        conditions = [Deal.pipeline_id == pipeline_id, *self._conditions(criteria)]
        if len(stages) == 1:
            conditions.append(Deal.stage_id == stages[0].id)
        visible = self._visible(unsorted)
        if visible is not None:
            conditions.append(visible)
        rows = await self.session.execute(
            select(Deal.stage_id, Deal.currency, func.count(Deal.id), func.sum(Deal.amount))
            .where(*conditions)
            .group_by(Deal.stage_id, Deal.currency)
        )
        return [
            (stage_id, currency, count, Decimal(total or 0))
            for stage_id, currency, count, total in rows
        ]

    async def _cards(
        self,
        columns: list[tuple[Stage, str | None]],
        criteria: BoardFilter,
        now: dt.datetime,
    ) -> dict[int, list[Card]]:
        """The next ``limit + 1`` cards of each column, all columns in one statement."""
        pages = [self._column_page(stage, cursor, criteria) for stage, cursor in columns]
        if not pages:
            return {}
        query = pages[0] if len(pages) == 1 else union_all(*pages)
        cards: dict[int, list[Card]] = defaultdict(list)
        result = await self.session.execute(query)
        for (
            stage_id,
            deal_id,
            title,
            amount,
            currency,
            contact_id,
            contact_name,
            owner_id,
            owner_name,
            source,
            created_at,
            entered_at,
            version,
            score,
        ) in result:
            cards[stage_id].append(
                Card(
                    id=deal_id,
                    title=title,
                    amount=amount,
                    currency=currency,
                    contact_id=contact_id,
                    contact_name=contact_name,
                    owner_id=owner_id,
                    owner_name=owner_name,
                    source=source,
                    created_at=created_at,
                    stage_entered_at=entered_at,
                    days_in_stage=days_in_stage(entered_at, now),
                    version=version,
                    score=score,
                )
            )
        return cards

    def _column_page(self, stage: Stage, cursor: str | None, criteria: BoardFilter) -> Select[Any]:
        conditions = [
            Deal.pipeline_id == stage.pipeline_id,
            Deal.stage_id == stage.id,
            *self._conditions(criteria),
        ]
        visible = self._visible([stage.id] if stage.is_unsorted else [])
        if visible is not None:
            conditions.append(visible)
        rank = func.coalesce(LeadScore.score, UNSCORED)
        if cursor is not None:
            after = decode_cursor(cursor, criteria.order)
            older = or_(
                Deal.created_at < after.created_at,
                and_(Deal.created_at == after.created_at, Deal.id < after.id),
            )
            if criteria.order is CardOrder.SCORE:
                older = or_(rank < after.score, and_(rank == after.score, older))
            conditions.append(older)
        order_by: list[ColumnElement[Any]] = [Deal.created_at.desc(), Deal.id.desc()]
        if criteria.order is CardOrder.SCORE:
            order_by.insert(0, rank.desc())
        page = (
            select(
                Deal.stage_id,
                Deal.id,
                Deal.title,
                Deal.amount,
                Deal.currency,
                Deal.contact_id,
                Contact.name.label("contact_name"),
                Deal.owner_id,
                User.display_name.label("owner_name"),
                Deal.source,
                Deal.created_at,
                Deal.stage_entered_at,
                Deal.version,
                LeadScore.score,
            )
            .outerjoin(Contact, Contact.id == Deal.contact_id)
            .outerjoin(User, User.id == Deal.owner_id)
            .outerjoin(
                LeadScore, and_(LeadScore.subject == "deal", LeadScore.subject_id == Deal.id)
            )
            .where(*conditions)
            .order_by(*order_by)
            .limit(criteria.limit + 1)
            .subquery()
        )
        # Each column's page is a subquery so its ORDER BY and LIMIT hold inside the UNION ALL.
        return select(page)


def _through_office(pbx: str) -> ColumnElement[bool]:
    """A deal of this office: a call through its PBX is logged on the deal or with its contact."""
    return exists().where(
        Activity.kind == "call",
        Activity.pbx == pbx,
        or_(
            Activity.deal_id == Deal.id,
            and_(Deal.contact_id.is_not(None), Activity.contact_id == Deal.contact_id),
        ),
    )


def _column(stage: Stage) -> Column:
    ref = stage_ref(stage)
    return Column(
        stage_id=ref.id,
        name=ref.name,
        kind=ref.kind.value,
        probability=stage.probability,
        is_unsorted=ref.is_unsorted,
        position=stage.position,
    )
