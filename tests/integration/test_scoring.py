"""Lead scores on real SQLite and PostgreSQL: every feature reaches the score, nothing leaks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import ScoreRuleSet
from crmlite.domain.score_features import FEATURES
from crmlite.domain.score_rules import parse_rules
from crmlite.services.score_changes import ChangeMark, changed_since, current_mark
from crmlite.services.score_training import closed_history, train, train_and_record
from crmlite.services.scoring import (
    deal_features,
    rescore,
    rescore_everything,
    scorer_in_force,
)
from tests.integration.scoring_support import (
    NOW,
    call,
    campaign,
    hours_ago,
    lead,
    stage_ids,
    stored,
)

Build = Callable[[AsyncSession, int, bool], Awaitable[tuple[int, int]]]
DAY = 24.0


async def _source(db: AsyncSession, stage: int, on: bool) -> tuple[int, int]:
    return await lead(db, stage, source="call" if on else "manual")


async def _campaign(db: AsyncSession, stage: int, on: bool) -> tuple[int, int]:
    campaign_id = await campaign(db, f"Autoshow {random.random()}") if on else None
    return await lead(db, stage, campaign_id=campaign_id)


async def _region(db: AsyncSession, stage: int, on: bool) -> tuple[int, int]:
    number = f"+7495{random.randrange(10**6, 10**7)}" if on else None
    return await lead(db, stage, phone=number)


async def _amount(db: AsyncSession, stage: int, on: bool) -> tuple[int, int]:
    return await lead(db, stage, amount="5000" if on else "10")


async def _with_calls(
    db: AsyncSession, stage: int, calls: list[tuple[str, float, float | None]]
) -> tuple[int, int]:
    contact_id, deal_id = await lead(db, stage)
    for direction, hours, talk in calls:
        await call(db, contact_id, direction, hours_ago(hours), talk_min=talk)
    return contact_id, deal_id


def _calls(
    on: list[tuple[str, float, float | None]], off: list[tuple[str, float, float | None]]
) -> Build:
    async def build(db: AsyncSession, stage: int, with_: bool) -> tuple[int, int]:
        return await _with_calls(db, stage, on if with_ else off)

    return build


def _plain(build: Callable[[AsyncSession, int, bool], Awaitable[tuple[int, int]]]) -> Build:
    return build


# Per feature: a rule on it alone, and two leads in the database that it tells apart. A scorer
# that read the feature from anywhere else (or not at all) gives both leads the same score.
FEATURE_CASES: list[tuple[str, dict[str, Any], Build]] = [
    ("source", {"in": ["call"], "points": 5}, _plain(_source)),
    ("campaign", {"present": True, "points": 7}, _plain(_campaign)),
    ("region", {"prefix": ["RU-495"], "points": 9}, _plain(_region)),
    ("amount", {"at_least": 1000, "points": 6}, _plain(_amount)),
    (
        "inbound_calls_7d",
        {"each": 4, "max": 20},
        _calls(
            [("inbound", DAY, None), ("inbound", 2 * DAY, None)], [("inbound", 20 * DAY, None)] * 2
        ),
    ),
    ("inbound_calls", {"at_least": 3, "points": 3}, _calls([("inbound", 30 * DAY, 1.0)] * 3, [])),
    (
        "answered_calls",
        {"at_least": 1, "points": 8},
        _calls([("inbound", DAY, 1.0)], [("inbound", DAY, None)]),
    ),
    (
        "missed_calls",
        {"at_least": 1, "points": -8},
        _calls([("inbound", DAY, None)], [("inbound", DAY, 1.0)]),
    ),
    (
        "talk_time_min",
        {"at_least": 5, "points": 10},
        _calls([("inbound", DAY, 10.0)], [("inbound", DAY, 1.0)]),
    ),
    (
        "days_since_contact",
        {"at_least": 30, "points": -15},
        _calls([("outbound", 40 * DAY, None)], [("outbound", 2 * DAY, None)]),
    ),
    (
        "unanswered_callbacks",
        {"at_least": 1, "points": -12},
        _calls([("inbound", DAY, None)], [("inbound", DAY, None), ("outbound", 20.0, None)]),
    ),
    (
        "first_answer_h",
        {"at_most": 1, "points": 8},
        _calls([("inbound", 48.0, 2.0)], [("inbound", 50.0, None), ("inbound", 48.0, 2.0)]),
    ),
]


def test_every_feature_has_a_case() -> None:
    assert {case[0] for case in FEATURE_CASES} == set(FEATURES)


@pytest.mark.parametrize(
    ("feature", "condition", "build"), FEATURE_CASES, ids=[c[0] for c in FEATURE_CASES]
)
async def test_a_rule_on_a_feature_moves_the_stored_score(
    sessions: async_sessionmaker[AsyncSession],
    feature: str,
    condition: dict[str, Any],
    build: Build,
) -> None:
    stages = await stage_ids(sessions)
    rule = {"id": f"on-{feature}", "feature": feature, **condition}
    document = {"base": 50, "rules": [rule]}
    parse_rules(document)
    points = int(condition.get("points", condition.get("each", 0) * 2))
    async with sessions.begin() as db:
        db.add(ScoreRuleSet(document=document, created_at=NOW))
        on_contact, on_deal = await build(db, stages["open"], True)
        off_contact, off_deal = await build(db, stages["open"], False)
    async with sessions.begin() as db:
        scorer = await scorer_in_force(db)
        await rescore(db, scorer, NOW, contact_ids=[on_contact, off_contact])
    on, off = await stored(sessions, "deal", on_deal), await stored(sessions, "deal", off_deal)
    assert on is not None
    assert off is not None
    assert on.score - off.score == points
    assert [f["feature"] for f in on.factors] == [feature]
    assert on.factors[0]["points"] == points
    assert off.factors == []
    contact = await stored(sessions, "contact", on_contact)
    assert contact is not None
    # A contact's region, calls, source and amount are its deals' and its own.
    assert contact.score == on.score


async def _closed_history(
    sessions: async_sessionmaker[AsyncSession], *, signal_before_close: bool, per_side: int = 60
) -> None:
    """Won and lost deals whose calls before the close look alike, unless told otherwise.

    After its close every won deal gets a thank-you call with a long talk, every lost one none: a
    model that saw after the close would rank them perfectly.
    """
    stages = await stage_ids(sessions)
    rng = random.Random(7)
    async with sessions.begin() as db:
        for index in range(per_side * 2):
            won = index % 2 == 0
            closed = hours_ago(DAY * (10 + index))
            contact_id, _ = await lead(
                db,
                stages["won" if won else "lost"],
                closed_at=closed,
                created_at=closed - dt.timedelta(days=20),
            )
            for _ in range(rng.randrange(1, 4)):
                talk = rng.choice([None, 2.0, 6.0])
                await call(
                    db,
                    contact_id,
                    "inbound",
                    closed - dt.timedelta(hours=rng.uniform(5, 300)),
                    talk_min=talk,
                )
            if signal_before_close and won:
                for hours in (30.0, 20.0, 10.0):
                    await call(
                        db, contact_id, "inbound", closed - dt.timedelta(hours=hours), talk_min=12.0
                    )
            if won:
                for hours in (2.0, 30.0, 200.0):
                    await call(
                        db, contact_id, "inbound", closed + dt.timedelta(hours=hours), talk_min=15.0
                    )


async def test_a_closed_deals_features_ignore_what_followed_its_close(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _closed_history(sessions, signal_before_close=False, per_side=3)
    async with sessions() as db:
        history = await closed_history(db, NOW)
    won = [features for features, outcome in history if outcome]
    lost = [features for features, outcome in history if not outcome]
    assert len(won) == len(lost) == 3
    # The thank-you calls after each win are 3 answered calls of 15 minutes: none is counted.
    for features in won:
        assert features.talk_time_min < 3 * 6.0 + 1
        assert features.answered_calls <= 3


async def test_the_learned_score_cannot_see_the_outcome(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _closed_history(sessions, signal_before_close=False)
    async with sessions() as db:
        history = await closed_history(db, NOW)
        scorer = await scorer_in_force(db)
    outcome = train(history, scorer.rules, min_won=50, min_lost=50)
    assert (outcome.won, outcome.lost) == (60, 60)
    assert outcome.auc is not None
    # Before the close won and lost deals look alike: an AUC near 1 can only come from a leak.
    assert outcome.auc < 0.75


async def test_the_learned_score_learns_what_came_before_the_close_and_is_used(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _closed_history(sessions, signal_before_close=True)
    stages = await stage_ids(sessions)
    async with sessions.begin() as db:
        # The rules find no difference: only the learned score can tell them apart.
        db.add(ScoreRuleSet(document={"base": 50, "rules": []}, created_at=NOW))
        hot_contact, hot_deal = await lead(db, stages["open"])
        for hours in (30.0, 20.0, 10.0):
            await call(db, hot_contact, "inbound", hours_ago(hours), talk_min=12.0)
        cold_contact, cold_deal = await lead(db, stages["open"])
    async with sessions.begin() as db:
        row = await train_and_record(db, min_won=50, min_lost=50, now=NOW)
    assert row.status == "in-use"
    assert row.auc is not None
    assert row.auc > 0.9
    assert row.rules_auc == 0.5
    async with sessions.begin() as db:
        scorer = await scorer_in_force(db)
        assert scorer.model is not None
        await rescore(db, scorer, NOW, contact_ids=[hot_contact, cold_contact])
    hot, cold = await stored(sessions, "deal", hot_deal), await stored(sessions, "deal", cold_deal)
    assert hot is not None
    assert cold is not None
    assert (hot.method, cold.method) == ("learned", "learned")
    assert hot.score > cold.score + 20
    assert hot.factors[0]["points"] > 0


async def test_too_thin_a_history_keeps_the_rules(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _closed_history(sessions, signal_before_close=True, per_side=10)
    async with sessions.begin() as db:
        row = await train_and_record(db, min_won=50, min_lost=50, now=NOW)
    assert (row.status, row.won, row.lost, row.model) == ("too-few", 10, 10, None)
    async with sessions() as db:
        assert (await scorer_in_force(db)).model is None


async def test_changes_are_found_and_closed_deals_keep_their_score(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    stages = await stage_ids(sessions)
    async with sessions.begin() as db:
        contact_id, deal_id = await lead(db, stages["open"])
        _, closed_deal = await lead(db, stages["won"], closed_at=hours_ago(DAY))
        mark = await current_mark(db, hours_ago(1))
    later = NOW
    async with sessions.begin() as db:
        await call(db, contact_id, "inbound", hours_ago(0.5), talk_min=3.0)
    async with sessions() as db:
        found = await changed_since(db, mark, later)
    assert contact_id in found.contact_ids
    assert found.mark.activity_id > mark.activity_id
    async with sessions() as db:
        again = await changed_since(
            db, dataclasses.replace(found.mark, at=later + dt.timedelta(hours=1)), later
        )
    assert again.contact_ids == frozenset()
    counts = await rescore_everything(sessions, NOW)
    assert counts == {"contacts": 2, "deals": 1}
    assert await stored(sessions, "deal", closed_deal) is None
    score = await stored(sessions, "deal", deal_id)
    assert score is not None
    assert score.method == "rules"
    async with sessions() as db:
        features = await deal_features(db, [deal_id], NOW)
    assert features[deal_id].answered_calls == 1
    assert ChangeMark().activity_id == 0
