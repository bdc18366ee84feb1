"""The kanban board of one pipeline: columns in stage order, newest cards first, totals.

What a seller sees: their own cards, plus, in the Unsorted column, the cards nobody owns yet
(deals made from calls) so they can claim them. Heads and admins see every card. Totals (count
and sums per currency) are over every card the principal sees under the filters, not one page.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact, Deal, Pipeline, Stage, User
from crmlite.domain.board import (
    DEFAULT_CARDS_PER_COLUMN,
    Card,
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


@dataclass(frozen=True, slots=True)
class BoardFilter:
    owner_id: int | None = None
    text: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    limit: int = DEFAULT_CARDS_PER_COLUMN


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
        columns: list[Column] = []
        now = self.clock()
        for stage in stages:
            column = _column(stage)
            column.count, column.amounts = totals.get(stage.id, (0, {}))
            cards = await self._cards(stage, criteria, None, now)
            column.cards, column.next_cursor = page_cards(cards, criteria.limit)
            columns.append(column)
        return Board(pipeline=pipeline, columns=columns)

    async def column(
        self, pipeline_id: int, stage_id: int, cursor: str | None, criteria: BoardFilter
    ) -> Column:
        """One column's next page after ``cursor`` (totals included, as on the board)."""
        check_limit(criteria.limit)
        stage = await self.session.get(Stage, stage_id)
        if stage is None or stage.pipeline_id != pipeline_id:
            raise NotFound(f"no stage {stage_id} in pipeline {pipeline_id}")
        totals = await self._totals(pipeline_id, criteria, [stage])
        column = _column(stage)
        column.count, column.amounts = totals.get(stage.id, (0, {}))
        cards = await self._cards(stage, criteria, cursor, self.clock())
        column.cards, column.next_cursor = page_cards(cards, criteria.limit)
        return column

    def _conditions(self, criteria: BoardFilter) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if criteria.owner_id is not None:
            conditions.append(Deal.owner_id == criteria.owner_id)
        if criteria.created_from is not None:
            conditions.append(Deal.created_at >= criteria.created_from)
        if criteria.created_to is not None:
            conditions.append(Deal.created_at < criteria.created_to)
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
        conditions = [Deal.pipeline_id == pipeline_id, *self._conditions(criteria)]
        if len(stages) == 1:
            conditions.append(Deal.stage_id == stages[0].id)
        visible = self._visible([s.id for s in stages if s.is_unsorted])
        if visible is not None:
            conditions.append(visible)
        rows = await self.session.execute(
            select(Deal.stage_id, Deal.currency, func.count(Deal.id), func.sum(Deal.amount))
            .where(*conditions)
            .group_by(Deal.stage_id, Deal.currency)
        )
        per_stage: dict[int, list[tuple[str, int, Decimal]]] = defaultdict(list)
        for stage_id, currency, count, total in rows:
            per_stage[stage_id].append((currency, count, Decimal(total or 0)))
        result: dict[int, tuple[int, dict[str, Decimal]]] = {}
        for stage_id, stage_rows in per_stage.items():
            folded = column_totals(stage_rows)
            result[stage_id] = (folded.count, folded.amounts)
        return result

    async def _cards(
        self, stage: Stage, criteria: BoardFilter, cursor: str | None, now: dt.datetime
    ) -> list[Card]:
        conditions = [
            Deal.pipeline_id == stage.pipeline_id,
            Deal.stage_id == stage.id,
            *self._conditions(criteria),
        ]
        visible = self._visible([stage.id] if stage.is_unsorted else [])
        if visible is not None:
            conditions.append(visible)
        if cursor is not None:
            after = decode_cursor(cursor)
            conditions.append(
                or_(
                    Deal.created_at < after.created_at,
                    and_(Deal.created_at == after.created_at, Deal.id < after.id),
                )
            )
        rows = await self.session.execute(
            select(
                Deal.id,
                Deal.title,
                Deal.amount,
                Deal.currency,
                Deal.contact_id,
                Contact.name,
                Deal.owner_id,
                User.display_name,
                Deal.source,
                Deal.created_at,
                Deal.stage_entered_at,
                Deal.version,
            )
            .outerjoin(Contact, Contact.id == Deal.contact_id)
            .outerjoin(User, User.id == Deal.owner_id)
            .where(*conditions)
            .order_by(Deal.created_at.desc(), Deal.id.desc())
            .limit(criteria.limit + 1)
        )
        return [
            Card(
                id=row[0],
                title=row[1],
                amount=row[2],
                currency=row[3],
                contact_id=row[4],
                contact_name=row[5],
                owner_id=row[6],
                owner_name=row[7],
                source=row[8],
                created_at=row[9],
                stage_entered_at=row[10],
                days_in_stage=days_in_stage(row[10], now),
                version=row[11],
            )
            for row in rows
        ]


def _column(stage: Stage) -> Column:
    ref = stage_ref(stage)
    return Column(
        stage_id=ref.id,
        name=ref.name,
        kind=ref.kind.value,
        probability=stage.probability,
        is_unsorted=ref.is_unsorted,
    )
