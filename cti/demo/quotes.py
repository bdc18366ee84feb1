"""The demo's product catalogue and quotes: a car dealer's price list and offers on open deals.

Products go in through the catalogue service and quotes through the quote service, so numbers,
totals and versions are what live use makes: some drafts, most sent (one of them revised), in
the install's language. Accepting a quote in the default pipeline moves its deal to Won.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Pipeline, Stage
from crmlite.domain.clock import Clock
from crmlite.domain.principal import SYSTEM
from crmlite.domain.products import check_product
from crmlite.domain.quotes import pick_locale
from crmlite.services.products import ProductService
from crmlite.services.quote_settings import save_accept_settings
from crmlite.services.quotes import LineDraft, QuoteDraft, QuoteService

# SKU, unit price (RUB), VAT %, then the name and unit in en, ru, zh-CN, fa.
_CATALOGUE: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "TYR-W16",
        "7450.00",
        "20",
        (
            ("Winter tyre R16", "pcs"),
            ("Шина зимняя R16", "шт"),
            ("冬季轮胎 R16", "个"),
            ("لاستیک زمستانی R16", "عدد"),
        ),
    ),
    (
        "MAT-SET",
        "3900.00",
        "20",
        (
            ("Floor mats, set", "set"),
            ("Коврики, комплект", "компл"),
            ("脚垫（套）", "套"),
            ("کفپوش، یک دست", "دست"),
        ),
    ),
    (
        "SRV-TO1",
        "12500.00",
        "20",
        (("First service", "job"), ("ТО-1", "усл"), ("首次保养", "次"), ("سرویس اول", "خدمت")),
    ),
    (
        "SRV-FIT",
        "1500.00",
        "20",
        (
            ("Tyre fitting", "job"),
            ("Шиномонтаж", "усл"),
            ("轮胎安装", "次"),
            ("نصب لاستیک", "خدمت"),
        ),
    ),
    (
        "ACC-CAM",
        "8990.00",
        "20",
        (
            ("Dashboard camera", "pcs"),
            ("Видеорегистратор", "шт"),
            ("行车记录仪", "个"),
            ("دوربین خودرو", "عدد"),
        ),
    ),
    (
        "WAR-EXT",
        "45000.00",
        "0",
        (
            ("Extended warranty, 2 years", "pcs"),
            ("Продлённая гарантия, 2 года", "шт"),
            ("延长保修两年", "份"),
            ("گارانتی تمدیدی دو ساله", "عدد"),
        ),
    ),
)
_LANGUAGES = ("en", "ru", "zh-CN", "fa")
QUOTED_DEALS = 14


async def seed_quotes(
    db: AsyncSession,
    rng: random.Random,
    now: dt.datetime,
    open_deal_ids: Sequence[int],
    *,
    locale: str,
) -> int:
    """Seed the catalogue and quotes on some of ``open_deal_ids``; how many quotes were made."""
    language = _LANGUAGES.index(pick_locale(locale))
    products = ProductService(db, SYSTEM, clock=_fixed(now))
    ids = []
    for sku, price, rate, names in _CATALOGUE:
        name, unit = names[language]
        fields = check_product(
            name=name, sku=sku, unit=unit, unit_price=price, currency="RUB", tax_rate=rate,
            active=True,
        )  # fmt: skip
        ids.append((await products.create(fields)).id)
    await _accept_to_won(db)
    made = 0
    for index, deal_id in enumerate(sorted(rng.sample(list(open_deal_ids), QUOTED_DEALS))):
        when = now - dt.timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 8))
        service = QuoteService(db, SYSTEM, clock=_fixed(when))
        lines = [
            LineDraft(
                product_id=product_id,
                quantity=str(rng.choice((1, 1, 2, 4))),
                discount_percent=rng.choice(("0", "0", "5", "10")),
            )
            for product_id in rng.sample(ids, rng.randint(1, 3))
        ]
        quote = await service.create(
            deal_id,
            QuoteDraft(lines=lines, locale=locale, valid_until=when.date() + dt.timedelta(30)),
        )
        made += 1
        if index % 4 == 0:
            continue  # a draft still being worked on
        await service.send(quote.id)
        if index % 5 == 1:
            revised = await service.revise(quote.id)
            await QuoteService(db, SYSTEM, clock=_fixed(now)).send(revised.id)
            made += 1
    return made


def _fixed(moment: dt.datetime) -> Clock:
    return lambda: moment


async def _accept_to_won(db: AsyncSession) -> None:
    """In the default pipeline an accepted quote wins its deal."""
    found = (
        await db.execute(
            select(Pipeline.id, Stage.id)
            .join(Stage, Stage.pipeline_id == Pipeline.id)
            .where(Pipeline.is_default.is_(True), Stage.kind == "won")
            .order_by(Stage.position)
        )
    ).first()
    if found is not None:
        await save_accept_settings(
            db, SYSTEM, found[0], accept_stage_id=found[1], set_deal_amount=True
        )
