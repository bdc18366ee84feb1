"""Phone numbers as people type them, normalized to E.164 or kept apart as internal extensions."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from crmlite.domain.errors import Conflict, InvalidInput

DEFAULT_EXTENSION_PATTERN = r"^\d{2,5}$"
MAX_RAW_LENGTH = 64
# Separators people type inside numbers; stripped before the extension check.
_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")


class DuplicatePhone(Conflict):
    """The number already belongs to another contact (``details`` names it)."""

    slug = "duplicate-phone"


class PhoneKind(enum.StrEnum):
    E164 = "e164"
    EXTENSION = "extension"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class PhoneRules:
    """How numbers are read: the region of national numbers and what an internal extension is."""

    default_region: str = "RU"
    extension_pattern: str = DEFAULT_EXTENSION_PATTERN


@dataclass(frozen=True, slots=True)
class NormalizedPhone:
    raw: str
    normalized: str
    kind: PhoneKind


@lru_cache(maxsize=16)
def _extension_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def normalize_phone(raw: str, rules: PhoneRules, *, field: str = "phone") -> NormalizedPhone:
    """Read ``raw`` as an extension, an E.164 number, or (when merely odd) a bare digit string."""
    text = raw.strip()
    if not text:
        raise InvalidInput("phone number is empty", fields={field: "must not be empty"})
    if len(text) > MAX_RAW_LENGTH:
        raise InvalidInput(
            "phone number is too long", fields={field: f"at most {MAX_RAW_LENGTH} characters"}
        )
    read = _read_compact(_SEPARATORS.sub("", text), rules.default_region, rules.extension_pattern)
    if read is None:
        raise InvalidInput(f"not a phone number: {text!r}", fields={field: "not a phone number"})
    return NormalizedPhone(raw=text, normalized=read[0], kind=read[1])


# An import reads the same numbers in many spellings and rows (an office's switchboard, a
# retyped customer); phonenumbers' parse is most of a row's cost, so each compact form is read once.
@lru_cache(maxsize=1 << 16)
def _read_compact(compact: str, region: str, extension: str) -> tuple[str, PhoneKind] | None:
    """The normalized form and kind of a number without separators; None when it is not one."""
    if _extension_regex(extension).fullmatch(compact):
        return compact, PhoneKind.EXTENSION
    if compact.startswith("00"):
        # The ITU international prefix; phonenumbers only knows each region's own IDD.
        compact = "+" + compact[2:]
    if (e164 := _already_e164(compact)) is not None:
        return e164, PhoneKind.E164
    return _parse_compact(compact, region)


def _parse_compact(compact: str, region: str) -> tuple[str, PhoneKind] | None:
    """What phonenumbers makes of a compact number: the authority the fast path must agree with."""
    try:
        parsed = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(
            parsed, phonenumbers.PhoneNumberFormat.E164
        ), PhoneKind.E164
    digits = re.sub(r"\D", "", compact)
    if len(digits) < 3:
        return None
    # Service numbers and oddities stay findable by their digits, marked as such.
    return digits, PhoneKind.OTHER


_E164_SHAPE = re.compile(r"\+[1-9][0-9]{5,14}")
_MAX_COUNTRY_CODE_DIGITS = 3


def _already_e164(compact: str) -> str | None:
    """``compact`` itself when phonenumbers would read it back unchanged as E.164, else None.

    Half of what people type is already "+<country code><number>"; for such a number
    phonenumbers' parse takes the country code as the shortest known prefix, strips a national
    prefix only where the country's ``national_prefix_for_parsing`` matches the rest, and keeps
    it when its length is possible. The same steps here, on phonenumbers' own tables, without the
    parse's search for text around a number (the caller removed separators). Anything else
    (a national prefix after the country code, a leading zero, an odd length) is left to
    phonenumbers: None.
    """
    if _E164_SHAPE.fullmatch(compact) is None:
        return None
    digits = compact[1:]
    for size in range(1, _MAX_COUNTRY_CODE_DIGITS + 1):
        country_code = int(digits[:size])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if len(national) < 2 or national[0] == "0":
        return None
    metadata = _metadata_of(country_code)
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    if prefix and re.match(prefix, national):
        return None
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    return compact if phonenumbers.is_possible_number(number) else None


@lru_cache(maxsize=512)
def _metadata_of(country_code: int) -> phonenumbers.PhoneMetadata | None:
    region = phonenumbers.region_code_for_country_code(country_code)
    return phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)


def phone_lookup_key(raw: str, rules: PhoneRules) -> str | None:
    """Return the normalized key for ``raw``, or None when it cannot be a phone (for searches)."""
    try:
        return normalize_phone(raw, rules).normalized
    except InvalidInput:
        return None


@lru_cache(maxsize=4096)
def display_phone(normalized: str, region: str) -> str:
    """How people read a stored number: national format at home, international abroad.

    ``normalized`` is what the CRM stores (E.164, an extension, or bare digits); anything but an
    E.164 number is shown as it is. The data keeps E.164: this is for titles and screens.
    """
    if not normalized.startswith("+"):
        return normalized
    try:
        parsed = phonenumbers.parse(normalized)
    except phonenumbers.NumberParseException:
        return normalized
    home = phonenumbers.region_code_for_number(parsed) == region.upper()
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if home
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(parsed, style)


def looks_like_number(text: str) -> bool:
    """True when ``text`` is a phone number rather than a person's name (``+7 916...``)."""
    compact = _SEPARATORS.sub("", text.strip())
    return bool(compact) and compact.lstrip("+").isdigit()
