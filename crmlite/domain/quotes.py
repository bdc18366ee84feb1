"""A quote's life: draft, sent, then accepted, rejected or expired; numbers and revisions.

A draft is edited freely. Sending freezes it: a sent quote is never changed again, because the
customer holds a copy. Changing a sent (or rejected, or expired) quote makes a revision: a new
draft with the same number and the next version, while the old version is kept, read-only, as
``superseded``. A sent quote past its valid-until date reads as ``expired`` without anyone
writing it (``effective_status``), so no job has to run for a quote to stop being acceptable.
"""

from __future__ import annotations

import datetime as dt
import enum
import re

from crmlite.domain.errors import Conflict

LOCALES = ("en", "ru", "zh-CN", "fa")
_NUMBER = re.compile(r"^Q-(\d{4})-(\d{4,})$")


class QuoteStatus(enum.StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class QuoteAction(enum.StrEnum):
    EDIT = "edit"
    SEND = "send"
    ACCEPT = "accept"
    REJECT = "reject"
    REVISE = "revise"
    DELETE = "delete"


# What each (effective) status allows; everything else is refused with QuoteStateConflict.
_ALLOWED: dict[QuoteStatus, frozenset[QuoteAction]] = {
    QuoteStatus.DRAFT: frozenset({QuoteAction.EDIT, QuoteAction.SEND, QuoteAction.DELETE}),
    QuoteStatus.SENT: frozenset({QuoteAction.ACCEPT, QuoteAction.REJECT, QuoteAction.REVISE}),
    QuoteStatus.REJECTED: frozenset({QuoteAction.REVISE}),
    QuoteStatus.EXPIRED: frozenset({QuoteAction.REVISE}),
    QuoteStatus.ACCEPTED: frozenset(),
    QuoteStatus.SUPERSEDED: frozenset(),
}


class QuoteStateConflict(Conflict):
    """The quote's status does not allow this (a sent quote edited, an expired one accepted)."""

    slug = "quote-state"


def effective_status(
    stored: QuoteStatus | str, valid_until: dt.date | None, today: dt.date
) -> QuoteStatus:
    """The status as users see it: a sent quote past its valid-until date is expired."""
    status = QuoteStatus(stored)
    if status is QuoteStatus.SENT and valid_until is not None and valid_until < today:
        return QuoteStatus.EXPIRED
    return status


def allowed_actions(status: QuoteStatus) -> frozenset[QuoteAction]:
    return _ALLOWED[status]


def check_action(quote_id: int, status: QuoteStatus, action: QuoteAction) -> None:
    """Refuse ``action`` on a quote in ``status`` with a message saying what is possible."""
    if action in _ALLOWED[status]:
        return
    possible = sorted(_ALLOWED[status])
    hint = f"it can be: {', '.join(possible)}" if possible else "it is final"
    raise QuoteStateConflict(
        f"a {status} quote cannot be {_PAST[action]}; {hint}",
        details={"quote_id": quote_id, "status": str(status), "action": str(action)},
    )


_PAST = {
    QuoteAction.EDIT: "edited",
    QuoteAction.SEND: "sent",
    QuoteAction.ACCEPT: "accepted",
    QuoteAction.REJECT: "rejected",
    QuoteAction.REVISE: "revised",
    QuoteAction.DELETE: "deleted",
}


def quote_number(year: int, sequence: int) -> str:
    """The printed number: ``Q-2026-0001``, four digits at least, counting per year."""
    return f"Q-{year:04d}-{sequence:04d}"


def parse_quote_number(number: str) -> tuple[int, int] | None:
    """(year, sequence) of a quote number, or None when it is not one."""
    match = _NUMBER.fullmatch(number)
    return (int(match.group(1)), int(match.group(2))) if match else None


def pick_locale(wish: str | None, fallback: str = "en") -> str:
    """The supported locale closest to ``wish`` (``zh`` -> ``zh-CN``, ``fa-IR`` -> ``fa``)."""
    if wish:
        lower = wish.lower()
        for code in LOCALES:
            if code.lower() == lower:
                return code
        base = lower.split("-")[0]
        for code in LOCALES:
            if code.lower().split("-")[0] == base:
                return code
    return fallback if fallback in LOCALES else "en"


def is_right_to_left(locale: str) -> bool:
    return locale.split("-")[0] in {"fa", "ar", "he", "ur"}
