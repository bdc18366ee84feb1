"""The stage move in one hop (the board's path) keeps every rule of the move in a session.

Each test runs on SQLite and PostgreSQL, through both ways of running a move: ``StageMover``
(a unit of work of its own, one worker-thread hop on SQLite) and ``DealMoveService.move``
(inside the caller's session).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.models import Deal, DealStageChange
from crmlite.db.one_hop import OneHop
from crmlite.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import SYSTEM, Principal
from crmlite.services.deal_moves import DealMoveService, MovedDeal, StageMover
from crmlite.services.deals import DealService
from tests.integration.crm_support import StepClock, add_users
from tests.integration.test_crm_deals import new_deal, stages_by_name

Move = Callable[..., Awaitable[MovedDeal]]


@pytest.fixture(params=["one-hop", "session"])
async def move(
    request: pytest.FixtureRequest,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Move]:
    units = OneHop(engine)
    clock = StepClock()

    async def run(who: Principal, deal_id: int, stage_id: int, **kw: object) -> MovedDeal:
        clock.advance(minutes=5)
        if request.param == "one-hop":
            return await StageMover(units, who, clock=clock).move(deal_id, stage_id, **kw)  # type: ignore[arg-type]
        async with sessions.begin() as session:
            return await DealMoveService(session, who, clock=clock).move(deal_id, stage_id, **kw)  # type: ignore[arg-type]

    yield run
    units.close()


async def history(sessions: async_sessionmaker[AsyncSession], deal_id: int) -> list[int]:
    async with sessions() as session:
        rows = await session.scalars(
            select(DealStageChange.to_stage_id)
            .where(DealStageChange.deal_id == deal_id)
            .order_by(DealStageChange.id)
        )
        return list(rows)


async def test_a_move_is_committed_with_its_history(
    sessions: async_sessionmaker[AsyncSession], move: Move
) -> None:
    anna, *_ = await add_users(sessions)
    deal = await new_deal(sessions, anna, "Sedan")
    async with sessions() as session:
        stage = await stages_by_name(session)
    moved = await move(anna, deal.id, stage["Proposal"], expected_version=deal.version)
    assert (moved.stage_id, moved.version, moved.changed) == (stage["Proposal"], 2, True)
    won = await move(anna, deal.id, stage["Won"])
    assert won.closed_at is not None
    again = await move(anna, deal.id, stage["Won"])
    assert (again.changed, again.version) == (False, 3)  # already there: nothing written
    async with sessions() as session:
        stored = await DealService(session, anna).get(deal.id)
        by = await session.scalars(
            select(DealStageChange.changed_by_id).where(DealStageChange.deal_id == deal.id)
        )
        assert set(by) == {anna.user_id}
    assert (stored.stage_id, stored.version, stored.closed_at) == (stage["Won"], 3, won.closed_at)
    assert stored.stage_entered_at == won.closed_at
    assert await history(sessions, deal.id) == [stage["Unsorted"], stage["Proposal"], stage["Won"]]
    reopened = await move(anna, deal.id, stage["Negotiation"])
    assert reopened.closed_at is None


async def test_refused_moves_change_nothing(
    sessions: async_sessionmaker[AsyncSession], move: Move
) -> None:
    anna, boris, head, _ = await add_users(sessions)
    annas = await new_deal(sessions, anna, "Anna's")
    async with sessions() as session:
        stage = await stages_by_name(session)
    with pytest.raises(NotFound):
        await move(boris, annas.id, stage["Won"])  # another seller's deal reads as absent
    with pytest.raises(NotFound):
        await move(boris, annas.id, 999_999)  # even with a bad stage: nothing is revealed
    with pytest.raises(NotFound):
        await move(anna, 999_999, stage["Won"])
    with pytest.raises(InvalidInput) as no_stage:
        await move(anna, annas.id, 999_999)
    assert "stage_id" in no_stage.value.fields
    with pytest.raises(InvalidInput) as no_reason:
        await move(anna, annas.id, stage["Lost"])
    assert "lost_reason" in no_reason.value.fields
    with pytest.raises(Conflict):
        await move(anna, annas.id, stage["Won"], expected_version=7)
    async with sessions() as session:
        unchanged = await session.get(Deal, annas.id)
    assert unchanged is not None
    assert (unchanged.stage_id, unchanged.version) == (stage["Unsorted"], 1)
    assert await history(sessions, annas.id) == [stage["Unsorted"]]
    lost = await move(head, annas.id, stage["Lost"], lost_reason="price")
    assert lost.changed


async def test_an_unclaimed_call_deal_must_be_claimed_first(
    sessions: async_sessionmaker[AsyncSession], move: Move
) -> None:
    anna, *_ = await add_users(sessions)
    call_deal = await new_deal(sessions, SYSTEM, "Inbound call", source="call")
    async with sessions() as session:
        stage = await stages_by_name(session)
    with pytest.raises(PermissionDenied):
        await move(anna, call_deal.id, stage["Proposal"])
    with pytest.raises(PermissionDenied):
        await move(anna, call_deal.id, 999_999)  # seen, not theirs: forbidden, not "no stage"
    assert await history(sessions, call_deal.id) == [stage["Unsorted"]]
