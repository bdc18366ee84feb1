"""Contacts API: create with phones (409 on a taken number), read, edit, search, find by phone."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact
from crmlite.domain.errors import NotFound
from crmlite.services.contacts import ContactChanges, ContactService
from crmlite.services.exports import contacts_export
from crmlite.services.scoring import lead_scores
from crmlite.web.crm_schemas import OwnerFilter, owner_filter, phone_rules
from crmlite.web.exports import FILE_TYPES, ExportFormat, export_format, export_response
from crmlite.web.keys import SESSIONS
from crmlite.web.merged import merged_contact_answer
from crmlite.web.phone_schema import PhoneIn
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, IdPath, Page, PageQuery, QueryModel
from crmlite.web.security import principal

routes = ApiRoutes("contacts", "People and companies, each phone normalized to E.164")


class PhoneOut(ApiModel):
    id: int
    raw: str
    normalized: str = Field(description="E.164 (+74951234567) or the bare extension (101)")
    kind: str = Field(description="e164, extension or other")
    label: str | None


class ContactCreate(ApiModel):
    name: str = Field(min_length=1, max_length=200)
    company: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    phones: list[PhoneIn] = Field(
        default_factory=list,
        max_length=20,
        description='each a string ("+7 495 123-45-67") or {"raw": ..., "label": ...}',
    )
    owner_id: int | None = Field(None, description="heads and admins only; default: yourself")


class ContactUpdate(ApiModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    company: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    owner_id: int | None = None


class ContactOut(ApiModel):
    id: int
    name: str
    company: str | None
    email: str | None
    owner_id: int | None
    phones: list[PhoneOut]
    created_at: dt.datetime
    updated_at: dt.datetime
    owned_since: dt.datetime | None = Field(None, description="since when its owner holds it")
    pooled_at: dt.datetime | None = Field(None, description="in the public pool since (no owner)")
    score: int | None = Field(
        None,
        description="the lead score, in lists (GET /api/v1/contacts); null until scored. "
        "One contact's with its reasons: GET /api/v1/contacts/{id}/score",
    )


class ContactQuery(PageQuery):
    q: str | None = Field(None, max_length=200, description="name, company, email or a phone")
    phone: str | None = Field(None, max_length=64, description="a phone in any typed form")
    owner: OwnerFilter = None
    sort: Literal["name", "-score"] = Field("name", description="by name, or best score first")
    format: ExportFormat | None = Field(
        None, description="csv or xlsx: every matching row as a file (or ask by Accept)"
    )


class PhoneQuery(QueryModel):
    phone: str = Field(min_length=1, max_length=64)


class ContactPhonePath(ApiModel):
    id: int = Field(ge=1)
    phone_id: int = Field(ge=1)


def contact_out(contact: Contact) -> ContactOut:
    return ContactOut.model_validate(contact)


def _service(request: web.Request, session: AsyncSession) -> ContactService:
    return ContactService(session, principal(request), phone_rules(request))


@routes.get("/api/v1/contacts", query=ContactQuery, response=Page[ContactOut], files=FILE_TYPES)
async def list_contacts(
    request: web.Request, *, query: ContactQuery
) -> Page[ContactOut] | web.StreamResponse:
    """Search contacts by text and/or phone (sellers see their own); CSV or XLSX on request."""
    actor = principal(request)
    owner_id, _ = owner_filter(actor, query.owner)
    file_format = export_format(request, query.format)
    if file_format is not None:
        async with request.app[SESSIONS]() as session:
            export = contacts_export(
                session, actor, phone_rules(request), text=query.q, phone=query.phone,
                owner_id=owner_id, text_times=file_format == "csv",
            )  # fmt: skip
            return await export_response(request, session, export, file_format)
    async with request.app[SESSIONS]() as session:
        page = await ContactService(session, actor, phone_rules(request)).search(
            text=query.q,
            phone=query.phone,
            owner_id=owner_id,
            limit=query.limit,
            offset=query.offset,
            by_score=query.sort == "-score",
        )
        scores = await lead_scores(session, "contact", [c.id for c in page.items])
    return Page[ContactOut](
        items=[contact_out(c).model_copy(update={"score": scores.get(c.id)}) for c in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@routes.get(
    "/api/v1/contacts/by-phone",
    query=PhoneQuery,
    response=ContactOut,
    errors={404: "Nobody you may see has this number"},
)
async def find_contact_by_phone(request: web.Request, *, query: PhoneQuery) -> ContactOut:
    """The contact holding a number typed in any form (one indexed lookup)."""
    async with request.app[SESSIONS]() as session:
        contact = await _service(request, session).find_by_phone(query.phone)
    if contact is None:
        raise NotFound("no contact has this number", details={"phone": query.phone})
    return contact_out(contact)


@routes.post(
    "/api/v1/contacts",
    body=ContactCreate,
    response=ContactOut,
    status=201,
    errors={409: "A phone already belongs to another contact (details name it)"},
)
async def create_contact(request: web.Request, *, body: ContactCreate) -> ContactOut:
    """Create a contact; a number held by another contact answers 409 naming that contact."""
    async with request.app[SESSIONS].begin() as session:
        contact = await _service(request, session).create(
            body.name,
            company=body.company,
            email=body.email,
            phones=[p.to_input() for p in body.phones],
            owner_id=body.owner_id,
        )
    return contact_out(contact)


@routes.get(
    r"/api/v1/contacts/{id:\d+}",
    path_model=IdPath,
    response=ContactOut,
    errors={
        404: "No such contact, or not yours",
        410: "Merged into a contact you may not see (contact-merged names it); "
        "whoever may see it is redirected there (301)",
    },
)
async def get_contact(request: web.Request, *, path: IdPath) -> ContactOut | web.Response:
    """One contact with its phones; a merged one redirects (301) to the contact it joined."""
    async with request.app[SESSIONS]() as session:
        try:
            return contact_out(await _service(request, session).get(path.id))
        except NotFound:
            moved = await merged_contact_answer(request, session, path.id)
            if moved is None:
                raise
            return moved


@routes.patch(
    r"/api/v1/contacts/{id:\d+}",
    path_model=IdPath,
    body=ContactUpdate,
    response=ContactOut,
    errors={404: "No such contact, or not yours"},
)
async def update_contact(request: web.Request, *, path: IdPath, body: ContactUpdate) -> ContactOut:
    """Change a contact's fields (left out = unchanged; null company/email clears them)."""
    sent = body.model_fields_set
    changes = ContactChanges(
        name=body.name,
        company=body.company,
        email=body.email,
        owner_id=body.owner_id,
        clear_company="company" in sent and body.company is None,
        clear_email="email" in sent and body.email is None,
    )
    async with request.app[SESSIONS].begin() as session:
        return contact_out(await _service(request, session).update(path.id, changes))


@routes.delete(
    r"/api/v1/contacts/{id:\d+}",
    path_model=IdPath,
    status=204,
    errors={404: "No such contact, or not yours"},
)
async def delete_contact(request: web.Request, *, path: IdPath) -> None:
    """Delete a contact with its phones and activities (its deals stay, without contact)."""
    async with request.app[SESSIONS].begin() as session:
        await _service(request, session).delete(path.id)


@routes.post(
    r"/api/v1/contacts/{id:\d+}/phones",
    path_model=IdPath,
    body=PhoneIn,
    response=ContactOut,
    status=201,
    errors={409: "The number belongs to another contact"},
)
async def add_phone(request: web.Request, *, path: IdPath, body: PhoneIn) -> ContactOut:
    """Add a phone to a contact: the body is the number as a string, or ``{raw, label}``."""
    async with request.app[SESSIONS].begin() as session:
        contact = await _service(request, session).add_phone(path.id, body.to_input())
    return contact_out(contact)


@routes.delete(
    r"/api/v1/contacts/{id:\d+}/phones/{phone_id:\d+}",
    path_model=ContactPhonePath,
    response=ContactOut,
)
async def remove_phone(request: web.Request, *, path: ContactPhonePath) -> ContactOut:
    """Remove one phone of a contact."""
    async with request.app[SESSIONS].begin() as session:
        return contact_out(await _service(request, session).remove_phone(path.id, path.phone_id))
