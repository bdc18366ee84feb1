"""Phone normalization: typed forms to E.164, extensions apart, nonsense refused."""

from __future__ import annotations

import pytest

from crmlite.domain.errors import InvalidInput
from crmlite.domain.phones import PhoneKind, PhoneRules, normalize_phone

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
