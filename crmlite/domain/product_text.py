"""The text the product itself writes into the CRM, in the install's language.

Deal titles of calls, call-back and missed-call task titles, and the names of the standard
pipeline that migration 0002 seeds. The browser app's own strings live in its JSON catalogs; these
are the few that end up stored as data, so they follow one install-wide locale
(``[i18n] default_locale``), not each viewer's. Terms follow the shared glossary (Unsorted is
未分类, Неразобранное, دسته‌بندی‌نشده).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Locale = Literal["en", "ru", "zh-CN", "fa"]
LOCALES: tuple[Locale, ...] = ("en", "ru", "zh-CN", "fa")
CALLER = "{caller}"
"""The placeholder a title template holds for who called (a name or a formatted number)."""

# The standard pipeline's stages in board order, by a key that never changes with the language.
STANDARD_STAGE_KEYS = (
    "unsorted",
    "qualification",
    "needs_analysis",
    "proposal",
    "negotiation",
    "won",
    "lost",
)


@dataclass(frozen=True, slots=True)
class ProductText:
    """One language's product-written strings; templates hold ``{caller}``."""

    call_deal_title: str
    call_back_task: str
    missed_call_task: str
    unknown_caller: str  # a caller with neither a name nor a number (withheld)
    standard_pipeline: str
    standard_stages: tuple[str, ...]  # in STANDARD_STAGE_KEYS order

    def stage(self, key: str) -> str:
        """The name of the standard stage ``key`` (``unsorted``, ``won``...)."""
        return self.standard_stages[STANDARD_STAGE_KEYS.index(key)]


CATALOG: dict[Locale, ProductText] = {
    "en": ProductText(
        call_deal_title="Call from {caller}",
        call_back_task="Call back {caller}",
        missed_call_task="Missed call from {caller}: call back",
        unknown_caller="a withheld number",
        standard_pipeline="Sales",
        standard_stages=(
            "Unsorted",
            "Qualification",
            "Needs analysis",
            "Proposal",
            "Negotiation",
            "Won",
            "Lost",
        ),
    ),
    "ru": ProductText(
        call_deal_title="Звонок от {caller}",
        call_back_task="Перезвонить: {caller}",
        missed_call_task="Пропущенный звонок от {caller}: перезвонить",
        unknown_caller="скрытого номера",
        standard_pipeline="Продажи",
        standard_stages=(
            "Неразобранное",
            "Квалификация",
            "Выявление потребностей",
            "Коммерческое предложение",
            "Переговоры",
            "Успешно",
            "Не реализовано",
        ),
    ),
    "zh-CN": ProductText(
        call_deal_title="{caller} 的来电",
        call_back_task="回拨 {caller}",
        missed_call_task="{caller} 的未接来电：请回拨",
        unknown_caller="隐藏号码",
        standard_pipeline="销售",
        standard_stages=("未分类", "资格确认", "需求分析", "方案报价", "商务谈判", "赢单", "输单"),
    ),
    "fa": ProductText(
        call_deal_title="تماس از {caller}",
        call_back_task="تماس مجدد با {caller}",
        missed_call_task="تماس بی‌پاسخ از {caller}: تماس مجدد",
        unknown_caller="شماره پنهان",
        standard_pipeline="فروش",
        standard_stages=(
            "دسته‌بندی‌نشده",
            "احراز صلاحیت",
            "نیازسنجی",
            "پیشنهاد قیمت",
            "مذاکره",
            "موفق",
            "ناموفق",
        ),
    ),
}


def product_text(locale: str) -> ProductText:
    """The strings of ``locale``; English for a locale the catalog does not hold."""
    for known, text in CATALOG.items():
        if known == locale:
            return text
    return CATALOG["en"]


def fill_caller(template: str, caller: str) -> str:
    """``template`` with ``{caller}`` replaced; other braces stay (titles are free text)."""
    return template.replace(CALLER, caller)


def seeded_names(index: int) -> frozenset[str]:
    """Every language's name of standard stage ``index``: the names the product wrote itself."""
    return frozenset(text.standard_stages[index] for text in CATALOG.values())


def seeded_pipeline_names() -> frozenset[str]:
    """Every language's name of the standard pipeline."""
    return frozenset(text.standard_pipeline for text in CATALOG.values())
