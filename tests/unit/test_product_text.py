"""The product's own strings in every language, and numbers shown the way people read them."""

from __future__ import annotations

import pytest

from crmlite.domain.phones import display_phone, looks_like_number
from crmlite.domain.product_text import (
    CALLER,
    CATALOG,
    LOCALES,
    STANDARD_STAGE_KEYS,
    fill_caller,
    product_text,
    seeded_names,
)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_language_has_every_string(locale: str) -> None:
    text = product_text(locale)
    for template in (text.call_deal_title, text.call_back_task, text.missed_call_task):
        assert template.count(CALLER) == 1
        assert fill_caller(template, "王伟") != template
    assert len(text.standard_stages) == len(STANDARD_STAGE_KEYS)
    assert len(set(text.standard_stages)) == len(text.standard_stages)
    assert text.standard_pipeline
    assert text.unknown_caller


def test_languages_differ_and_english_is_the_fallback() -> None:
    titles = {CATALOG[locale].call_deal_title for locale in LOCALES}
    assert len(titles) == len(LOCALES)
    assert product_text("de").call_deal_title == "Call from {caller}"
    assert fill_caller(product_text("zh-CN").call_deal_title, "王伟") == "王伟 的来电"
    assert product_text("fa").stage("unsorted") == "دسته‌بندی‌نشده"
    assert product_text("ru").stage("unsorted") == "Неразобранное"


def test_a_seed_name_belongs_to_one_slot_only() -> None:
    slots = [seeded_names(i) for i in range(len(STANDARD_STAGE_KEYS))]
    for index, names in enumerate(slots):
        for other in slots[index + 1 :]:
            assert not names & other


def test_fill_caller_reads_no_other_braces() -> None:
    assert fill_caller("Call {caller} about {price}", "Ann") == "Call Ann about {price}"


@pytest.mark.parametrize(
    ("number", "region", "shown"),
    [
        ("+79161234567", "RU", "8 (916) 123-45-67"),
        ("+79161234567", "CN", "+7 916 123-45-67"),
        ("+8613800138000", "CN", "138 0013 8000"),
        ("+8613800138000", "RU", "+86 138 0013 8000"),
        ("+982112345678", "IR", "021 1234 5678"),
        ("+442071234567", "ru", "+44 20 7123 4567"),
        ("101", "RU", "101"),
        ("88005553535", "RU", "88005553535"),
    ],
)
def test_display_phone(number: str, region: str, shown: str) -> None:
    assert display_phone(number, region) == shown


@pytest.mark.parametrize(
    ("text", "number"),
    [("+7 916 123-45-67", True), ("8 (916) 123-45-67", True), ("Vera", False), ("王伟", False),
     ("", False), ("Room 101", False)],
)  # fmt: skip
def test_looks_like_number(text: str, number: bool) -> None:
    assert looks_like_number(text) is number
