"""The board on the real databases: trigger-kept totals agree with the deals after every change."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import LeadScore, Stage
from crmlite.domain.board import CardOrder
from crmlite.domain.principal import SYSTEM, Principal
from crmlite.services.board import BoardFilter, BoardService
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.deals import DealChanges, DealService
from crmlite.services.pipelines import PipelineService
from tests.integration.crm_support import add_users

EVER = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
Totals = dict[int, tuple[int, dict[str, Decimal]]]


async def totals(
    sessions: async_sessionmaker[AsyncSession], who: Principal, **filters: object
) -> tuple[Totals, Totals]:
    """(running totals, totals summed from the deals) of the Sales board for ``who``."""
    async with sessions() as session:
        service = BoardService(session, who)
        running = await service.board(1, BoardFilter(**filters))  # type: ignore[arg-type]
        summed = await service.board(1, BoardFilter(created_from=EVER, **filters))  # type: ignore[arg-type]
    return (
        {c.stage_id: (c.count, c.amounts) for c in running.columns},
        {c.stage_id: (c.count, c.amounts) for c in summed.columns},
    )


async def test_running_totals_follow_every_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, head, _ = await add_users(sessions)
    async with sessions() as session:
        stage = {
            s.name: s.id for s in await session.scalars(select(Stage).where(Stage.pipeline_id == 1))
        }
    async with sessions.begin() as session:
        deals = DealService(session, anna)
        a = await deals.create("a", amount="0.10", stage_id=stage["Proposal"])
        b = await deals.create("b", amount="0.20", stage_id=stage["Proposal"])
        c = await deals.create("c", amount="7.00", currency="USD", stage_id=stage["Proposal"])
        await DealService(session, boris).create("d", amount="100.00")
        call = await DealService(session, SYSTEM).create("call", amount="1.00", source="call")
    running, summed = await totals(sessions, head)
    assert running == summed
    assert running[stage["Proposal"]] == (3, {"RUB": Decimal("0.30"), "USD": Decimal("7.00")})
    async with sessions.begin() as session:
        moves = DealMoveService(session, anna)
        await moves.move(a.id, stage["Won"])
        await DealService(session, anna).update(b.id, DealChanges(amount="2.55", currency="EUR"))
        await DealService(session, anna).delete(c.id)
        await DealService(session, boris).claim(call.id)
        await DealMoveService(session, head).bulk_update([b.id], owner_id=boris.user_id)
    async with sessions.begin() as session:
        await PipelineService(session, head).remove_stage(
            stage["Won"], move_to_stage_id=stage["Negotiation"]
        )
    for who in (head, anna, boris):
        running, summed = await totals(sessions, who)
        assert running == summed, who.login
    running, _ = await totals(sessions, head)
    assert running[stage["Negotiation"]] == (1, {"RUB": Decimal("0.10")})
    assert running[stage["Proposal"]] == (1, {"EUR": Decimal("2.55")})
    assert running[stage["Unsorted"]] == (2, {"RUB": Decimal("101.00")})
    mine, summed_mine = await totals(sessions, head, owner_id=boris.user_id)
    assert mine == summed_mine
    assert mine[stage["Unsorted"]] == (2, {"RUB": Decimal("101.00")})


async def test_a_seller_sees_own_totals_and_unclaimed_intake(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, _, _ = await add_users(sessions)
    async with sessions.begin() as session:
        await DealService(session, anna).create("mine", amount="10.00")
        await DealService(session, boris).create("theirs", amount="20.00")
        await DealService(session, SYSTEM).create("call", amount="5.00", source="call")
    running, summed = await totals(sessions, anna)
    assert running == summed
    unsorted = next(iter(running))
    assert running[unsorted] == (2, {"RUB": Decimal("15.00")})
    unassigned, summed_unassigned = await totals(sessions, anna, unassigned=True)
    assert unassigned == summed_unassigned
    assert unassigned[unsorted] == (1, {"RUB": Decimal("5.00")})


async def test_score_order_pages_a_column_best_first_across_pages(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Paged by score, a long column yields every deal once, best first, unscored last."""
    anna, _, _, _ = await add_users(sessions)
    scores = [35, None, 80, 35, 10, None, 99, 0, 35, 61]
    async with sessions.begin() as session:
        ids = [(await DealService(session, anna).create(f"d{i}")).id for i in range(len(scores))]
        session.add_all(
            LeadScore(
                subject="deal",
                subject_id=deal_id,
                score=score,
                method="rules",
                factors=[],
                computed_at=EVER,
            )
            for deal_id, score in zip(ids, scores, strict=True)
            if score is not None
        )
    seen: list[tuple[int, int | None]] = []
    async with sessions() as session:
        service = BoardService(session, anna)
        criteria = BoardFilter(limit=3, order=CardOrder.SCORE)
        board = await service.board(1, criteria)
        column = next(c for c in board.columns if c.cards)
        seen += [(c.id, c.score) for c in column.cards]
        cursor = column.next_cursor
        while cursor is not None:
            page = await service.column(1, column.stage_id, cursor, criteria)
            seen += [(c.id, c.score) for c in page.cards]
            cursor = page.next_cursor
    assert sorted(deal_id for deal_id, _ in seen) == sorted(ids)
    ranks = [-1 if score is None else score for _, score in seen]
    assert ranks == sorted(ranks, reverse=True)
    assert seen[0] == (ids[6], 99)
    # Newest first among equal scores: the three 35s come in reverse order of creation.
    assert [deal_id for deal_id, score in seen if score == 35] == [ids[8], ids[3], ids[0]]
