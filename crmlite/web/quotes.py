"""Quotes API: quotes of a deal, their life (send, accept, reject, revise), totals previews."""

from __future__ import annotations

from aiohttp import web

from crmlite.db.quote_models import Quote, QuoteLine
from crmlite.domain.quote_totals import TaxMode, TaxRounding, compute_totals, parse_line
from crmlite.domain.quotes import allowed_actions
from crmlite.services.quote_settings import read_accept_settings, save_accept_settings
from crmlite.services.quotes import LineDraft, QuoteDraft, QuoteService, line_inputs
from crmlite.web.keys import SESSIONS
from crmlite.web.quote_schemas import (
    AcceptIn,
    AcceptOut,
    LineAmountsOut,
    LineOut,
    PreviewIn,
    QuoteIn,
    QuoteOut,
    QuoteSettingsIn,
    QuoteSettingsOut,
    TaxGroupOut,
    TotalsOut,
)
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import IdPath
from crmlite.web.security import principal

routes = ApiRoutes("quotes", "Quotes on deals: line items, totals, versions, acceptance")

NOT_YOURS = {404: "No such quote, or its deal is not yours"}
STATE = {409: "The quote's status does not allow this (quote-state), or it was revised already"}


def line_out(line: QuoteLine) -> LineOut:
    return LineOut.model_validate(line)


def quote_out(service: QuoteService, quote: Quote, *, latest: bool) -> QuoteOut:
    status = service.status_of(quote)
    actions = sorted(allowed_actions(status)) if latest else []
    totals = compute_totals(
        line_inputs(quote.lines),
        quote.currency,
        tax_mode=TaxMode(quote.tax_mode),
        rounding=TaxRounding(quote.tax_rounding),
    )
    return QuoteOut(
        id=quote.id,
        deal_id=quote.deal_id,
        number=quote.number,
        version=quote.version,
        previous_id=quote.previous_id,
        status=status,
        actions=[str(action) for action in actions],
        latest=latest,
        currency=quote.currency,
        tax_mode=TaxMode(quote.tax_mode),
        tax_rounding=TaxRounding(quote.tax_rounding),
        locale=quote.locale,
        valid_until=quote.valid_until,
        notes=quote.notes,
        subtotal=quote.subtotal,
        discount=quote.discount,
        net=quote.net,
        tax=quote.tax,
        total=quote.total,
        taxes=[TaxGroupOut(rate=g.rate, base=g.base, tax=g.tax) for g in totals.taxes],
        lines=[line_out(line) for line in quote.lines],
        created_by_id=quote.created_by_id,
        created_at=quote.created_at,
        updated_at=quote.updated_at,
        sent_at=quote.sent_at,
        decided_at=quote.decided_at,
    )


def quote_draft(body: QuoteIn) -> QuoteDraft:
    return QuoteDraft(
        lines=[
            LineDraft(
                product_id=line.product_id,
                description=line.description,
                unit=line.unit,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_percent=line.discount_percent,
                tax_rate=line.tax_rate,
            )
            for line in body.lines
        ],
        currency=body.currency.upper() if body.currency else None,
        tax_mode=body.tax_mode,
        tax_rounding=body.tax_rounding,
        locale=body.locale,
        valid_until=body.valid_until,
        notes=body.notes,
    )


async def _latest_out(service: QuoteService, quote: Quote) -> QuoteOut:
    return quote_out(service, quote, latest=await service.is_latest(quote))


@routes.get(
    r"/api/v1/deals/{id:\d+}/quotes",
    path_model=IdPath,
    response=list[QuoteOut],
    errors={404: "No such deal, or not yours"},
)
async def list_deal_quotes(request: web.Request, *, path: IdPath) -> list[QuoteOut]:
    """Every quote of the deal, every version, newest first."""
    async with request.app[SESSIONS]() as session:
        service = QuoteService(session, principal(request))
        quotes = await service.for_deal(path.id)
        newest: dict[str, int] = {}
        for quote in quotes:
            newest[quote.number] = max(newest.get(quote.number, 0), quote.version)
        return [quote_out(service, q, latest=newest[q.number] == q.version) for q in quotes]


@routes.post(
    r"/api/v1/deals/{id:\d+}/quotes",
    path_model=IdPath,
    body=QuoteIn,
    response=QuoteOut,
    status=201,
    errors={404: "No such deal, or not yours", 403: "Claim the deal first"},
)
async def create_quote(request: web.Request, *, path: IdPath, body: QuoteIn) -> QuoteOut:
    """A new draft quote on the deal (numbered Q-<year>-<n>); totals computed here."""
    async with request.app[SESSIONS].begin() as session:
        service = QuoteService(session, principal(request))
        quote = await service.create(path.id, quote_draft(body))
        return quote_out(service, quote, latest=True)


@routes.post("/api/v1/quotes/preview", body=PreviewIn, response=TotalsOut)
async def preview_quote_totals(request: web.Request, *, body: PreviewIn) -> TotalsOut:
    """The totals of lines as a quote would compute them, saving nothing (for editors)."""
    principal(request)
    inputs = [
        parse_line(
            line.quantity,
            line.unit_price,
            line.discount_percent,
            line.tax_rate,
            prefix=f"lines.{index}.",
        )
        for index, line in enumerate(body.lines)
    ]
    currency = body.currency.upper()
    totals = compute_totals(inputs, currency, tax_mode=body.tax_mode, rounding=body.tax_rounding)
    return TotalsOut(
        currency=currency,
        subtotal=totals.subtotal,
        discount=totals.discount,
        net=totals.net,
        tax=totals.tax,
        total=totals.total,
        taxes=[TaxGroupOut(rate=g.rate, base=g.base, tax=g.tax) for g in totals.taxes],
        lines=[LineAmountsOut.model_validate(line) for line in totals.lines],
    )


@routes.get(r"/api/v1/quotes/{id:\d+}", path_model=IdPath, response=QuoteOut, errors=NOT_YOURS)
async def get_quote(request: web.Request, *, path: IdPath) -> QuoteOut:
    """One quote version with its lines and totals."""
    async with request.app[SESSIONS]() as session:
        service = QuoteService(session, principal(request))
        quote, _deal = await service.get(path.id)
        return await _latest_out(service, quote)


@routes.put(
    r"/api/v1/quotes/{id:\d+}",
    path_model=IdPath,
    body=QuoteIn,
    response=QuoteOut,
    errors={**NOT_YOURS, **STATE, 403: "Claim the deal first"},
)
async def update_quote(request: web.Request, *, path: IdPath, body: QuoteIn) -> QuoteOut:
    """Replace a draft's terms and lines (a sent quote is revised instead)."""
    async with request.app[SESSIONS].begin() as session:
        service = QuoteService(session, principal(request))
        quote = await service.update(path.id, quote_draft(body))
        return quote_out(service, quote, latest=True)


@routes.delete(
    r"/api/v1/quotes/{id:\d+}",
    path_model=IdPath,
    status=204,
    errors={**NOT_YOURS, **STATE, 403: "Claim the deal first"},
)
async def delete_quote(request: web.Request, *, path: IdPath) -> None:
    """Delete a draft."""
    async with request.app[SESSIONS].begin() as session:
        await QuoteService(session, principal(request)).delete(path.id)


@routes.post(
    r"/api/v1/quotes/{id:\d+}/send",
    path_model=IdPath,
    response=QuoteOut,
    errors={**NOT_YOURS, **STATE, 422: "No lines, or valid_until has passed"},
)
async def send_quote(request: web.Request, *, path: IdPath) -> QuoteOut:
    """Mark a draft as sent to the customer: from now on it is read-only."""
    async with request.app[SESSIONS].begin() as session:
        service = QuoteService(session, principal(request))
        return quote_out(service, await service.send(path.id), latest=True)


@routes.post(
    r"/api/v1/quotes/{id:\d+}/reject",
    path_model=IdPath,
    response=QuoteOut,
    errors={**NOT_YOURS, **STATE},
)
async def reject_quote(request: web.Request, *, path: IdPath) -> QuoteOut:
    """The customer said no."""
    async with request.app[SESSIONS].begin() as session:
        service = QuoteService(session, principal(request))
        return quote_out(service, await service.reject(path.id), latest=True)


@routes.post(
    r"/api/v1/quotes/{id:\d+}/accept",
    path_model=IdPath,
    body=AcceptIn,
    response=AcceptOut,
    errors={**NOT_YOURS, **STATE, 422: "The stage is not in the deal's pipeline"},
)
async def accept_quote(request: web.Request, *, path: IdPath, body: AcceptIn) -> AcceptOut:
    """The customer said yes: the deal takes the total and moves to the configured stage."""
    async with request.app[SESSIONS].begin() as session:
        service = QuoteService(session, principal(request))
        result = await service.accept(
            path.id, stage_id=body.stage_id, set_deal_amount=body.set_deal_amount
        )
        return AcceptOut(
            quote=quote_out(service, result.quote, latest=True),
            deal_stage_id=result.deal_moved_to,
            deal_amount_set=result.deal_amount_set,
        )


@routes.post(
    r"/api/v1/quotes/{id:\d+}/revise",
    path_model=IdPath,
    response=QuoteOut,
    status=201,
    errors={**NOT_YOURS, **STATE},
)
async def revise_quote(request: web.Request, *, path: IdPath) -> QuoteOut:
    """A new draft version of a sent, rejected or expired quote; the old version is kept."""
    async with request.app[SESSIONS].begin() as session:
        service = QuoteService(session, principal(request))
        return quote_out(service, await service.revise(path.id), latest=True)


@routes.get(
    r"/api/v1/pipelines/{id:\d+}/quote-settings",
    path_model=IdPath,
    response=QuoteSettingsOut,
    errors={404: "No such pipeline"},
)
async def get_quote_settings(request: web.Request, *, path: IdPath) -> QuoteSettingsOut:
    """What accepting a quote does to a deal of this pipeline."""
    principal(request)
    async with request.app[SESSIONS]() as session:
        found = await read_accept_settings(session, path.id)
    return QuoteSettingsOut(
        pipeline_id=found.pipeline_id,
        accept_stage_id=found.accept_stage_id,
        set_deal_amount=found.set_deal_amount,
    )


@routes.put(
    r"/api/v1/pipelines/{id:\d+}/quote-settings",
    path_model=IdPath,
    body=QuoteSettingsIn,
    response=QuoteSettingsOut,
    errors={404: "No such pipeline", 403: "Heads and admins only (or no CSRF token)"},
)
async def put_quote_settings(
    request: web.Request, *, path: IdPath, body: QuoteSettingsIn
) -> QuoteSettingsOut:
    """Choose the stage an accepted quote moves its deal to, and whether it sets the amount."""
    async with request.app[SESSIONS].begin() as session:
        saved = await save_accept_settings(
            session,
            principal(request),
            path.id,
            accept_stage_id=body.accept_stage_id,
            set_deal_amount=body.set_deal_amount,
        )
    return QuoteSettingsOut(
        pipeline_id=saved.pipeline_id,
        accept_stage_id=saved.accept_stage_id,
        set_deal_amount=saved.set_deal_amount,
    )
