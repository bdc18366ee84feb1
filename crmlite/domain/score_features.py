"""What a lead score looks at: features of a contact or deal, read from its calls as of a moment.

Everything is computed "as of" a time: for an open deal that is now, for a closed deal the moment
it closed, so a model trained on closed deals never sees what happened after the outcome was known
(a thank-you call after a win, a last call after a loss). Calls that started at or after ``as_of``
do not exist for the features.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import phonenumbers

RECENT_DAYS = 7  # "inbound calls in the last week"

# Every feature a rule or the learned model may use, and whether it is a category (matched by
# value) or a number (compared, or counted per unit).
CATEGORY_FEATURES = ("source", "campaign", "region")
NUMBER_FEATURES = (
    "amount",
    "inbound_calls_7d",
    "inbound_calls",
    "answered_calls",
    "missed_calls",
    "talk_time_min",
    "days_since_contact",
    "unanswered_callbacks",
    "first_answer_h",
)
FEATURES = CATEGORY_FEATURES + NUMBER_FEATURES


@dataclass(frozen=True, slots=True)
class CallFact:
    """One call as the score sees it (a call activity of the contact or the deal)."""

    direction: str  # inbound, outbound, internal
    started_at: dt.datetime
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What is stored about a lead, before any reading of it."""

    source: str | None = None  # call, manual, import
    campaign: str | None = None  # the first campaign's name
    phone_e164: str | None = None
    amount: float = 0.0
    calls: tuple[CallFact, ...] = ()
    last_note_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class LeadFeatures:
    """The features of one lead as of one moment. ``None`` means "never" (no answer yet...)."""

    source: str | None = None
    campaign: str | None = None
    region: str | None = None
    amount: float = 0.0
    inbound_calls_7d: int = 0
    inbound_calls: int = 0
    answered_calls: int = 0
    missed_calls: int = 0
    talk_time_min: float = 0.0
    days_since_contact: float | None = None
    unanswered_callbacks: int = 0
    first_answer_h: float | None = None

    def get(self, name: str) -> str | float | None:
        """The feature called ``name``."""
        value: str | float | None = getattr(self, name)
        return value


# Region by number prefix: the country code and area code are both within a number's first
# digits, and working them out (phonenumbers' metadata) costs far more than scoring a lead.
_PREFIX_DIGITS = 9  # "+" and 8 digits: a 3-digit country code and a 5-digit area code
_REGIONS: dict[str, str | None] = {}
_MAX_REGIONS = 100_000


def phone_region(e164: str | None) -> str | None:
    """``RU-495``: the country and, where the plan has one, the area code of an E.164 number."""
    if not e164 or not e164.startswith("+"):
        return None
    prefix = e164[:_PREFIX_DIGITS]
    if prefix in _REGIONS:
        return _REGIONS[prefix]
    region = _read_region(e164)
    if len(_REGIONS) >= _MAX_REGIONS:
        _REGIONS.clear()
    _REGIONS[prefix] = region
    return region


def _read_region(e164: str) -> str | None:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    country = phonenumbers.region_code_for_number(number)
    if not country or country == "ZZ":
        return None
    national = phonenumbers.national_significant_number(number)
    area_length = phonenumbers.length_of_geographical_area_code(number)
    if area_length == 0:
        area_length = phonenumbers.length_of_national_destination_code(number)
    return f"{country}-{national[:area_length]}" if area_length else country


def extract_features(facts: LeadFacts, as_of: dt.datetime) -> LeadFeatures:
    """Read ``facts`` as they stood just before ``as_of`` (later calls are ignored)."""
    calls = sorted(
        (c for c in facts.calls if c.started_at < as_of and c.direction != "internal"),
        key=lambda c: c.started_at,
    )
    recent = as_of - dt.timedelta(days=RECENT_DAYS)
    inbound = [c for c in calls if c.direction == "inbound"]
    answered = [c for c in calls if _answered(c, as_of)]
    talk_s = sum(_talk_s(c, as_of) for c in answered)
    # A contact is a conversation, a call we placed, or a note someone wrote.
    touches = [c.started_at for c in calls if c.direction == "outbound" or _answered(c, as_of)]
    if facts.last_note_at is not None and facts.last_note_at < as_of:
        touches.append(facts.last_note_at)
    last_touch = max(touches, default=None)
    first_answer = None
    if inbound:
        answers = [
            c.answered_at for c in answered if c.answered_at is not None
        ]  # the first conversation after the first inbound call
        later = [a for a in answers if a >= inbound[0].started_at]
        if later:
            first_answer = (min(later) - inbound[0].started_at).total_seconds() / 3600
    return LeadFeatures(
        source=facts.source,
        campaign=facts.campaign,
        region=phone_region(facts.phone_e164),
        amount=facts.amount,
        inbound_calls_7d=sum(1 for c in inbound if c.started_at >= recent),
        inbound_calls=len(inbound),
        answered_calls=len(answered),
        missed_calls=sum(1 for c in inbound if not _answered(c, as_of)),
        talk_time_min=round(talk_s / 60, 2),
        days_since_contact=(
            None if last_touch is None else round((as_of - last_touch).total_seconds() / 86400, 2)
        ),
        unanswered_callbacks=_unanswered_callbacks(calls, as_of),
        first_answer_h=None if first_answer is None else round(first_answer, 2),
    )


def _answered(call: CallFact, as_of: dt.datetime) -> bool:
    return call.answered_at is not None and call.answered_at < as_of


def _talk_s(call: CallFact, as_of: dt.datetime) -> float:
    if call.answered_at is None:
        return 0.0
    end = min(call.ended_at, as_of) if call.ended_at is not None else call.answered_at
    return max(0.0, (end - call.answered_at).total_seconds())


def _unanswered_callbacks(calls: list[CallFact], as_of: dt.datetime) -> int:
    """Missed inbound calls after the last follow-up (a call we placed, or a conversation)."""
    missed_since = 0
    for call in calls:
        if call.direction == "outbound" or _answered(call, as_of):
            missed_since = 0
        elif call.direction == "inbound":
            missed_since += 1
    return missed_since
