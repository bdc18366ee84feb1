"""Board API: one pipeline's columns with their newest cards, counts and sums per currency.

Sellers get their own cards plus the unowned ones waiting in Unsorted (to claim them); heads and
admins get every card. Each column holds ``limit`` cards (default 50); its ``next_cursor`` fetches
the next ones from ``/api/v1/board/{pipeline_id}/columns/{stage_id}?cursor=...``. ``pbx=east``
keeps one office's deals: those with a call through that PBX logged on the deal or with its
contact (a deal talked about in both offices shows under both).
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web
from pydantic import AwareDatetime, Field

from crmlite.domain.board import (
    DEFAULT_CARDS_PER_COLUMN,
    MAX_CARDS_PER_COLUMN,
    CardOrder,
    Column,
)
from crmlite.services.board import BoardFilter, BoardService
from crmlite.web.crm_schemas import AmountOut, OwnerFilter, owner_filter
from crmlite.web.keys import SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, QueryModel
from crmlite.web.security import principal

routes = ApiRoutes("board", "The kanban board of a pipeline")


class CardOut(ApiModel):
    id: int
    title: str
    amount: AmountOut
    currency: str
    contact_id: int | None
    contact_name: str | None
    owner_id: int | None
    owner_name: str | None
    source: str
    created_at: dt.datetime
    stage_entered_at: dt.datetime
    days_in_stage: int
    version: int
    score: int | None = Field(None, description="the deal's lead score 0-100, null until scored")


class ColumnOut(ApiModel):
    stage_id: int
    name: str
    kind: str
    probability: int
    is_unsorted: bool
    position: int
    count: int = Field(description="cards in the column under the filters, all pages")
    amounts: dict[str, AmountOut] = Field(description="sum of amounts per currency")
    cards: list[CardOut] = Field(
        description="newest first (created_at, then id, descending); with order=score the highest"
        " lead score first, unscored last, newest first among equal scores"
    )
    next_cursor: str | None = Field(description="pass as ?cursor= for the next cards")


class BoardOut(ApiModel):
    pipeline_id: int
    pipeline_name: str
    columns: list[ColumnOut] = Field(description="Unsorted first, then stage order")


class BoardQuery(QueryModel):
    owner: OwnerFilter = None
    q: str | None = Field(None, max_length=200, description="deal title or contact name")
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    pbx: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="one office: deals with a call through this PBX, on the deal or its contact",
    )
    limit: int = Field(DEFAULT_CARDS_PER_COLUMN, ge=1, le=MAX_CARDS_PER_COLUMN)
    order: CardOrder = Field(
        CardOrder.NEWEST, description="newest: by creation; score: by lead score, across pages"
    )


class ColumnQuery(BoardQuery):
    cursor: str | None = Field(None, max_length=200, description="a next_cursor of the same order")


class BoardPath(ApiModel):
    pipeline_id: int = Field(ge=1)


class ColumnPath(ApiModel):
    pipeline_id: int = Field(ge=1)
    stage_id: int = Field(ge=1)


def column_out(column: Column) -> ColumnOut:
    return ColumnOut.model_validate(column)


def _criteria(request: web.Request, query: BoardQuery) -> BoardFilter:
    owner_id, unassigned = owner_filter(principal(request), query.owner)
    return BoardFilter(
        owner_id=owner_id,
        unassigned=unassigned,
        text=query.q,
        created_from=query.created_from,
        created_to=query.created_to,
        pbx=query.pbx,
        limit=query.limit,
        order=query.order,
    )


@routes.get(
    r"/api/v1/board/{pipeline_id:\d+}",
    path_model=BoardPath,
    query=BoardQuery,
    response=BoardOut,
    errors={404: "No such pipeline"},
)
async def get_board(request: web.Request, *, path: BoardPath, query: BoardQuery) -> BoardOut:
    """Every column of the pipeline with its first cards and its totals."""
    criteria = _criteria(request, query)
    async with request.app[SESSIONS]() as session:
        board = await BoardService(session, principal(request)).board(path.pipeline_id, criteria)
    return BoardOut(
        pipeline_id=board.pipeline.id,
        pipeline_name=board.pipeline.name,
        columns=[column_out(c) for c in board.columns],
    )


@routes.get(
    r"/api/v1/board/{pipeline_id:\d+}/columns/{stage_id:\d+}",
    path_model=ColumnPath,
    query=ColumnQuery,
    response=ColumnOut,
    errors={404: "No such stage in the pipeline", 422: "Invalid cursor"},
)
async def get_column(request: web.Request, *, path: ColumnPath, query: ColumnQuery) -> ColumnOut:
    """One column's next cards after ``cursor``."""
    criteria = _criteria(request, query)
    async with request.app[SESSIONS]() as session:
        column = await BoardService(session, principal(request)).column(
            path.pipeline_id, path.stage_id, query.cursor, criteria
        )
    return column_out(column)
