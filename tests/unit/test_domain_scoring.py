"""The lead score's pure core: features as of a moment, the rules and their checks, the model."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from crmlite.domain.errors import InvalidInput
from crmlite.domain.score_features import (
    FEATURES,
    CallFact,
    LeadFacts,
    LeadFeatures,
    extract_features,
    phone_region,
)
from crmlite.domain.score_model import LearnedModel, vectorize
from crmlite.domain.score_rules import DEFAULT_RULES, parse_rules

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def ago(hours: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


def inbound(hours_ago: float, talk_min: float | None = None) -> CallFact:
    start = ago(hours_ago)
    if talk_min is None:
        return CallFact("inbound", start, None, start + dt.timedelta(seconds=30))
    answer = start + dt.timedelta(seconds=10)
    return CallFact("inbound", start, answer, answer + dt.timedelta(minutes=talk_min))


def outbound(hours_ago: float) -> CallFact:
    start = ago(hours_ago)
    return CallFact("outbound", start, None, start + dt.timedelta(seconds=20))


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        pytest.param((), {"inbound_calls": 0, "days_since_contact": None}, id="no-calls"),
        pytest.param(
            (inbound(1), inbound(30), inbound(24 * 10)),
            {
                "inbound_calls": 3,
                "inbound_calls_7d": 2,
                "missed_calls": 3,
                "unanswered_callbacks": 3,
            },
            id="missed-three-one-old",
        ),
        pytest.param(
            (inbound(48), outbound(47), inbound(2)),
            {"unanswered_callbacks": 1, "missed_calls": 2, "days_since_contact": round(47 / 24, 2)},
            id="called-back-then-missed-again",
        ),
        pytest.param(
            (inbound(10), inbound(7, talk_min=6)),
            {
                "answered_calls": 1,
                "talk_time_min": 6.0,
                "first_answer_h": round((3 * 3600 + 10) / 3600, 2),
                "unanswered_callbacks": 0,
            },
            id="answered-second-time",
        ),
        pytest.param(
            (CallFact("internal", ago(1), ago(1), ago(0.5)),),
            {"inbound_calls": 0, "answered_calls": 0, "talk_time_min": 0.0},
            id="internal-calls-ignored",
        ),
        # A call after as_of does not exist for the features: no leakage from the future.
        pytest.param(
            (inbound(5), CallFact("inbound", NOW, NOW, NOW + dt.timedelta(minutes=9))),
            {"inbound_calls": 1, "answered_calls": 0, "talk_time_min": 0.0},
            id="calls-at-or-after-as-of-ignored",
        ),
    ],
)
def test_features_from_calls(calls: tuple[CallFact, ...], expected: dict[str, Any]) -> None:
    features = extract_features(LeadFacts(calls=calls), NOW)
    assert {name: features.get(name) for name in expected} == expected


def test_note_counts_as_contact_and_region_reads_the_area_code() -> None:
    facts = LeadFacts(phone_e164="+74951234567", last_note_at=ago(24 * 3), source="call")
    features = extract_features(facts, NOW)
    assert features.days_since_contact == 3.0
    assert features.region == "RU-495"
    assert features.source == "call"
    assert phone_region("+8613800138000") == "CN-138"
    assert phone_region("101") is None
    assert phone_region(None) is None


# For each default rule: features where it does not match, and where it does. The score must move
# by exactly the rule's points and name the rule's feature: a rule that read another feature, or
# none, fails here.
_PLAIN = LeadFeatures(days_since_contact=10.0, first_answer_h=5.0)
RULE_CASES = [
    ("inbound-week", {"inbound_calls_7d": 0}, {"inbound_calls_7d": 3}, 18),
    ("returning", {"inbound_calls": 4}, {"inbound_calls": 5}, 5),
    ("answered", {"answered_calls": 0}, {"answered_calls": 2}, 8),
    ("missed-many", {"missed_calls": 2}, {"missed_calls": 3}, -6),
    ("not-called-back", {"unanswered_callbacks": 0}, {"unanswered_callbacks": 1}, -12),
    ("long-talk", {"talk_time_min": 4.9}, {"talk_time_min": 5.0}, 10),
    ("fast-answer", {"first_answer_h": 5.0}, {"first_answer_h": 0.5}, 8),
    ("slow-answer", {"first_answer_h": 5.0}, {"first_answer_h": 30.0}, -8),
    ("stale", {"days_since_contact": 10.0}, {"days_since_contact": 45.0}, -15),
    ("never-contacted", {"days_since_contact": 10.0}, {"days_since_contact": None}, -5),
    ("big-deal", {"amount": 999_999.0}, {"amount": 1_000_000.0}, 6),
    ("from-call", {"source": "manual"}, {"source": "call"}, 5),
    ("campaign", {"campaign": None}, {"campaign": "Autoshow"}, 4),
]


@pytest.mark.parametrize(("rule_id", "without", "with_", "points"), RULE_CASES)
def test_each_rule_moves_the_score_by_its_points(
    rule_id: str, without: dict[str, Any], with_: dict[str, Any], points: int
) -> None:
    rules = parse_rules(DEFAULT_RULES)
    before = rules.score(dataclasses.replace(_PLAIN, **without))
    after = rules.score(dataclasses.replace(_PLAIN, **with_))
    assert after.value - before.value == points
    factor = next(f for f in after.factors if f.rule == rule_id)
    assert factor.points == points
    assert factor.feature == next(
        r["feature"] for r in DEFAULT_RULES["rules"] if r["id"] == rule_id
    )
    assert rule_id not in {f.rule for f in before.factors}


def test_every_default_rule_is_covered_and_every_feature_is_used() -> None:
    assert {case[0] for case in RULE_CASES} == {r["id"] for r in DEFAULT_RULES["rules"]}
    used = parse_rules(DEFAULT_RULES).features_used()
    assert used | {"region"} == set(FEATURES)  # region: per install (area codes differ)


def test_score_is_clamped_and_explains_largest_first() -> None:
    rules = parse_rules(
        {
            "base": 90,
            "top": 2,
            "rules": [
                {"id": "a", "feature": "inbound_calls", "each": 5},
                {"id": "b", "feature": "region", "prefix": ["RU-495"], "points": 3},
                {"id": "c", "feature": "missed_calls", "at_least": 1, "at_most": 2, "points": -1},
            ],
        }
    )
    score = rules.score(LeadFeatures(inbound_calls=4, region="RU-495", missed_calls=2))
    assert score.value == 100
    assert [f.rule for f in score.factors] == ["a", "b"]
    assert rules.raw(LeadFeatures(inbound_calls=4, region="RU-495", missed_calls=2)) == 112


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"base": 120}, "base"),
        ({"rules": [{"id": "x", "feature": "shoe_size", "points": 1}]}, "rules[0].feature"),
        (
            {"rules": [{"id": "x", "feature": "source", "at_least": 1, "points": 1}]},
            "rules[0].at_least",
        ),
        ({"rules": [{"id": "x", "feature": "amount", "points": 1}]}, "rules[0]"),
        (
            {"rules": [{"id": "x", "feature": "amount", "at_least": 5, "points": 500}]},
            "rules[0].points",
        ),
        ({"rules": [{"id": "x", "feature": "amount", "each": 1, "points": 2}]}, "rules[0].points"),
        (
            {"rules": [{"id": "x", "feature": "amount", "at_least": 5, "at_most": 1, "points": 1}]},
            "rules[0].at_most",
        ),
        ({"rules": [{"id": "x", "feature": "source", "in": [], "points": 1}]}, "rules[0].in"),
        ({"rules": [{"id": "", "feature": "source", "in": ["call"], "points": 1}]}, "rules[0].id"),
        (
            {"rules": [{"id": "x", "feature": "amount", "present": True, "points": 1}] * 2},
            "rules[1].id",
        ),
        ({"rules": [], "colour": "red"}, "colour"),
        ({"top": 0}, "top"),
        ({"base": 10**400}, "base"),
        (
            {"rules": [{"id": "x", "feature": "amount", "at_least": 10**400, "points": 1}]},
            "rules[0].at_least",
        ),
    ],
)
def test_bad_rules_are_named_by_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rules(document)
    assert field in caught.value.fields


def test_learned_model_scores_and_explains_in_points() -> None:
    base = LeadFeatures(days_since_contact=1.0, first_answer_h=1.0)
    names = (*sorted(vectorize(base)), "source=call")
    model = LearnedModel(
        names=names,
        means=tuple(0.0 for _ in names),
        scales=tuple(1.0 for _ in names),
        weights=tuple(1.5 if n == "inbound_calls" else 0.0 for n in names),
        intercept=-1.0,
    )
    cold = model.score(base)
    warm = model.score(dataclasses.replace(base, inbound_calls=2))
    assert warm.value > cold.value
    assert warm.method == "learned"
    assert warm.factors[0].feature == "inbound_calls"
    assert warm.factors[0].points > 0
    assert LearnedModel.from_dict(model.to_dict()) == model
    with pytest.raises(ValueError, match="positive"):
        LearnedModel(names=("a",), means=(0.0,), scales=(0.0,), weights=(1.0,), intercept=0.0)


def test_the_documented_default_rules_are_the_rules_in_the_code() -> None:
    text = (Path(__file__).parents[2] / "docs" / "SCORING.md").read_text(encoding="utf-8")
    documented = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    assert documented == DEFAULT_RULES


@pytest.mark.parametrize("feature", FEATURES)
def test_the_learned_model_reads_every_feature(feature: str) -> None:
    changed: dict[str, Any] = {
        "source": "call",
        "campaign": "Autoshow",
        "region": "RU-495",
        "days_since_contact": 3.0,
        "first_answer_h": 2.0,
    }
    base = LeadFeatures(amount=100.0)
    other = dataclasses.replace(base, **{feature: changed.get(feature, 7)})
    assert vectorize(base) != vectorize(other)
    names = tuple(sorted(set(vectorize(base)) | set(vectorize(other))))
    model = LearnedModel(
        names=names,
        means=tuple(0.0 for _ in names),
        scales=tuple(1.0 for _ in names),
        weights=tuple(0.5 for _ in names),
        intercept=0.0,
    )
    assert model.probability(base) != model.probability(other)
    assert feature in {f.feature for f in model.score(other).factors} | {
        f.feature for f in model.score(base).factors
    }
