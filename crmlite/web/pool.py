"""Public pool API: the pool, claim, assign (heads), release with a reason, pool events."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.domain.pool import PoolPolicy
from crmlite.services.pool import PoolEntry, PoolService
from crmlite.web.contacts import ContactOut, contact_out
from crmlite.web.keys import SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, IdPath, Page, PageQuery
from crmlite.web.security import principal

routes = ApiRoutes("pool", "The public pool: contacts nobody holds, free to claim")

# The [pool] settings as the rules read them; the composition root sets it (defaults otherwise).
POOL_POLICY = web.AppKey("pool_policy", PoolPolicy)

PoolEventKindOut = Literal["returned", "released", "claimed", "assigned"]


class PoolQuery(PageQuery):
    q: str | None = Field(None, max_length=200, description="name or company")


class PoolEntryOut(ApiModel):
    contact_id: int
    name: str
    company: str | None
    pooled_at: dt.datetime = Field(description="in the pool since")
    last_activity: dt.datetime | None = Field(description="the newest note, call or task on it")
    kind: Literal["returned", "released"] | None = Field(description="how it came back last")
    reason: str | None = Field(description="why: 'idle' for the idle rule, else the seller's words")
    times_returned: int = Field(description="how many times it came back (returns and releases)")
    previous_owner_id: int | None
    previous_owner_name: str | None


class ReleaseIn(ApiModel):
    reason: str = Field(min_length=1, max_length=200, examples=["not interested this year"])


class AssignIn(ApiModel):
    user_id: int = Field(ge=1, description="the seller who gets the contact")


class PoolEventOut(ApiModel):
    id: int
    contact_id: int
    kind: PoolEventKindOut
    at: dt.datetime
    reason: str | None
    from_user_id: int | None
    from_user_name: str | None
    to_user_id: int | None
    to_user_name: str | None
    by_user_id: int | None = Field(description="who did it; null for the idle rule")
    by_user_name: str | None


def _service(request: web.Request, session: AsyncSession) -> PoolService:
    policy = request.app.get(POOL_POLICY) or PoolPolicy()
    return PoolService(session, principal(request), policy)


def _entry(entry: PoolEntry) -> PoolEntryOut:
    return PoolEntryOut.model_validate(entry)


@routes.get("/api/v1/pool", query=PoolQuery, response=Page[PoolEntryOut])
async def list_pool(request: web.Request, *, query: PoolQuery) -> Page[PoolEntryOut]:
    """The public pool, newest arrivals first: why each came back, how often, from whom."""
    async with request.app[SESSIONS]() as session:
        page = await _service(request, session).pool(
            text=query.q, limit=query.limit, offset=query.offset
        )
    return Page[PoolEntryOut](
        items=[_entry(e) for e in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@routes.post(
    r"/api/v1/contacts/{id:\d+}/claim",
    path_model=IdPath,
    response=ContactOut,
    errors={
        404: "No such contact",
        409: "already-claimed (someone took it first), pool-limit-reached (details: max_held), "
        "reclaim-cooldown (details: until)",
    },
)
async def claim_contact(request: web.Request, *, path: IdPath) -> ContactOut:
    """Take a contact from the pool (with its open deals); one of two racing claims wins."""
    async with request.app[SESSIONS].begin() as session:
        contact = await _service(request, session).claim(path.id)
    return contact_out(contact)


@routes.post(
    r"/api/v1/contacts/{id:\d+}/assign",
    path_model=IdPath,
    body=AssignIn,
    response=ContactOut,
    errors={403: "Heads and admins only", 404: "No such contact", 409: "already-claimed"},
)
async def assign_contact(request: web.Request, *, path: IdPath, body: AssignIn) -> ContactOut:
    """A head gives a pool contact (with its open deals) to a seller."""
    async with request.app[SESSIONS].begin() as session:
        contact = await _service(request, session).assign(path.id, body.user_id)
    return contact_out(contact)


@routes.post(
    r"/api/v1/contacts/{id:\d+}/release",
    path_model=IdPath,
    body=ReleaseIn,
    response=ContactOut,
    errors={404: "No such contact, or not yours", 409: "not-held (nobody holds it)"},
)
async def release_contact(request: web.Request, *, path: IdPath, body: ReleaseIn) -> ContactOut:
    """Give a contact you hold (with its open deals) back to the pool, saying why."""
    async with request.app[SESSIONS].begin() as session:
        contact = await _service(request, session).release(path.id, body.reason)
    return contact_out(contact)


@routes.get(
    r"/api/v1/contacts/{id:\d+}/pool-events",
    path_model=IdPath,
    response=list[PoolEventOut],
    errors={404: "No such contact, or not yours"},
)
async def contact_pool_events(request: web.Request, *, path: IdPath) -> list[PoolEventOut]:
    """The contact's pool history, oldest first: returns, releases, claims, assignments."""
    async with request.app[SESSIONS]() as session:
        events = await _service(request, session).history(path.id)
    return [PoolEventOut.model_validate(e) for e in events]
