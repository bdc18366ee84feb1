"""How a merged contact's id answers: 301 to the survivor, or 410 ``contact-merged``.

Whoever may see the survivor is redirected to it (``Location``, chains followed); anyone else
gets problem+json 410 naming the survivor's id, so an old link says what happened without
showing a contact they may not see.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact
from crmlite.domain.access import sees_owned
from crmlite.services.merge import ContactMerged, survivor_of
from crmlite.web.security import principal


async def merged_contact_answer(
    request: web.Request, session: AsyncSession, contact_id: int
) -> web.Response | None:
    """The answer for a merged ``contact_id``; None when it was never merged (a plain 404)."""
    survivor = await survivor_of(session, contact_id)
    if survivor is None:
        return None
    owner = await session.execute(select(Contact.owner_id).where(Contact.id == survivor))
    row = owner.first()
    if row is not None and sees_owned(principal(request), row.owner_id):
        location = request.path.replace(f"/contacts/{contact_id}", f"/contacts/{survivor}", 1)
        return web.json_response(
            {"merged_id": contact_id, "survivor_id": survivor},
            status=301,
            headers={"Location": location},
        )
    raise ContactMerged(
        f"contact {contact_id} was merged into {survivor}",
        details={"contact_id": contact_id, "survivor_id": survivor},
    )
