"""Phone normalization: typed forms to E.164, extensions apart, nonsense refused."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmlite.domain.errors import InvalidInput
from crmlite.domain.phones import (
    DEFAULT_EXTENSION_PATTERN,
    PhoneKind,
    PhoneRules,
    _already_e164,
    _parse_compact,
    normalize_phone,
)

RU = PhoneRules(default_region="RU")


@pytest.mark.parametrize(
    ("raw", "rules", "normalized", "kind"),
    [
        ("+7 495 123-45-67", RU, "+74951234567", PhoneKind.E164),
        ("8 (495) 123 45 67", RU, "+74951234567", PhoneKind.E164),
        ("84951234567", RU, "+74951234567", PhoneKind.E164),
        ("4951234567", RU, "+74951234567", PhoneKind.E164),
        ("  +7 (999) 123-45-67 ", RU, "+79991234567", PhoneKind.E164),
        ("0098 21 1234 5678", RU, "+982112345678", PhoneKind.E164),
        ("+86 10 1234 5678", RU, "+861012345678", PhoneKind.E164),
        ("010 1234 5678", PhoneRules(default_region="CN"), "+861012345678", PhoneKind.E164),
        ("101", RU, "101", PhoneKind.EXTENSION),
        ("10-1", RU, "101", PhoneKind.EXTENSION),
        ("12345", RU, "12345", PhoneKind.EXTENSION),
        ("123456", PhoneRules("RU", r"^\d{6}$"), "123456", PhoneKind.EXTENSION),
        ("112", PhoneRules("RU", r"^1\d{2}$"), "112", PhoneKind.EXTENSION),
        ("0112", PhoneRules("RU", r"^9$"), "0112", PhoneKind.OTHER),
    ],
)
def test_normalize(raw: str, rules: PhoneRules, normalized: str, kind: PhoneKind) -> None:
    number = normalize_phone(raw, rules)
    assert (number.normalized, number.kind) == (normalized, kind)
    assert number.raw == raw.strip()


@pytest.mark.parametrize("raw", ["", "   ", "abc", "+", "1" * 70, "7"])
def test_nonsense_is_invalid_input_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_phone(raw, RU, field="phones.0.raw")
    assert list(caught.value.fields) == ["phones.0.raw"]


def _shapes() -> list[str]:
    """ "+<code><number>" for every country code, every length, every first digit (and its 8/0)."""
    numbers = []
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for length in range(1, 15):
            for first in "0123456789":
                for rest in ("", "8", "0"):
                    national = (first + rest + "4" * length)[:length]
                    numbers.append(f"+{code}{national}")
    return numbers


def test_the_e164_fast_path_agrees_with_phonenumbers_on_every_country_code() -> None:
    taken = 0
    for compact in _shapes():
        fast = _already_e164(compact)
        if fast is not None:
            taken += 1
            assert (fast, PhoneKind.E164) == _parse_compact(compact, "RU"), compact
    # It must be a fast path at all: most well-formed international numbers take it.
    assert taken > 10_000
    assert _already_e164("+79031234567") == "+79031234567"


@given(
    code=st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    national=st.text(alphabet="0123456789", min_size=0, max_size=16),
    region=st.sampled_from(["RU", "CN", "IR", "US", "DE", "IT"]),
)
@settings(max_examples=3000, deadline=None)
def test_a_number_reads_the_same_with_or_without_the_fast_path(
    code: int, national: str, region: str
) -> None:
    compact = f"+{code}{national}"
    fast = _already_e164(compact)
    assert fast is None or (fast, PhoneKind.E164) == _parse_compact(compact, region)
    rules = PhoneRules(default_region=region)
    for typed in (compact, f"00{code}{national}", f"+{code} ({national[:3]}) {national[3:]}"):
        try:
            read = normalize_phone(typed, rules)
        except InvalidInput:
            assert _parse_compact(compact, region) is None
            continue
        if re.fullmatch(DEFAULT_EXTENSION_PATTERN, typed):
            assert read.kind is PhoneKind.EXTENSION
            continue
        assert (read.normalized, read.kind) == _parse_compact(compact, region), typed
