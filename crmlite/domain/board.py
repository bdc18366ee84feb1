"""The kanban board: column order, card order, per-column totals and the paging cursor.

Cards in a column are newest first (``created_at`` descending, then ``id`` descending): fresh
deals, such as those just made from a call, show on top where sellers look. Asked for, a column
is ordered by lead score instead (highest first, unscored last, newest first among equals), so a
seller calls the likeliest buyers first across every page, not only the cards already loaded.
``stage_entered_at`` drives "days in stage" on each card.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from crmlite.domain.errors import InvalidInput
from crmlite.domain.money import sum_by_currency

DEFAULT_CARDS_PER_COLUMN = 50
MAX_CARDS_PER_COLUMN = 200
_BAD_CURSOR = "not a cursor of this board"
UNSCORED = -1  # ranks a deal with no score yet below every score (0-100)


class CardOrder(StrEnum):
    NEWEST = "newest"
    SCORE = "score"


@dataclass(frozen=True, slots=True)
class CardKey:
    """A card's place in its column's order; also what a cursor remembers."""

    created_at: dt.datetime
    id: int
    score: int = UNSCORED  # read only in score order


@dataclass(frozen=True, slots=True)
class Card:
    id: int
    title: str
    amount: Decimal
    currency: str
    contact_id: int | None
    contact_name: str | None
    owner_id: int | None
    owner_name: str | None
    source: str
    created_at: dt.datetime
    stage_entered_at: dt.datetime
    days_in_stage: int
    version: int
    score: int | None = None  # the lead score (crmlite.services.scoring), None until scored


@dataclass(frozen=True, slots=True)
class ColumnTotals:
    count: int
    amounts: dict[str, Decimal]


@dataclass(slots=True)
class Column:
    stage_id: int
    name: str
    kind: str
    probability: int
    is_unsorted: bool
    position: int = 0
    count: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)
    cards: list[Card] = field(default_factory=list)
    next_cursor: str | None = None


def days_in_stage(entered_at: dt.datetime, now: dt.datetime) -> int:
    """Whole days since the deal entered its stage (never negative, e.g. under clock skew)."""
    return max(0, (now - entered_at).days)


def encode_cursor(key: CardKey, order: CardOrder = CardOrder.NEWEST) -> str:
    """An opaque token for "the cards after this one" in ``order``."""
    raw = f"{key.created_at.astimezone(dt.UTC).isoformat()}|{key.id}"
    if order is CardOrder.SCORE:
        raw = f"s{key.score}|{raw}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, order: CardOrder = CardOrder.NEWEST) -> CardKey:
    """Read a token made by ``encode_cursor`` for the same order; anything else is invalid input."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        score: int | None = UNSCORED
        if order is CardOrder.SCORE:
            rank, _, raw = raw.partition("|")
            score = int(rank[1:]) if rank[:1] == "s" else None
        stamp, _, ident = raw.partition("|")
        created_at = dt.datetime.fromisoformat(stamp)
        ident_number = int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as err:
        raise InvalidInput("invalid cursor", fields={"cursor": _BAD_CURSOR}) from err
    if created_at.tzinfo is None or score is None or not UNSCORED <= score <= 100:
        raise InvalidInput("invalid cursor", fields={"cursor": _BAD_CURSOR})
    return CardKey(created_at=created_at, id=ident_number, score=score)


def card_key(card: Card) -> CardKey:
    return CardKey(card.created_at, card.id, UNSCORED if card.score is None else card.score)


def card_sort_key(card: Card, order: CardOrder = CardOrder.NEWEST) -> tuple[int, dt.datetime, int]:
    """Sort key for a column's order (use with ``reverse=True``)."""
    key = card_key(card)
    return (key.score if order is CardOrder.SCORE else 0, key.created_at, key.id)


def page_cards(
    cards: Sequence[Card], limit: int, order: CardOrder = CardOrder.NEWEST
) -> tuple[list[Card], str | None]:
    """Cut ``limit`` cards (given ``limit + 1`` in order) and the cursor of the next page."""
    ordered = sorted(cards, key=lambda card: card_sort_key(card, order), reverse=True)
    page = ordered[:limit]
    more = len(ordered) > limit
    cursor = encode_cursor(card_key(page[-1]), order) if more and page else None
    return page, cursor


def column_totals(rows: Iterable[tuple[str, int, Decimal]]) -> ColumnTotals:
    """Fold (currency, count, sum) rows of one column into its totals; sums stay per currency."""
    rows = list(rows)
    return ColumnTotals(
        count=sum(count for _, count, _ in rows),
        amounts=sum_by_currency((currency, total) for currency, _, total in rows),
    )


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_CARDS_PER_COLUMN:
        raise InvalidInput(
            "invalid page size", fields={"limit": f"from 1 to {MAX_CARDS_PER_COLUMN}"}
        )
    return limit
