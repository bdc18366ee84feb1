"""The printable quote: an HTML page for the browser's print, and the same page as a PDF."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from crmlite.db.models import User
from crmlite.domain.quote_totals import TaxMode, TaxRounding, compute_totals
from crmlite.services.quotes import QuoteService, line_inputs
from crmlite.web.keys import SESSIONS
from crmlite.web.quote_document import PrintedQuote, render_quote_html
from crmlite.web.quote_pdf import render_pdf
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import IdPath
from crmlite.web.security import principal

routes = ApiRoutes("quotes", "Quotes on deals: line items, totals, versions, acceptance")

HTML_TYPE = "text/html"
PDF_TYPE = "application/pdf"
# The page's own styles are inline; its one script (the print button) comes from /static.
_PRINT_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


async def _printed(request: web.Request, quote_id: int) -> PrintedQuote:
    async with request.app[SESSIONS]() as session:
        service = QuoteService(session, principal(request))
        quote, deal = await service.get(quote_id)
        seller = None
        if deal.owner_id is not None:
            seller = await session.scalar(select(User.display_name).where(User.id == deal.owner_id))
        totals = compute_totals(
            line_inputs(quote.lines),
            quote.currency,
            tax_mode=TaxMode(quote.tax_mode),
            rounding=TaxRounding(quote.tax_rounding),
        )
        return PrintedQuote(
            quote=quote,
            status=service.status_of(quote),
            taxes=totals.taxes,
            deal_title=deal.title,
            customer=deal.contact.name if deal.contact is not None else None,
            company=deal.contact.company if deal.contact is not None else None,
            seller=seller,
            today=service.today(),
        )


@routes.get(
    r"/api/v1/quotes/{id:\d+}/print",
    path_model=IdPath,
    files=(HTML_TYPE,),
    errors={404: "No such quote, or its deal is not yours"},
)
async def print_quote(request: web.Request, *, path: IdPath) -> web.Response:
    """The quote as a page styled for print, in its language (open it and print)."""
    printed = await _printed(request, path.id)
    html = render_quote_html(printed, pdf_url=f"/api/v1/quotes/{path.id}/pdf")
    return web.Response(text=html, content_type=HTML_TYPE, charset="utf-8", headers=_PRINT_HEADERS)


@routes.get(
    r"/api/v1/quotes/{id:\d+}/pdf",
    path_model=IdPath,
    files=(PDF_TYPE,),
    errors={
        404: "No such quote, or its deal is not yours",
        503: "This server cannot make PDFs (pdf-unavailable): the detail says what is missing",
    },
)
async def quote_pdf(request: web.Request, *, path: IdPath) -> web.Response:
    """The quote as a PDF file, in its language."""
    printed = await _printed(request, path.id)
    quote = printed.quote
    pdf = await render_pdf(request.app, render_quote_html(printed), quote.locale)
    name = f"{quote.number}-v{quote.version}.pdf"
    return web.Response(
        body=pdf,
        content_type=PDF_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
