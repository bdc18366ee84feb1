"""The wrap-up saves note, stage move, won/lost and call-back at once, for the call's seller."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, Contact, Deal, DealStageChange, Stage, User
from crmlite.domain.errors import Conflict, InvalidInput, PermissionDenied
from crmlite.domain.principal import Principal, Role
from cti.pops.wrapup import WrapupRequest, save_wrapup

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


async def _seed(sessions: async_sessionmaker[AsyncSession]) -> tuple[Principal, int, int]:
    async with sessions.begin() as db:
        seller = User(login="anna", display_name="Anna", role="seller", created_at=NOW)
        db.add(seller)
        await db.flush()
        contact = Contact(name="Ivan", owner_id=seller.id)
        contact.created_at = contact.updated_at = NOW
        db.add(contact)
        await db.flush()
        stage = await db.scalar(select(Stage).where(Stage.name == "Qualification"))
        assert stage is not None
        deal = Deal(
            title="Fridges",
            contact_id=contact.id,
            owner_id=seller.id,
            pipeline_id=stage.pipeline_id,
            stage_id=stage.id,
            source="call",
        )
        deal.created_at = deal.updated_at = deal.stage_entered_at = NOW
        db.add(deal)
        await db.flush()
        principal = Principal(seller.id, "anna", Role.SELLER, "Anna")
        return principal, contact.id, deal.id


def _card(contact_id: int, deal_id: int) -> dict[str, Any]:
    return {
        "linkedid": "L1",
        "status": "wrap-up",
        "contact": {"id": contact_id},
        "deals": [{"id": deal_id}],
        "deal": {"id": deal_id},
    }


async def test_lost_with_a_reason_closes_the_deal_and_records_history(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    actor, contact_id, deal_id = await _seed(sessions)
    result = await save_wrapup(
        sessions,
        actor,
        _card(contact_id, deal_id),
        WrapupRequest(
            linkedid="L1",
            result="lost",
            lost_reason="Too expensive",
            note="Bought elsewhere",
            callback_due_at=NOW + dt.timedelta(days=30),
        ),
    )
    async with sessions() as db:
        deal = await db.get(Deal, deal_id)
        assert deal is not None
        lost = await db.get(Stage, deal.stage_id)
        assert lost is not None
        assert (lost.kind, deal.lost_reason, result.stage_id) == ("lost", "Too expensive", lost.id)
        history = (await db.scalars(select(DealStageChange.to_stage_id))).all()
        assert history[-1] == lost.id
        kinds = sorted((await db.scalars(select(Activity.kind))).all())
        assert kinds == ["note", "task"]
        task = await db.get(Activity, result.task_id)
        assert task is not None
        assert (task.assignee_id, task.deal_id) == (actor.user_id, deal_id)


async def test_nothing_is_saved_when_one_part_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    actor, contact_id, deal_id = await _seed(sessions)
    async with sessions() as db:
        open_stage = await db.scalar(select(Stage.id).where(Stage.name == "Proposal"))
    with pytest.raises(Conflict):
        await save_wrapup(
            sessions,
            actor,
            _card(contact_id, deal_id),
            WrapupRequest(linkedid="L1", stage_id=open_stage, result="won", note="won!"),
        )
    async with sessions() as db:
        assert (await db.scalars(select(Activity))).all() == []


async def test_a_deal_that_is_not_the_callers_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    actor, contact_id, deal_id = await _seed(sessions)
    with pytest.raises(InvalidInput):
        await save_wrapup(
            sessions,
            actor,
            _card(contact_id, deal_id),
            WrapupRequest(linkedid="L1", deal_id=deal_id + 100, note="x"),
        )


async def test_without_a_wrapup_card_the_seller_may_not_save(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    actor, _, _ = await _seed(sessions)
    with pytest.raises(PermissionDenied):
        await save_wrapup(sessions, actor, None, WrapupRequest(linkedid="L1", note="x"))


async def test_an_empty_wrapup_saves_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    actor, contact_id, deal_id = await _seed(sessions)
    result = await save_wrapup(
        sessions, actor, _card(contact_id, deal_id), WrapupRequest(linkedid="L1")
    )
    assert (result.note_id, result.task_id, result.stage_id) == (None, None, None)
    async with sessions() as db:
        assert (await db.scalars(select(Activity))).all() == []
        assert (await db.scalars(select(DealStageChange))).all() == []
