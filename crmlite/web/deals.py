"""Deals API: list with filters, create, read, edit, move (stage or pipeline), bulk, history."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import AwareDatetime, Field

from crmlite.db.models import Deal
from crmlite.domain.errors import InvalidInput
from crmlite.services.deal_moves import MAX_BULK, DealMoveService, StageMover
from crmlite.services.deals import DealChanges, DealFilter, DealService, DealStatus, deal_status
from crmlite.services.exports import deals_export
from crmlite.web.crm_schemas import AmountIn, AmountOut, Currency, OwnerFilter, owner_filter
from crmlite.web.exports import FILE_TYPES, ExportFormat, export_format, export_response
from crmlite.web.keys import ONE_HOP, SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import INT32_MAX, ApiModel, IdPath, Page, PageQuery
from crmlite.web.security import principal

routes = ApiRoutes("deals", "Deals in pipelines: moves, history, bulk changes")

NOT_YOURS = {404: "No such deal, or not yours"}


class DealOut(ApiModel):
    id: int
    title: str
    amount: AmountOut
    currency: str
    contact_id: int | None
    contact_name: str | None
    owner_id: int | None
    pipeline_id: int
    stage_id: int
    stage_name: str
    status: DealStatus
    source: str
    lost_reason: str | None
    expected_close_date: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime
    stage_entered_at: dt.datetime
    closed_at: dt.datetime | None
    version: int = Field(description="send back as expected_version to detect concurrent edits")
    probability: int | None = Field(
        None, description="the deal's own chance, percent, set by a stage robot (null: its stage's)"
    )
    tags: list[str] = Field(default_factory=list, description="labels stage robots added")


class DealCreate(ApiModel):
    title: str = Field(min_length=1, max_length=200)
    amount: AmountIn = "0"
    currency: Currency = "RUB"
    pipeline_id: int | None = Field(None, description="default: the default pipeline")
    stage_id: int | None = Field(None, description="default: the pipeline's Unsorted stage")
    contact_id: int | None = None
    owner_id: int | None = Field(None, description="heads and admins only; default: yourself")
    source: Literal["call", "manual", "import"] = "manual"
    expected_close_date: dt.date | None = None
    lost_reason: str | None = Field(None, max_length=200)


class DealUpdate(ApiModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    amount: AmountIn | None = None
    currency: Currency | None = None
    contact_id: int | None = None
    owner_id: int | None = None
    expected_close_date: dt.date | None = None
    expected_version: int | None = Field(None, ge=1, le=INT32_MAX)


class DealMove(ApiModel):
    stage_id: int | None = Field(None, description="the target stage")
    pipeline_id: int | None = Field(
        None, description="move to another pipeline (stage_id, the mapping, or same-named stage)"
    )
    stage_mapping: dict[int, int] | None = Field(
        None, description="for pipeline moves: current stage id -> target stage id"
    )
    expected_version: int | None = Field(None, ge=1, le=INT32_MAX)
    lost_reason: str | None = Field(None, max_length=200)


class DealBulk(ApiModel):
    deal_ids: list[int] = Field(min_length=1, max_length=MAX_BULK)
    stage_id: int | None = None
    owner_id: int | None = None
    lost_reason: str | None = Field(None, max_length=200)


class DealBulkOut(ApiModel):
    deal_ids: list[int]
    moved: int
    reassigned: int


class HistoryOut(ApiModel):
    id: int
    from_stage_id: int | None
    from_stage_name: str | None
    to_stage_id: int
    to_stage_name: str
    changed_at: dt.datetime
    changed_by_id: int | None
    changed_by_name: str | None


class DealQuery(PageQuery):
    pipeline: int | None = None
    stage: list[int] = Field(default_factory=list, description="repeat for several stages")
    owner: OwnerFilter = None
    status: DealStatus | None = None
    contact: int | None = None
    q: str | None = Field(None, max_length=200, description="title or contact name")
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    sort: str = Field(
        "-created_at",
        pattern=r"^-?(created_at|updated_at|amount|title|stage_entered_at|expected_close_date|id|score)$",
        description="a field, '-' first for descending",
    )
    format: ExportFormat | None = Field(
        None, description="csv or xlsx: every matching row as a file (or ask by Accept)"
    )


def deal_out(deal: Deal) -> DealOut:
    return DealOut(
        id=deal.id,
        title=deal.title,
        amount=deal.amount,
        currency=deal.currency,
        contact_id=deal.contact_id,
        contact_name=deal.contact.name if deal.contact is not None else None,
        owner_id=deal.owner_id,
        pipeline_id=deal.pipeline_id,
        stage_id=deal.stage_id,
        stage_name=deal.stage.name,
        status=deal_status(deal),
        source=deal.source,
        lost_reason=deal.lost_reason,
        expected_close_date=deal.expected_close_date,
        created_at=deal.created_at,
        updated_at=deal.updated_at,
        stage_entered_at=deal.stage_entered_at,
        closed_at=deal.closed_at,
        version=deal.version,
        probability=deal.probability,
        tags=deal.tags or [],
    )


@routes.get("/api/v1/deals", query=DealQuery, response=Page[DealOut], files=FILE_TYPES)
async def list_deals(
    request: web.Request, *, query: DealQuery
) -> Page[DealOut] | web.StreamResponse:
    """Deals you see, filtered, sorted and paginated, with the total; CSV or XLSX on request."""
    actor = principal(request)
    owner_id, unassigned = owner_filter(actor, query.owner)
    criteria = DealFilter(
        pipeline_id=query.pipeline,
        stage_ids=tuple(query.stage),
        owner_id=owner_id,
        unassigned=unassigned,
        status=query.status,
        contact_id=query.contact,
        text=query.q,
        created_from=query.created_from,
        created_to=query.created_to,
        sort=query.sort,
        limit=query.limit,
        offset=query.offset,
    )
    file_format = export_format(request, query.format)
    async with request.app[SESSIONS]() as session:
        if file_format is not None:
            export = deals_export(session, actor, criteria, text_times=file_format == "csv")
            return await export_response(request, session, export, file_format)
        page = await DealService(session, actor).find(criteria)
    return Page[DealOut](
        items=[deal_out(d) for d in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@routes.post("/api/v1/deals", body=DealCreate, response=DealOut, status=201)
async def create_deal(request: web.Request, *, body: DealCreate) -> DealOut:
    """Create a deal (its first placement starts its stage history)."""
    async with request.app[SESSIONS].begin() as session:
        deal = await DealService(session, principal(request)).create(
            body.title,
            pipeline_id=body.pipeline_id,
            stage_id=body.stage_id,
            amount=body.amount,
            currency=body.currency,
            contact_id=body.contact_id,
            owner_id=body.owner_id,
            source=body.source,
            expected_close_date=body.expected_close_date,
            lost_reason=body.lost_reason,
        )
    return deal_out(deal)


@routes.post(
    "/api/v1/deals/bulk",
    body=DealBulk,
    response=DealBulkOut,
    errors={404: "Some deals are not yours (details list them); nothing changed"},
)
async def bulk_update_deals(request: web.Request, *, body: DealBulk) -> DealBulkOut:
    """Move and/or reassign many deals at once: all of them, or none."""
    async with request.app[SESSIONS].begin() as session:
        result = await DealMoveService(session, principal(request)).bulk_update(
            body.deal_ids,
            stage_id=body.stage_id,
            owner_id=body.owner_id,
            lost_reason=body.lost_reason,
        )
    return DealBulkOut(deal_ids=result.deal_ids, moved=result.moved, reassigned=result.reassigned)


@routes.get(r"/api/v1/deals/{id:\d+}", path_model=IdPath, response=DealOut, errors=NOT_YOURS)
async def get_deal(request: web.Request, *, path: IdPath) -> DealOut:
    """One deal."""
    async with request.app[SESSIONS]() as session:
        return deal_out(await DealService(session, principal(request)).get(path.id))


@routes.patch(
    r"/api/v1/deals/{id:\d+}",
    path_model=IdPath,
    body=DealUpdate,
    response=DealOut,
    errors={**NOT_YOURS, 409: "Stale expected_version"},
)
async def update_deal(request: web.Request, *, path: IdPath, body: DealUpdate) -> DealOut:
    """Edit a deal's fields (null contact_id / expected_close_date clears them)."""
    sent = body.model_fields_set
    changes = DealChanges(
        title=body.title,
        amount=body.amount,
        currency=body.currency,
        contact_id=body.contact_id,
        clear_contact="contact_id" in sent and body.contact_id is None,
        owner_id=body.owner_id,
        expected_close_date=body.expected_close_date,
        clear_expected_close_date="expected_close_date" in sent
        and body.expected_close_date is None,
        expected_version=body.expected_version,
    )
    async with request.app[SESSIONS].begin() as session:
        return deal_out(await DealService(session, principal(request)).update(path.id, changes))


@routes.delete(r"/api/v1/deals/{id:\d+}", path_model=IdPath, status=204, errors=NOT_YOURS)
async def delete_deal(request: web.Request, *, path: IdPath) -> None:
    """Delete a deal with its history and activities."""
    async with request.app[SESSIONS].begin() as session:
        await DealService(session, principal(request)).delete(path.id)


@routes.post(
    r"/api/v1/deals/{id:\d+}/move",
    path_model=IdPath,
    body=DealMove,
    response=DealOut,
    errors={**NOT_YOURS, 409: "Stale expected_version", 403: "Claim the deal first"},
)
async def move_deal(request: web.Request, *, path: IdPath, body: DealMove) -> DealOut:
    """Move a deal to a stage (a lost stage needs lost_reason), or to another pipeline."""
    who = principal(request)
    if body.pipeline_id is None:
        if body.stage_id is None:
            raise InvalidInput("say where to", fields={"stage_id": "give stage_id or pipeline_id"})
        # The board's drag and drop: a unit of work of its own, in one hop on SQLite.
        await StageMover(request.app[ONE_HOP], who).move(
            path.id,
            body.stage_id,
            expected_version=body.expected_version,
            lost_reason=body.lost_reason,
        )
        async with request.app[SESSIONS]() as session:
            return deal_out(await DealService(session, who).get_unchecked(path.id))
    async with request.app[SESSIONS].begin() as session:
        deal = await DealMoveService(session, who).move_to_pipeline(
            path.id,
            body.pipeline_id,
            stage_id=body.stage_id,
            stage_mapping=body.stage_mapping,
            expected_version=body.expected_version,
            lost_reason=body.lost_reason,
        )
        return deal_out(deal)


@routes.post(
    r"/api/v1/deals/{id:\d+}/claim",
    path_model=IdPath,
    response=DealOut,
    errors={**NOT_YOURS, 403: "Someone already owns it"},
)
async def claim_deal(request: web.Request, *, path: IdPath) -> DealOut:
    """Take an unowned deal waiting in Unsorted (made from a call)."""
    async with request.app[SESSIONS].begin() as session:
        return deal_out(await DealService(session, principal(request)).claim(path.id))


@routes.get(
    r"/api/v1/deals/{id:\d+}/history",
    path_model=IdPath,
    response=list[HistoryOut],
    errors=NOT_YOURS,
)
async def deal_history(request: web.Request, *, path: IdPath) -> list[HistoryOut]:
    """Every stage change of the deal, oldest first (the first placement has no from_stage)."""
    async with request.app[SESSIONS]() as session:
        entries = await DealService(session, principal(request)).history(path.id)
    return [HistoryOut.model_validate(entry) for entry in entries]
