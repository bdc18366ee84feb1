"""Quotes on deals: draft, edit, send, revise, accept (moving the deal), reject, delete.

Sellers quote on the deals they may change; heads and admins on every deal. Lines and totals are
made by ``crmlite.services.quote_lines`` on the server, never taken from a client.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crmlite.db.models import Deal, Stage, User
from crmlite.db.quote_models import Quote
from crmlite.domain.access import check_may_change_deal
from crmlite.domain.clock import Clock
from crmlite.domain.errors import Conflict, InvalidInput, NotFound
from crmlite.domain.money import parse_currency
from crmlite.domain.principal import Principal
from crmlite.domain.quotes import (
    QuoteAction,
    QuoteStatus,
    check_action,
    effective_status,
    pick_locale,
)
from crmlite.services.common import utc_now
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.deals import DealChanges, DealService
from crmlite.services.quote_lines import (
    LineDraft,
    QuoteDraft,
    copy_line,
    fill_quote,
    line_inputs,
)
from crmlite.services.quote_numbers import next_quote_number
from crmlite.services.quote_settings import accept_settings

DEFAULT_VALIDITY_DAYS = 30


@dataclass(frozen=True, slots=True)
class AcceptResult:
    quote: Quote
    deal_moved_to: int | None
    deal_amount_set: bool


class QuoteService:
    """Quote use cases for one principal inside one unit of work (the caller commits)."""

    def __init__(self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now):
        self.session = session
        self.principal = principal
        self.clock = clock
        self.deals = DealService(session, principal, clock=clock)

    def today(self) -> dt.date:
        return self.clock().date()

    def status_of(self, quote: Quote) -> QuoteStatus:
        """The quote's status as users see it (a sent quote past its date is expired)."""
        return effective_status(quote.status, quote.valid_until, self.today())

    async def for_deal(self, deal_id: int) -> list[Quote]:
        """Every quote of a deal the principal sees, every version, newest first."""
        await self.deals.get(deal_id)
        rows = await self.session.scalars(
            select(Quote)
            .options(selectinload(Quote.lines))
            .where(Quote.deal_id == deal_id)
            .order_by(Quote.created_at.desc(), Quote.id.desc())
        )
        return list(rows)

    async def get(self, quote_id: int) -> tuple[Quote, Deal]:
        """A quote with its lines, and its deal; someone else's reads as NotFound."""
        quote = await self.session.scalar(
            select(Quote)
            .options(selectinload(Quote.lines))
            .where(Quote.id == quote_id)
            .execution_options(populate_existing=True)
        )
        if quote is None:
            raise NotFound(f"no quote {quote_id}", details={"quote_id": quote_id})
        try:
            deal = await self.deals.get(quote.deal_id)
        except NotFound as err:
            raise NotFound(f"no quote {quote_id}", details={"quote_id": quote_id}) from err
        return quote, deal

    async def is_latest(self, quote: Quote) -> bool:
        """False once a newer version of the quote exists."""
        newer = await self.session.scalar(
            select(exists().where(Quote.number == quote.number, Quote.version > quote.version))
        )
        return not newer

    async def create(self, deal_id: int, draft: QuoteDraft) -> Quote:
        """A new draft quote on the deal, numbered Q-<year>-<n>."""
        deal = await self.deals.get_for_change(deal_id)
        locale = draft.locale or await self._owner_locale(deal)
        currency = parse_currency(draft.currency or deal.currency)
        now = self.clock()
        number = await next_quote_number(self.session, now.year)
        quote = Quote(
            deal_id=deal.id,
            number=number,
            version=1,
            status=QuoteStatus.DRAFT.value,
            created_by_id=self.principal.user_id,
            created_at=now,
            updated_at=now,
            notes="",
            locale=pick_locale(locale),
        )
        quote.lines = []
        await fill_quote(self.session, quote, draft, currency, locale=locale, today=self.today())
        self.session.add(quote)
        await self.session.flush()
        return (await self.get(quote.id))[0]

    async def update(self, quote_id: int, draft: QuoteDraft) -> Quote:
        """Replace a draft's terms and lines."""
        quote, deal = await self.get(quote_id)
        self._check_may_change(deal)
        check_action(quote.id, self.status_of(quote), QuoteAction.EDIT)
        currency = parse_currency(draft.currency or quote.currency)
        quote.lines.clear()
        await self.session.flush()  # the old lines' positions are free again
        await fill_quote(
            self.session,
            quote,
            draft,
            currency,
            locale=draft.locale or quote.locale,
            today=self.today(),
        )
        quote.updated_at = self.clock()
        await self.session.flush()
        return (await self.get(quote.id))[0]

    async def send(self, quote_id: int) -> Quote:
        """Freeze a draft as sent to the customer; it is valid 30 days unless it says otherwise."""
        quote, deal = await self.get(quote_id)
        self._check_may_change(deal)
        check_action(quote.id, self.status_of(quote), QuoteAction.SEND)
        if not quote.lines:
            raise InvalidInput("a quote needs a line to be sent", fields={"lines": "empty"})
        today = self.today()
        if quote.valid_until is None:
            quote.valid_until = today + dt.timedelta(days=DEFAULT_VALIDITY_DAYS)
        elif quote.valid_until < today:
            raise InvalidInput(
                "the quote's valid-until date has passed",
                fields={"valid_until": "today or later"},
            )
        now = self.clock()
        quote.status = QuoteStatus.SENT.value
        quote.sent_at = now
        quote.updated_at = now
        await self.session.flush()
        return quote

    async def reject(self, quote_id: int) -> Quote:
        quote, deal = await self.get(quote_id)
        self._check_may_change(deal)
        check_action(quote.id, self.status_of(quote), QuoteAction.REJECT)
        now = self.clock()
        quote.status = QuoteStatus.REJECTED.value
        quote.decided_at = now
        quote.updated_at = now
        await self.session.flush()
        return quote

    async def accept(
        self, quote_id: int, *, stage_id: int | None = None, set_deal_amount: bool | None = None
    ) -> AcceptResult:
        """Accept a sent quote; its deal takes the total and moves to the configured stage.

        ``stage_id`` and ``set_deal_amount`` override the pipeline's quote settings for this
        acceptance. The move goes through the stage move service, so history, closing dates
        and every effect of a move happen as for a move on the board.
        """
        quote, deal = await self.get(quote_id)
        self._check_may_change(deal)
        status = self.status_of(quote)
        check_action(quote.id, status, QuoteAction.ACCEPT)
        configured = await accept_settings(self.session, deal.pipeline_id)
        target = stage_id if stage_id is not None else configured.accept_stage_id
        set_amount = configured.set_deal_amount if set_deal_amount is None else set_deal_amount
        if target is not None:
            await self._require_stage_of_pipeline(target, deal.pipeline_id)
        now = self.clock()
        quote.status = QuoteStatus.ACCEPTED.value
        quote.decided_at = now
        quote.updated_at = now
        await self.session.flush()
        if set_amount:
            await self.deals.update(
                deal.id, DealChanges(amount=quote.total, currency=quote.currency)
            )
        moved_to = None
        if target is not None and target != deal.stage_id:
            moved = await DealMoveService(self.session, self.principal, clock=self.clock).move(
                deal.id, target
            )
            moved_to = moved.stage_id if moved.changed else None
        return AcceptResult(quote, moved_to, set_amount)

    async def revise(self, quote_id: int) -> Quote:
        """A new draft version of a sent, rejected or expired quote; the old one is kept as is.

        A sent version becomes ``superseded`` (it can no longer be accepted); its lines and
        totals are never touched. Two revisions of one version race for the same
        (number, version) and the loser is refused by the unique constraint.
        """
        quote, deal = await self.get(quote_id)
        self._check_may_change(deal)
        check_action(quote.id, self.status_of(quote), QuoteAction.REVISE)
        if not await self.is_latest(quote):
            raise Conflict(
                f"{quote.number} was already revised: change its latest version",
                details={"quote_id": quote.id, "number": quote.number},
            )
        now = self.clock()
        if quote.status == QuoteStatus.SENT.value:
            quote.status = QuoteStatus.SUPERSEDED.value
            quote.updated_at = now
        fresh = Quote(
            deal_id=quote.deal_id,
            number=quote.number,
            version=quote.version + 1,
            previous_id=quote.id,
            status=QuoteStatus.DRAFT.value,
            currency=quote.currency,
            tax_mode=quote.tax_mode,
            tax_rounding=quote.tax_rounding,
            locale=quote.locale,
            valid_until=None,
            notes=quote.notes,
            created_by_id=self.principal.user_id,
            created_at=now,
            updated_at=now,
        )
        for name in ("subtotal", "discount", "net", "tax", "total"):
            setattr(fresh, name, getattr(quote, name))
        fresh.lines = [copy_line(line) for line in quote.lines]
        self.session.add(fresh)
        await self.session.flush()
        return (await self.get(fresh.id))[0]

    async def delete(self, quote_id: int) -> None:
        """Delete a draft (sent versions stay: the customer has seen them)."""
        quote, deal = await self.get(quote_id)
        self._check_may_change(deal)
        check_action(quote.id, self.status_of(quote), QuoteAction.DELETE)
        await self.session.delete(quote)
        await self.session.flush()

    def _check_may_change(self, deal: Deal) -> None:
        check_may_change_deal(
            self.principal, deal.id, deal.owner_id, in_unsorted=deal.stage.is_unsorted
        )

    async def _owner_locale(self, deal: Deal) -> str:
        if deal.owner_id is None:
            return "en"
        return (
            await self.session.scalar(select(User.locale).where(User.id == deal.owner_id)) or "en"
        )

    async def _require_stage_of_pipeline(self, stage_id: int, pipeline_id: int) -> None:
        found = await self.session.scalar(
            select(Stage.id).where(
                Stage.id == stage_id,
                Stage.pipeline_id == pipeline_id,
                Stage.archived_at.is_(None),
            )
        )
        if found is None:
            raise InvalidInput(
                "no such stage in the deal's pipeline", fields={"stage_id": "not in this pipeline"}
            )


__all__ = ["AcceptResult", "LineDraft", "QuoteDraft", "QuoteService", "line_inputs"]
