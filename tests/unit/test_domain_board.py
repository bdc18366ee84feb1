"""Board ordering, paging cursors, totals and RBAC visibility rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crmlite.domain.access import may_claim_deal, sees_deal, sees_task
from crmlite.domain.board import (
    UNSCORED,
    Card,
    CardKey,
    CardOrder,
    column_totals,
    days_in_stage,
    decode_cursor,
    encode_cursor,
    page_cards,
)
from crmlite.domain.errors import InvalidInput
from crmlite.domain.principal import Principal, Role

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
SELLER = Principal(1, "anna", Role.SELLER)
OTHER = Principal(2, "boris", Role.SELLER)
HEAD = Principal(3, "helen", Role.HEAD)


def card(ident: int, minutes: int, score: int | None = None) -> Card:
    created = T0 + dt.timedelta(minutes=minutes)
    return Card(
        ident,
        f"d{ident}",
        Decimal("1.00"),
        "RUB",
        None,
        None,
        1,
        None,
        "manual",
        created,
        created,
        0,
        1,
        score,
    )


def test_newest_first_with_id_breaking_ties_and_a_cursor() -> None:
    cards = [card(1, 0), card(2, 5), card(3, 5), card(4, 1)]
    page, cursor = page_cards(cards, 3)
    assert [c.id for c in page] == [3, 2, 4]
    assert cursor is not None
    assert decode_cursor(cursor) == CardKey(page[-1].created_at, 4)
    last, none = page_cards(cards[:3], 3)
    assert none is None
    assert len(last) == 3


def test_score_order_puts_the_best_first_unscored_last_and_its_cursor_remembers_the_score() -> None:
    cards = [card(1, 0, 40), card(2, 5, None), card(3, 1, 90), card(4, 9, 40), card(5, 2, 0)]
    page, cursor = page_cards(cards, 3, CardOrder.SCORE)
    assert [c.id for c in page] == [3, 4, 1]  # 90, then the two 40s newest first
    assert cursor is not None
    assert decode_cursor(cursor, CardOrder.SCORE) == CardKey(page[-1].created_at, 1, 40)
    rest, _ = page_cards(cards[1:2] + cards[4:], 3, CardOrder.SCORE)
    assert [c.id for c in rest] == [5, 2]  # a score of 0 still ranks above no score
    assert decode_cursor(encode_cursor(CardKey(T0, 7), CardOrder.SCORE), CardOrder.SCORE).score == (
        UNSCORED
    )


def test_a_cursor_of_one_order_is_refused_in_the_other() -> None:
    newest = encode_cursor(CardKey(T0, 1))
    by_score = encode_cursor(CardKey(T0, 1, 55), CardOrder.SCORE)
    with pytest.raises(InvalidInput):
        decode_cursor(newest, CardOrder.SCORE)
    with pytest.raises(InvalidInput):
        decode_cursor(by_score)
    with pytest.raises(InvalidInput):
        decode_cursor(encode_cursor(CardKey(T0, 1, 101), CardOrder.SCORE), CardOrder.SCORE)


@pytest.mark.parametrize("token", ["", "!!!", encode_cursor(CardKey(T0, 1))[:-3] + "x", "bm9wZQ"])
def test_tampered_cursor_is_invalid(token: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(token)


def test_totals_and_days() -> None:
    totals = column_totals([("RUB", 2, Decimal("0.30")), ("USD", 1, Decimal("5"))])
    assert (totals.count, totals.amounts) == (3, {"RUB": Decimal("0.30"), "USD": Decimal("5.00")})
    assert days_in_stage(T0, T0 + dt.timedelta(days=2, hours=23)) == 2
    assert days_in_stage(T0, T0 - dt.timedelta(hours=1)) == 0


@pytest.mark.parametrize(
    ("who", "owner", "unsorted", "sees", "claims"),
    [
        (SELLER, 1, False, True, False),
        (SELLER, 2, False, False, False),
        (SELLER, 2, True, False, False),
        (SELLER, None, True, True, True),
        (SELLER, None, False, False, False),
        (HEAD, 2, False, True, True),
        (HEAD, None, False, True, True),
    ],
)
def test_deal_visibility(
    who: Principal, owner: int | None, unsorted: bool, sees: bool, claims: bool
) -> None:
    assert sees_deal(who, owner, in_unsorted=unsorted) is sees
    assert may_claim_deal(who, owner, in_unsorted=unsorted) is claims


def test_task_visibility() -> None:
    assert sees_task(SELLER, 1, 2, 2)
    assert sees_task(SELLER, 2, 1, None)
    assert sees_task(SELLER, None, None, 1)
    assert not sees_task(OTHER, 1, 1, 1)
    assert sees_task(HEAD, 1, 1, 1)
