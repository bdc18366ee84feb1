"""Quotes on deals: draft, edit, send, revise, accept (moving the deal), reject, delete.

Sellers quote on the deals they may change; heads and admins on every deal. Totals always come
from ``crmlite.domain.quote_totals`` here, on the server: what a client sends is quantities,
prices, discounts and rates, never sums.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crmlite.db.models import Deal, Stage, User
from crmlite.db.quote_models import Product, Quote, QuoteLine
from crmlite.domain.access import check_may_change_deal
from crmlite.domain.clock import Clock
from crmlite.domain.errors import Conflict, InvalidInput, NotFound
from crmlite.domain.money import parse_currency
from crmlite.domain.principal import Principal
from crmlite.domain.quote_totals import (
    MAX_LINES,
    LineInput,
    TaxMode,
    TaxRounding,
    compute_totals,
    minor_unit,
    parse_line,
)
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
from crmlite.services.quote_numbers import next_quote_number
from crmlite.services.quote_settings import accept_settings

DEFAULT_VALIDITY_DAYS = 30


@dataclass(frozen=True, slots=True)
class LineDraft:
    quantity: object
    product_id: int | None = None
    description: str | None = None
    unit: str | None = None
    unit_price: object = None
    discount_percent: object = "0"
    tax_rate: object = None


@dataclass(frozen=True, slots=True)
class QuoteDraft:
    lines: Sequence[LineDraft]
    currency: str | None = None
    tax_mode: TaxMode = TaxMode.EXCLUSIVE
    tax_rounding: TaxRounding = TaxRounding.PER_LINE
    locale: str | None = None
    valid_until: dt.date | None = None
    notes: str = ""


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

    async def versions(self, quote: Quote) -> list[Quote]:
        rows = await self.session.scalars(
            select(Quote).where(Quote.number == quote.number).order_by(Quote.version)
        )
        return list(rows)

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
        await self._fill(quote, draft, currency, locale=locale)
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
        await self._fill(quote, draft, currency, locale=draft.locale or quote.locale)
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
        fresh.lines = [_copy_line(line) for line in quote.lines]
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

    async def _fill(self, quote: Quote, draft: QuoteDraft, currency: str, *, locale: str) -> None:
        """Set the quote's terms and lines from ``draft`` and compute every amount."""
        minor_unit(currency)  # refuses currencies the quote cannot be written in
        if len(draft.lines) > MAX_LINES:
            raise InvalidInput("too many lines", fields={"lines": f"at most {MAX_LINES}"})
        if len(draft.notes) > 4000:
            raise InvalidInput("notes too long", fields={"notes": "at most 4000 characters"})
        if draft.valid_until is not None and draft.valid_until < self.today():
            raise InvalidInput("that date has passed", fields={"valid_until": "today or later"})
        products = await self._products(draft.lines)
        inputs: list[LineInput] = []
        lines: list[QuoteLine] = []
        for index, line in enumerate(draft.lines):
            prefix = f"lines.{index}."
            product = products.get(line.product_id) if line.product_id is not None else None
            if line.unit_price is None and product is not None and product.currency != currency:
                raise InvalidInput(
                    "the product is priced in another currency",
                    fields={f"{prefix}unit_price": f"give a price in {currency}"},
                )
            price = line.unit_price if line.unit_price is not None else product_price(product)
            if price is None:
                raise InvalidInput(
                    "a line needs a price", fields={f"{prefix}unit_price": "missing"}
                )
            rate = line.tax_rate if line.tax_rate is not None else product_rate(product)
            numbers = parse_line(line.quantity, price, line.discount_percent, rate, prefix=prefix)
            description = (line.description or (product.name if product else "")).strip()
            if not description or len(description) > 500:
                raise InvalidInput(
                    "a line needs a description",
                    fields={f"{prefix}description": "1 to 500 characters"},
                )
            unit = (line.unit or (product.unit if product else "") or "pcs").strip()[:32]
            inputs.append(numbers)
            lines.append(
                QuoteLine(
                    position=index + 1,
                    product_id=product.id if product else None,
                    sku=product.sku if product else None,
                    description=description,
                    unit=unit,
                    quantity=numbers.quantity,
                    unit_price=numbers.unit_price,
                    discount_percent=numbers.discount_percent,
                    tax_rate=numbers.tax_rate,
                )
            )
        totals = compute_totals(
            inputs, currency, tax_mode=draft.tax_mode, rounding=draft.tax_rounding
        )
        for row, amounts in zip(lines, totals.lines, strict=True):
            row.gross, row.discount, row.net = amounts.gross, amounts.discount, amounts.net
            row.tax, row.total = amounts.tax, amounts.total
        quote.lines.extend(lines)
        quote.currency = currency
        quote.tax_mode = draft.tax_mode.value
        quote.tax_rounding = draft.tax_rounding.value
        quote.locale = pick_locale(locale)
        quote.valid_until = draft.valid_until
        quote.notes = draft.notes.strip()
        quote.subtotal, quote.discount, quote.net = totals.subtotal, totals.discount, totals.net
        quote.tax, quote.total = totals.tax, totals.total

    async def _products(self, lines: Sequence[LineDraft]) -> dict[int, Product]:
        wanted = {line.product_id for line in lines if line.product_id is not None}
        if not wanted:
            return {}
        found = {
            product.id: product
            for product in await self.session.scalars(select(Product).where(Product.id.in_(wanted)))
        }
        for index, line in enumerate(lines):
            product = found.get(line.product_id) if line.product_id is not None else None
            if line.product_id is not None and (product is None or not product.active):
                raise InvalidInput(
                    "no such active product",
                    fields={f"lines.{index}.product_id": "no such active product"},
                )
        return found


def product_price(product: Product | None) -> Decimal | None:
    return product.unit_price if product is not None else None


def product_rate(product: Product | None) -> Decimal:
    return product.tax_rate if product is not None else Decimal(0)


def line_inputs(lines: Sequence[QuoteLine]) -> list[LineInput]:
    """The stored lines' numbers, to recompute what depends on them (the tax breakdown)."""
    return [
        LineInput(line.quantity, line.unit_price, line.discount_percent, line.tax_rate)
        for line in lines
    ]


def _copy_line(line: QuoteLine) -> QuoteLine:
    return QuoteLine(
        position=line.position,
        product_id=line.product_id,
        sku=line.sku,
        description=line.description,
        unit=line.unit,
        quantity=line.quantity,
        unit_price=line.unit_price,
        discount_percent=line.discount_percent,
        tax_rate=line.tax_rate,
        gross=line.gross,
        discount=line.discount,
        net=line.net,
        tax=line.tax,
        total=line.total,
    )
