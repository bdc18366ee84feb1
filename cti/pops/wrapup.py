"""After the call: one wrap-up saves the note, the stage move (with history), won/lost and the
call-back task together, through the CRM's services, in one transaction.

A seller may wrap up only their own call: the wrap-up card must be among their live cards.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Stage
from crmlite.domain.errors import Conflict, InvalidInput, PermissionDenied
from crmlite.domain.phones import looks_like_number
from crmlite.domain.principal import Principal
from crmlite.domain.product_text import ProductText, fill_caller, product_text
from crmlite.services.activities import ActivityService, Parent
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.deals import DealService
from crmlite.services.merge import survivor_of
from crmlite.services.tasks import TaskService
from cti.pops.fanout import FanoutBackend
from cti.pops.messages import STATUS_WRAPUP


@dataclass(frozen=True, slots=True)
class WrapupRequest:
    """What the wrap-up form sends."""

    linkedid: str
    deal_id: int | None = None
    stage_id: int | None = None
    result: Literal["won", "lost"] | None = None
    lost_reason: str | None = None
    note: str | None = None
    callback_due_at: dt.datetime | None = None
    callback_title: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class WrapupResult:
    """What was saved."""

    linkedid: str
    deal_id: int | None
    stage_id: int | None
    note_id: int | None
    task_id: int | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "linkedid": self.linkedid,
            "deal_id": self.deal_id,
            "stage_id": self.stage_id,
            "note_id": self.note_id,
            "task_id": self.task_id,
        }


async def pending_wrapup(
    backend: FanoutBackend, user_id: int, linkedid: str
) -> dict[str, Any] | None:
    """The user's wrap-up card for ``linkedid``, if they have one."""
    for text in await backend.live_cards(user_id):
        card: dict[str, Any] = json.loads(text)
        if card.get("linkedid") == linkedid and card.get("status") == STATUS_WRAPUP:
            return card
    return None


def _allowed_deals(card: dict[str, Any]) -> set[int]:
    ids = {deal["id"] for deal in card.get("deals") or () if isinstance(deal.get("id"), int)}
    deal = card.get("deal")
    if isinstance(deal, dict) and isinstance(deal.get("id"), int):
        ids.add(deal["id"])
    return ids


async def save_wrapup(
    sessions: async_sessionmaker[AsyncSession],
    actor: Principal,
    card: dict[str, Any] | None,
    request: WrapupRequest,
    *,
    text: ProductText | None = None,
) -> WrapupResult:
    """Save everything the wrap-up form holds, or nothing."""
    if card is None:
        raise PermissionDenied(
            "no wrap-up of this call is waiting for you", details={"linkedid": request.linkedid}
        )
    deal_id = request.deal_id
    if deal_id is None and isinstance(card.get("deal"), dict):
        deal_id = card["deal"].get("id")
    if deal_id is not None and deal_id not in _allowed_deals(card):
        raise InvalidInput(
            "this deal is not one of the caller's", fields={"deal_id": "pick a deal from the card"}
        )
    moving = request.stage_id is not None or request.result is not None
    if moving and deal_id is None:
        raise InvalidInput("no deal to move", fields={"deal_id": "the call has no deal"})
    contact = card.get("contact")
    contact_id = contact.get("id") if isinstance(contact, dict) else None
    # With a deal, the services attach its contact themselves (whoever owns the contact).
    parent = Parent(deal_id=deal_id) if deal_id is not None else Parent(contact_id=contact_id)
    note_id = task_id = stage_id = None
    has_note = bool(request.note and request.note.strip())
    writes = moving or has_note or request.callback_due_at is not None
    async with sessions.begin() as db:
        if parent.contact_id is not None:
            # The card may show a contact merged away since it rang: its survivor takes the note.
            survivor = await survivor_of(db, parent.contact_id)
            parent = Parent(deal_id=parent.deal_id, contact_id=survivor or parent.contact_id)
        # An empty wrap-up (the form's "skip") saves nothing and only withdraws the card.
        if deal_id is not None and writes:
            deals = DealService(db, actor)
            deal = await deals.get(deal_id)
            if deal.owner_id is None:
                await deals.claim(deal_id)  # the seller who took the call takes the deal
            if moving:
                target = await _target_stage(db, deal.pipeline_id, request)
                moved = await DealMoveService(db, actor).move(
                    deal_id,
                    target,
                    expected_version=request.expected_version,
                    lost_reason=request.lost_reason,
                )
                stage_id = moved.stage_id
        if request.note and request.note.strip():
            if parent.contact_id is None and parent.deal_id is None:
                raise InvalidInput("nothing to attach the note to", fields={"note": "no contact"})
            note_id = (await ActivityService(db, actor).add_note(parent, request.note)).id
        if request.callback_due_at is not None:
            task = await TaskService(db, actor).create(
                request.callback_title
                or fill_caller((text or product_text("en")).call_back_task, _caller(card))[:200],
                parent=parent if (parent.contact_id or parent.deal_id) else None,
                due_at=request.callback_due_at,
                assignee_id=actor.user_id,
            )
            task_id = task.id
    return WrapupResult(request.linkedid, deal_id, stage_id, note_id, task_id)


def _caller(card: dict[str, Any]) -> str:
    """Who called, as the card shows it: the contact's name, else the formatted number."""
    contact = card.get("contact")
    name = contact.get("name") if isinstance(contact, dict) else None
    if isinstance(name, str) and name and not looks_like_number(name):
        return name
    caller = card.get("caller")
    display = caller.get("display") if isinstance(caller, dict) else None
    return str(display or card.get("caller_name") or "")


async def _target_stage(db: AsyncSession, pipeline_id: int, request: WrapupRequest) -> int:
    if request.stage_id is not None:
        kind = await db.scalar(
            select(Stage.kind).where(Stage.id == request.stage_id, Stage.pipeline_id == pipeline_id)
        )
        if kind is None:
            raise InvalidInput(
                "the stage is not in the deal's pipeline", fields={"stage_id": "pick from the card"}
            )
        if request.result is not None and kind != request.result:
            raise Conflict(
                f"result {request.result!r} needs a {request.result} stage",
                details={"stage_id": request.stage_id},
            )
        return request.stage_id
    stage = await db.scalar(
        select(Stage.id)
        .where(
            Stage.pipeline_id == pipeline_id,
            Stage.kind == request.result,
            Stage.archived_at.is_(None),
        )
        .order_by(Stage.position)
        .limit(1)
    )
    if stage is None:
        raise InvalidInput(
            f"the pipeline has no {request.result} stage", fields={"result": "no such stage"}
        )
    return stage
