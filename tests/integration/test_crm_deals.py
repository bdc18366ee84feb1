"""Deals on the real databases: moves, history, versions, pipelines, bulk changes, RBAC."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Deal, DealStageChange, Stage
from crmlite.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import SYSTEM, Principal
from crmlite.services.contacts import ContactService
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.deals import DealChanges, DealFilter, DealService, DealStatus
from crmlite.services.pipelines import PipelineService, StageInput
from tests.integration.crm_support import StepClock, add_users


async def stages_by_name(session: AsyncSession, pipeline_id: int | None = None) -> dict[str, int]:
    query = select(Stage.name, Stage.id)
    if pipeline_id is not None:
        query = query.where(Stage.pipeline_id == pipeline_id)
    else:
        query = query.where(
            Stage.pipeline_id == select(func.min(Stage.pipeline_id)).scalar_subquery()
        )
    return {name: ident for name, ident in await session.execute(query)}


async def new_deal(
    sessions: async_sessionmaker[AsyncSession], who: Principal, title: str, **kw: object
) -> Deal:
    async with sessions.begin() as session:
        return await DealService(session, who).create(title, **kw)  # type: ignore[arg-type]


async def test_the_standard_pipeline_is_seeded(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        pipelines = await PipelineService(session, SYSTEM).all()
    assert [p.name for p in pipelines] == ["Sales"]
    sales = pipelines[0]
    assert sales.is_default
    assert sales.stages[0].name == "Unsorted"
    assert sales.stages[0].is_unsorted
    assert {s.kind for s in sales.stages} == {"open", "won", "lost"}


async def test_moves_are_recorded_and_close_and_reopen(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, *_ = await add_users(sessions)
    clock = StepClock()
    async with sessions.begin() as session:
        stage = await stages_by_name(session)
        deal = await DealService(session, anna, clock=clock).create("Car", amount="1234.50")
    assert deal.stage_id == stage["Unsorted"]
    assert deal.amount == Decimal("1234.50")
    moves = [("Proposal", None), ("Won", None), ("Negotiation", None), ("Lost", "too expensive")]
    for name, reason in moves:
        clock.advance(hours=1)
        async with sessions.begin() as session:
            moved = await DealMoveService(session, anna, clock=clock).move(
                deal.id, stage[name], expected_version=deal.version, lost_reason=reason
            )
            deal = await DealService(session, anna).get(deal.id)
        assert (moved.stage_id, moved.version) == (deal.stage_id, deal.version)
        if name == "Won":
            assert deal.closed_at == clock.now
        elif name == "Negotiation":
            assert deal.closed_at is None
        assert deal.stage_entered_at == clock.now
    assert deal.lost_reason == "too expensive"
    assert deal.closed_at == clock.now
    assert deal.version == 5
    async with sessions() as session:
        history = await DealService(session, anna).history(deal.id)
    assert [(h.from_stage_name, h.to_stage_name) for h in history] == [
        (None, "Unsorted"),
        ("Unsorted", "Proposal"),
        ("Proposal", "Won"),
        ("Won", "Negotiation"),
        ("Negotiation", "Lost"),
    ]
    assert {h.changed_by_id for h in history} == {anna.user_id}


async def test_lost_needs_a_reason_and_stale_versions_conflict(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, *_ = await add_users(sessions)
    deal = await new_deal(sessions, anna, "Van")
    async with sessions.begin() as session:
        stage = await stages_by_name(session)
        with pytest.raises(InvalidInput) as caught:
            await DealMoveService(session, anna).move(deal.id, stage["Lost"])
        assert "lost_reason" in caught.value.fields
    async with sessions.begin() as session:
        await DealMoveService(session, anna).move(deal.id, stage["Proposal"], expected_version=1)
    async with sessions.begin() as session:
        with pytest.raises(Conflict) as stale:
            await DealMoveService(session, anna).move(deal.id, stage["Won"], expected_version=1)
    assert stale.value.details == {"expected_version": 1, "current_version": 2}


async def test_amounts_are_exact_decimals(sessions: async_sessionmaker[AsyncSession]) -> None:
    anna, *_ = await add_users(sessions)
    for amount in ["0.10", "0.20", "999999999999.99"]:
        await new_deal(sessions, anna, f"deal {amount}", amount=amount)
    async with sessions() as session:
        page = await DealService(session, anna).find(DealFilter(sort="amount"))
        total = await session.scalar(select(func.sum(Deal.amount)))
    assert [d.amount for d in page.items] == [
        Decimal("0.10"),
        Decimal("0.20"),
        Decimal("999999999999.99"),
    ]
    assert Decimal(total).quantize(Decimal("0.01")) == Decimal("1000000000000.29")
    async with sessions.begin() as session:
        with pytest.raises(InvalidInput):
            await DealService(session, anna).create("float", amount=0.1)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            await DealService(session, anna).create("cents", amount="1.005")


async def test_sellers_cannot_touch_each_others_deals(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, head, _ = await add_users(sessions)
    annas = await new_deal(sessions, anna, "Anna's")
    async with sessions() as session:
        stage = await stages_by_name(session)
    borises = await new_deal(sessions, boris, "Boris's", stage_id=stage["Proposal"])
    async with sessions.begin() as session:
        with pytest.raises(NotFound):
            await DealService(session, boris).get(annas.id)
        with pytest.raises(NotFound):
            await DealMoveService(session, boris).move(annas.id, stage["Won"])
        with pytest.raises(NotFound):
            await DealService(session, boris).update(annas.id, DealChanges(title="mine now"))
        with pytest.raises(NotFound):
            await DealService(session, boris).history(annas.id)
        with pytest.raises(NotFound):
            await DealMoveService(session, boris).bulk_update(
                [borises.id, annas.id], stage_id=stage["Won"]
            )
        listed = await DealService(session, boris).find(DealFilter())
        assert [d.id for d in listed.items] == [borises.id]
        everything = await DealService(session, head).find(DealFilter(sort="id"))
        assert [d.id for d in everything.items] == [annas.id, borises.id]
    async with sessions() as session:
        unchanged = await DealService(session, head).get(borises.id)
    assert unchanged.stage_id == stage["Proposal"]


async def test_unclaimed_call_deals_wait_in_unsorted_for_anyone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, _, _ = await add_users(sessions)
    async with sessions.begin() as session:
        caller = await ContactService(session, SYSTEM).create("Caller +74951112233")
    call_deal = await new_deal(
        sessions, SYSTEM, "Inbound call", source="call", contact_id=caller.id
    )
    assert call_deal.owner_id is None
    async with sessions.begin() as session:
        stage = await stages_by_name(session)
        seen = await DealService(session, boris).get(call_deal.id)
        assert seen.id == call_deal.id
        with pytest.raises(PermissionDenied):
            await DealMoveService(session, boris).move(call_deal.id, stage["Proposal"])
    async with sessions.begin() as session:
        claimed = await DealService(session, anna).claim(call_deal.id)
    assert claimed.owner_id == anna.user_id
    async with sessions() as session:
        taken = await ContactService(session, anna).get(caller.id)  # the caller came along
    assert taken.owner_id == anna.user_id
    async with sessions.begin() as session:
        with pytest.raises(NotFound):
            await DealService(session, boris).get(call_deal.id)
        with pytest.raises(NotFound):
            await DealService(session, boris).claim(call_deal.id)


async def test_bulk_update_moves_and_reassigns_in_one_go(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, head, _ = await add_users(sessions)
    deals = [await new_deal(sessions, anna, f"d{i}") for i in range(3)]
    async with sessions.begin() as session:
        stage = await stages_by_name(session)
        result = await DealMoveService(session, head).bulk_update(
            [d.id for d in deals], stage_id=stage["Negotiation"], owner_id=boris.user_id
        )
    assert (result.moved, result.reassigned) == (3, 3)
    async with sessions() as session:
        page = await DealService(session, boris).find(DealFilter(stage_ids=(stage["Negotiation"],)))
        changes = await session.scalar(select(func.count(DealStageChange.id)))
    assert sorted(d.id for d in page.items) == [d.id for d in deals]
    assert {d.version for d in page.items} == {2}
    assert changes == 6
    async with sessions.begin() as session:
        with pytest.raises(InvalidInput):
            await DealMoveService(session, boris).bulk_update(
                [d.id for d in deals], stage_id=stage["Lost"]
            )
    async with sessions() as session:
        still = await DealService(session, boris).find(DealFilter(status=DealStatus.OPEN))
    assert still.total == 3


async def test_removing_a_stage_moves_its_deals(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, _, head, _ = await add_users(sessions)
    async with sessions.begin() as session:
        stage = await stages_by_name(session)
    deals = [await new_deal(sessions, anna, f"d{i}", stage_id=stage["Proposal"]) for i in range(2)]
    async with sessions.begin() as session:
        with pytest.raises(PermissionDenied):
            await PipelineService(session, anna).remove_stage(stage["Proposal"])
        with pytest.raises(Conflict) as caught:
            await PipelineService(session, head).remove_stage(stage["Proposal"])
        assert caught.value.details["deal_count"] == 2
    async with sessions.begin() as session:
        pipeline = await PipelineService(session, head).remove_stage(
            stage["Proposal"], move_to_stage_id=stage["Negotiation"]
        )
    assert "Proposal" not in [s.name for s in pipeline.stages]
    assert [s.position for s in pipeline.stages] == list(range(len(pipeline.stages)))
    async with sessions() as session:
        for deal in deals:
            history = await DealService(session, anna).history(deal.id)
            assert history[-1].to_stage_id == stage["Negotiation"]
            assert history[-1].from_stage_id == stage["Proposal"]
            assert history[-1].changed_by_id == head.user_id


async def test_pipelines_are_shaped_and_deals_move_between_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, _, head, _ = await add_users(sessions)
    async with sessions.begin() as session:
        service = PipelineService(session, head)
        used = await service.create(
            "Used cars",
            [
                StageInput("Inspection", "open", 20),
                StageInput("Proposal", "open", 50),
                StageInput("Sold", "won", 100),
            ],
        )
        await service.add_stage(used.id, StageInput("Test drive", "open", 40), position=2)
        used = await service.update_stage(
            (await stages_by_name(session, used.id))["Inspection"], name="Check-up"
        ) and await service.get(used.id)
    assert [s.name for s in used.stages] == [
        "Unsorted",
        "Check-up",
        "Test drive",
        "Proposal",
        "Sold",
    ]
    async with sessions.begin() as session:
        ids = [s.id for s in used.stages]
        reordered = await PipelineService(session, head).reorder(
            used.id, [ids[0], ids[2], ids[1], *ids[3:]]
        )
        assert [s.name for s in reordered.stages][:3] == ["Unsorted", "Test drive", "Check-up"]
        with pytest.raises(InvalidInput):
            await PipelineService(session, head).reorder(used.id, [ids[1], ids[0], *ids[2:]])
    async with sessions() as session:
        sales = await stages_by_name(session)
        used_stages = await stages_by_name(session, used.id)
    deal = await new_deal(sessions, anna, "Golf", stage_id=sales["Proposal"])
    async with sessions.begin() as session:
        moved = await DealMoveService(session, anna).move_to_pipeline(deal.id, used.id)
    assert (moved.pipeline_id, moved.stage_id) == (used.id, used_stages["Proposal"])
    async with sessions.begin() as session:
        mapped = await DealMoveService(session, anna).move_to_pipeline(
            deal.id,
            (await PipelineService(session, anna).default_intake_stage()).pipeline_id,
            stage_mapping={used_stages["Proposal"]: sales["Won"]},
        )
    assert mapped.stage_id == sales["Won"]
    assert mapped.closed_at is not None


async def test_a_deal_loaded_in_the_session_follows_a_move(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, *_ = await add_users(sessions)
    deal = await new_deal(sessions, anna, "Van")
    async with sessions.begin() as session:
        stage = await stages_by_name(session)
        loaded = await DealService(session, anna).get(deal.id)
        loaded.title = "Van, blue"  # pending, not flushed: the move must not lose or trip on it
        moved = await DealMoveService(session, anna).move(deal.id, stage["Proposal"])
        assert moved.changed
        assert (loaded.stage_id, loaded.version) == (stage["Proposal"], 2)
        again = await DealService(session, anna).get(deal.id)
        assert again is loaded
        assert again.stage.name == "Proposal"
        unchanged = await DealMoveService(session, anna).move(deal.id, stage["Proposal"])
        assert not unchanged.changed
        assert unchanged.version == 2
    async with sessions() as session:
        stored = await DealService(session, anna).get(deal.id)
    assert (stored.title, stored.stage_id, stored.version) == ("Van, blue", stage["Proposal"], 2)
