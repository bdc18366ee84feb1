"""Duplicates API: a contact's likely duplicates (查重) and merging one contact into another."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from crmlite.services.contacts import ContactService
from crmlite.services.duplicates import DEFAULT_LIMIT, MAX_LIMIT, DuplicateService
from crmlite.services.merge import ContactMerger
from crmlite.web.contacts import ContactOut, contact_out
from crmlite.web.crm_schemas import phone_rules
from crmlite.web.keys import SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, IdPath, QueryModel
from crmlite.web.security import principal

routes = ApiRoutes("duplicates", "Likely duplicates of a contact (查重), and merging them")

Reason = Literal["phone", "email", "name", "company"]
Side = Literal["into", "from"]


class DuplicateOut(ApiModel):
    contact_id: int
    name: str
    company: str | None
    owner_id: int | None
    score: int = Field(
        ge=0, le=100, description="100 a shared phone, 95 a shared email, 62-90 names"
    )
    reasons: list[Reason] = Field(description="the signals that agreed, in this order")


class DuplicatesOut(ApiModel):
    items: list[DuplicateOut]
    hidden: int = Field(description="matches held by other sellers, which you may not see")


class DuplicatesQuery(QueryModel):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class MergeIn(ApiModel):
    from_id: int = Field(ge=1, description="the contact merged away (its id then redirects)")
    keep: dict[Literal["name", "company", "email", "owner_id"], Side] = Field(
        default_factory=dict,
        description="per conflicting field, which side wins; left out: the survivor's ('into')",
    )


class MergeOut(ApiModel):
    survivor: ContactOut
    merged_id: int
    keep: dict[str, Side]
    moved: dict[str, int] = Field(description="how many phones, emails, deals... moved")


@routes.get(
    r"/api/v1/contacts/{id:\d+}/duplicates",
    path_model=IdPath,
    query=DuplicatesQuery,
    response=DuplicatesOut,
    errors={404: "No such contact, or not yours"},
)
async def list_duplicates(
    request: web.Request, *, path: IdPath, query: DuplicatesQuery
) -> DuplicatesOut:
    """Contacts that may be the same person, best first, with a score and the reasons."""
    async with request.app[SESSIONS]() as session:
        found = await DuplicateService(session, principal(request)).for_contact(
            path.id, limit=query.limit
        )
    return DuplicatesOut(
        items=[
            DuplicateOut(
                contact_id=item.contact_id,
                name=item.name,
                company=item.company,
                owner_id=item.owner_id,
                score=item.match.score,
                reasons=list(item.match.reasons),
            )
            for item in found.items
        ],
        hidden=found.hidden,
    )


@routes.post(
    r"/api/v1/contacts/{id:\d+}/merge",
    path_model=IdPath,
    body=MergeIn,
    response=MergeOut,
    errors={
        404: "No such contact, or not yours (sellers merge only their own)",
        410: "One of the contacts was already merged (contact-merged names where)",
        422: "A contact cannot be merged into itself",
    },
)
async def merge_contacts(request: web.Request, *, path: IdPath, body: MergeIn) -> MergeOut:
    """Merge ``from_id`` into this contact atomically; everything it had moves here."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as session:
        result = await ContactMerger(session, actor).merge(
            path.id, body.from_id, {str(k): v for k, v in body.keep.items()}
        )
        survivor = await ContactService(session, actor, phone_rules(request)).get(
            result.survivor_id, check_access=False
        )
    return MergeOut(
        survivor=contact_out(survivor),
        merged_id=result.merged_id,
        keep=result.keep,
        moved={what: len(ids) for what, ids in result.moved.items()},
    )
