"""The demo seeds a price list and quotes that read back as the quote service computes them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from crmlite.db.quote_models import Product, Quote, QuotePipelineSettings
from crmlite.domain.quote_totals import TaxMode, TaxRounding, compute_totals
from crmlite.services.quotes import line_inputs
from cti.demo import seed_demo

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


async def test_the_demo_has_a_catalogue_and_quotes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed_demo(sessions, locale="zh-CN", now=NOW)
    async with sessions() as session:
        names = set((await session.scalars(select(Product.name))).all())
        assert "冬季轮胎 R16" in names
        assert len(names) == 6
        quotes = (await session.scalars(select(Quote).options(selectinload(Quote.lines)))).all()
        statuses = {q.status for q in quotes}
        assert {"draft", "sent", "superseded"} <= statuses
        assert all(q.number.startswith("Q-2026-") for q in quotes)
        assert {q.locale for q in quotes} == {"zh-CN"}
        revised = [q for q in quotes if q.version == 2]
        assert revised
        assert all(q.previous_id is not None for q in revised)
        assert await session.scalar(select(func.count()).select_from(QuotePipelineSettings)) == 1
        for quote in quotes:
            totals = compute_totals(
                line_inputs(quote.lines),
                quote.currency,
                tax_mode=TaxMode(quote.tax_mode),
                rounding=TaxRounding(quote.tax_rounding),
            )
            assert totals.total == quote.total
