"""Quotes on the real databases: stored totals, revisions, numbering races, acceptance, RBAC."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Deal, DealStageChange
from crmlite.db.quote_models import Quote
from crmlite.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal
from crmlite.domain.quote_totals import TaxMode, TaxRounding
from crmlite.domain.quotes import QuoteStateConflict, QuoteStatus
from crmlite.services.deals import DealService
from crmlite.services.quote_settings import save_accept_settings
from crmlite.services.quotes import LineDraft, QuoteDraft, QuoteService
from tests.integration.crm_support import StepClock, add_users
from tests.integration.test_crm_deals import stages_by_name

Sessions = async_sessionmaker[AsyncSession]

# Three lines of 0.05 at 10 % tax: each line's tax is 0.005, rounded half up to 0.01, so per-line
# rounding makes 0.03 of tax while rounding once on the sum (0.015) makes 0.02.
HALF_CENT_LINES = [
    LineDraft(quantity="1", unit_price="0.05", tax_rate="10", description="Bolt") for _ in range(3)
]


async def new_deal(sessions: Sessions, who: Principal, **kw: object) -> Deal:
    async with sessions.begin() as session:
        return await DealService(session, who).create("Fleet of 3 cars", **kw)  # type: ignore[arg-type]


async def create(
    sessions: Sessions, who: Principal, deal_id: int, draft: QuoteDraft, clock: StepClock
) -> Quote:
    async with sessions.begin() as session:
        return await QuoteService(session, who, clock=clock).create(deal_id, draft)


@pytest.mark.parametrize(
    ("rounding", "tax", "total"),
    [(TaxRounding.PER_LINE, "0.03", "0.18"), (TaxRounding.PER_TOTAL, "0.02", "0.17")],
)
async def test_stored_totals_follow_the_rounding_step(
    sessions: Sessions, rounding: TaxRounding, tax: str, total: str
) -> None:
    anna, *_ = await add_users(sessions)
    clock = StepClock()
    deal = await new_deal(sessions, anna, currency="EUR")
    draft = QuoteDraft(lines=HALF_CENT_LINES, tax_rounding=rounding)
    quote = await create(sessions, anna, deal.id, draft, clock)
    async with sessions() as session:
        stored = await session.get_one(Quote, quote.id)
        assert (stored.net, stored.tax, stored.total) == (
            Decimal("0.15"),
            Decimal(tax),
            Decimal(total),
        )
        assert stored.currency == "EUR"


async def test_a_discounted_inclusive_quote_in_yen_has_no_cents(sessions: Sessions) -> None:
    anna, *_ = await add_users(sessions)
    clock = StepClock()
    deal = await new_deal(sessions, anna, currency="JPY")
    lines = [
        LineDraft(quantity="3", unit_price="333", discount_percent="5", tax_rate="10"),
        LineDraft(quantity="1", unit_price="1001", tax_rate="8", description="Delivery"),
    ]
    draft = QuoteDraft(
        lines=[LineDraft(**{**vars_of(lines[0]), "description": "Oil change"}), lines[1]],
        tax_mode=TaxMode.INCLUSIVE,
    )
    quote = await create(sessions, anna, deal.id, draft, clock)
    # 999 less 5 % (49.95 -> 50) = 949, tax 949*10/110 = 86.27 -> 86; 1001*8/108 = 74.1 -> 74.
    assert [line.total for line in quote.lines] == [Decimal(949), Decimal(1001)]
    assert [line.tax for line in quote.lines] == [Decimal(86), Decimal(74)]
    assert (quote.discount, quote.tax, quote.total) == (Decimal(50), Decimal(160), Decimal(1950))


def vars_of(line: LineDraft) -> dict[str, object]:
    return {name: getattr(line, name) for name in LineDraft.__slots__}


async def test_a_revised_quote_leaves_the_old_version_as_it_was(sessions: Sessions) -> None:
    anna, *_ = await add_users(sessions)
    clock = StepClock()
    deal = await new_deal(sessions, anna, currency="RUB")
    first_lines = [
        LineDraft(quantity="2", unit_price="1500", description="Tyres", tax_rate="20"),
        LineDraft(quantity="1", unit_price="999.99", description="Fitting", discount_percent="10"),
    ]
    quote = await create(sessions, anna, deal.id, QuoteDraft(lines=first_lines), clock)
    async with sessions.begin() as session:
        service = QuoteService(session, anna, clock=clock)
        await service.send(quote.id)
    async with sessions() as session:
        before = await QuoteService(session, anna, clock=clock).get(quote.id)
        old_lines = [(x.description, x.quantity, x.unit_price, x.total) for x in before[0].lines]
        old_total = before[0].total

    clock.advance(days=1)
    async with sessions.begin() as session:
        service = QuoteService(session, anna, clock=clock)
        revised = await service.revise(quote.id)
        await service.update(
            revised.id,
            QuoteDraft(lines=[LineDraft(quantity="4", unit_price="1400", description="Tyres")]),
        )
    async with sessions() as session:
        service = QuoteService(session, anna, clock=clock)
        old, _ = await service.get(quote.id)
        new, _ = await service.get(revised.id)
        assert [(x.description, x.quantity, x.unit_price, x.total) for x in old.lines] == old_lines
        assert old.total == old_total
        assert old.status == QuoteStatus.SUPERSEDED
        assert not await service.is_latest(old)
        assert (new.number, new.version, new.previous_id) == (old.number, 2, old.id)
        assert new.total == Decimal("5600.00")

    async with sessions.begin() as session:
        service = QuoteService(session, anna, clock=clock)
        with pytest.raises(QuoteStateConflict):
            await service.update(quote.id, QuoteDraft(lines=first_lines[:1]))
        with pytest.raises(QuoteStateConflict):
            await service.accept(quote.id)
        with pytest.raises(Conflict):
            await service.revise(quote.id)


async def test_concurrent_quotes_get_consecutive_numbers(sessions: Sessions) -> None:
    anna, *_ = await add_users(sessions)
    clock = StepClock()
    deal = await new_deal(sessions, anna)
    draft = QuoteDraft(lines=[LineDraft(quantity="1", unit_price="10", description="Wash")])
    quotes = await asyncio.gather(
        *(create(sessions, anna, deal.id, draft, clock) for _ in range(8))
    )
    assert sorted(q.number for q in quotes) == [f"Q-2026-{n:04d}" for n in range(1, 9)]
    clock.now = dt.datetime(2027, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
    next_year = await create(sessions, anna, deal.id, draft, clock)
    assert next_year.number == "Q-2027-0001"


async def test_accepting_sets_the_amount_and_moves_the_deal_with_history(
    sessions: Sessions,
) -> None:
    anna, _boris, head, _admin = await add_users(sessions)
    clock = StepClock()
    deal = await new_deal(sessions, anna)
    async with sessions.begin() as session:
        stage = await stages_by_name(session)
        await save_accept_settings(
            session, head, deal.pipeline_id, accept_stage_id=stage["Won"], set_deal_amount=True
        )
    lines = [LineDraft(quantity="2", unit_price="100.10", description="Mats", tax_rate="20")]
    quote = await create(sessions, anna, deal.id, QuoteDraft(lines=lines), clock)
    async with sessions.begin() as session:
        service = QuoteService(session, anna, clock=clock)
        await service.send(quote.id)
        clock.advance(hours=2)
        result = await service.accept(quote.id)
    assert result.deal_moved_to == stage["Won"]
    async with sessions() as session:
        moved = await session.get_one(Deal, deal.id)
        assert moved.amount == Decimal("240.24")
        assert moved.stage_id == stage["Won"]
        assert moved.closed_at is not None
        history = (
            await session.scalars(
                select(DealStageChange.to_stage_id)
                .where(DealStageChange.deal_id == deal.id)
                .order_by(DealStageChange.id)
            )
        ).all()
        assert history[-1] == stage["Won"]
        accepted, _ = await QuoteService(session, anna, clock=clock).get(quote.id)
        assert accepted.status == QuoteStatus.ACCEPTED


async def test_a_sent_quote_expires_after_its_date(sessions: Sessions) -> None:
    anna, *_ = await add_users(sessions)
    clock = StepClock()
    deal = await new_deal(sessions, anna)
    lines = [LineDraft(quantity="1", unit_price="10", description="Wash")]
    draft = QuoteDraft(lines=lines, valid_until=clock().date() + dt.timedelta(days=3))
    quote = await create(sessions, anna, deal.id, draft, clock)
    async with sessions.begin() as session:
        await QuoteService(session, anna, clock=clock).send(quote.id)
    clock.advance(days=4)
    async with sessions.begin() as session:
        service = QuoteService(session, anna, clock=clock)
        found, _ = await service.get(quote.id)
        assert service.status_of(found) == QuoteStatus.EXPIRED
        with pytest.raises(QuoteStateConflict):
            await service.accept(quote.id)
        assert (await service.revise(quote.id)).version == 2


async def test_sellers_quote_on_their_own_deals_and_heads_see_all(sessions: Sessions) -> None:
    anna, boris, head, _admin = await add_users(sessions)
    clock = StepClock()
    deal = await new_deal(sessions, anna)
    lines = [LineDraft(quantity="1", unit_price="10", description="Wash")]
    quote = await create(sessions, anna, deal.id, QuoteDraft(lines=lines), clock)
    async with sessions.begin() as session:
        with pytest.raises(NotFound):
            await QuoteService(session, boris, clock=clock).get(quote.id)
        with pytest.raises(NotFound):
            await QuoteService(session, boris, clock=clock).create(deal.id, QuoteDraft(lines=lines))
        assert len(await QuoteService(session, head, clock=clock).for_deal(deal.id)) == 1
    unsorted = await new_deal(sessions, head, owner_id=None)
    async with sessions.begin() as session:
        with pytest.raises((PermissionDenied, NotFound)):
            await QuoteService(session, anna, clock=clock).create(
                unsorted.id, QuoteDraft(lines=lines)
            )


async def test_bad_lines_are_refused_naming_the_field(sessions: Sessions) -> None:
    anna, *_ = await add_users(sessions)
    clock = StepClock()
    deal = await new_deal(sessions, anna)
    cases = [
        (LineDraft(quantity="0", unit_price="1", description="x"), "lines.0.quantity"),
        (
            LineDraft(quantity="1", unit_price="1", description="x", tax_rate="101"),
            "lines.0.tax_rate",
        ),
        (LineDraft(quantity="1", unit_price=None, description="x"), "lines.0.unit_price"),
        (LineDraft(quantity="1", unit_price="1", description=" "), "lines.0.description"),
        (LineDraft(quantity="1", product_id=999_999), "lines.0.product_id"),
    ]
    for line, field in cases:
        with pytest.raises(InvalidInput) as caught:
            await create(sessions, anna, deal.id, QuoteDraft(lines=[line]), clock)
        assert field in caught.value.fields


async def test_two_racing_revisions_of_one_version_make_one_new_version(
    sessions: Sessions,
) -> None:
    anna, *_ = await add_users(sessions)
    clock = StepClock()
    deal = await new_deal(sessions, anna)
    lines = [LineDraft(quantity="1", unit_price="10", description="Wash")]
    quote = await create(sessions, anna, deal.id, QuoteDraft(lines=lines), clock)
    async with sessions.begin() as session:
        await QuoteService(session, anna, clock=clock).send(quote.id)

    async def revise() -> int:
        async with sessions.begin() as session:
            return (await QuoteService(session, anna, clock=clock).revise(quote.id)).version

    outcomes = await asyncio.gather(revise(), revise(), return_exceptions=True)
    assert sorted(str(o) for o in outcomes if isinstance(o, int)) == ["2"]
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    # The loser breaks the unique (number, version): the web layer answers it 409 already-taken.
    assert len(failures) == 1
    assert isinstance(failures[0], IntegrityError | Conflict)
    async with sessions() as session:
        versions = await session.scalars(select(Quote.version).where(Quote.number == quote.number))
        assert sorted(versions) == [1, 2]
