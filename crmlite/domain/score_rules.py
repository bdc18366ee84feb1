"""The rules score: points per condition on a lead's features, read from a validated document.

A document is ``{"base": 40, "top": 5, "rules": [...]}``; each rule names a feature and one
condition: ``in`` / ``prefix`` (categories), ``present`` (known or not), ``at_least`` and/or
``at_most`` (numbers), each with ``points``; or ``each`` (points per unit of a number, capped at
``max`` in absolute value). The score is ``base`` plus every matching rule's points, kept within
0..100, and it names its factors: the rules that matched, largest first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crmlite.domain.errors import InvalidInput
from crmlite.domain.score_features import CATEGORY_FEATURES, FEATURES, LeadFeatures

MAX_RULES = 100
MAX_POINTS = 100.0
DEFAULT_TOP = 5
_CONDITIONS = ("in", "prefix", "present", "at_least", "at_most", "each")


@dataclass(frozen=True, slots=True)
class Factor:
    """One reason a score is what it is: a rule (or a learned weight) and what it added."""

    rule: str  # the rule's id, or "learned:<feature>"
    feature: str
    value: str | float | None
    points: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the browser words it in the user's language from ``feature``."""
        return {
            "rule": self.rule,
            "feature": self.feature,
            "value": self.value,
            "points": self.points,
        }


@dataclass(frozen=True, slots=True)
class Score:
    """A 0..100 score, how it was made (``rules`` or ``learned``) and its top factors."""

    value: int
    method: str
    factors: tuple[Factor, ...]


@dataclass(frozen=True, slots=True)
class ScoreRule:
    id: str
    feature: str
    points: float = 0.0
    one_of: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    present: bool | None = None
    at_least: float | None = None
    at_most: float | None = None
    each: float | None = None
    cap: float | None = None

    def points_for(self, features: LeadFeatures) -> float:
        """What this rule adds for ``features`` (0.0 when it does not match)."""
        value = getattr(features, self.feature)
        if self.present is not None:
            return self.points if (value is not None) == self.present else 0.0
        if value is None:
            return 0.0
        if self.one_of:
            return self.points if value in self.one_of else 0.0
        if self.prefixes:
            return self.points if str(value).startswith(self.prefixes) else 0.0
        number = float(value)
        if self.each is not None:
            earned = self.each * number
            return max(-self.cap, min(self.cap, earned)) if self.cap is not None else earned
        if self.at_least is not None and number < self.at_least:
            return 0.0
        if self.at_most is not None and number > self.at_most:
            return 0.0
        return self.points


@dataclass(frozen=True, slots=True)
class ScoreRules:
    base: float
    rules: tuple[ScoreRule, ...]
    top: int = DEFAULT_TOP

    def features_used(self) -> frozenset[str]:
        """The features some rule reads."""
        return frozenset(rule.feature for rule in self.rules)

    def score(self, features: LeadFeatures) -> Score:
        """Score ``features``: base plus every matching rule, kept within 0..100."""
        factors = []
        total = self.base
        for rule in self.rules:
            points = rule.points_for(features)
            if points:
                total += points
                value = getattr(features, rule.feature)
                factors.append(Factor(rule.id, rule.feature, value, round(points)))
        return Score(clamp_score(total), "rules", top_factors(factors, self.top))

    def raw(self, features: LeadFeatures) -> float:
        """The unclamped total (ranks leads beyond 0 and 100, for the AUC)."""
        return self.base + sum(rule.points_for(features) for rule in self.rules)


def clamp_score(total: float) -> int:
    """``total`` rounded and kept within 0..100."""
    return max(0, min(100, round(total)))


def top_factors(factors: Sequence[Factor], top: int) -> tuple[Factor, ...]:
    """The ``top`` factors that weigh most, largest first (ties keep the rules' order)."""
    # sorted() is stable: among equal weights the earlier rule stays first.
    ranked = sorted(factors, key=_weight)
    return tuple(factor for factor in ranked[:top] if factor.points != 0)


def _weight(factor: Factor) -> int:
    return -abs(factor.points)


DEFAULT_RULES: dict[str, Any] = {
    "base": 40,
    "top": DEFAULT_TOP,
    "rules": [
        {"id": "inbound-week", "feature": "inbound_calls_7d", "each": 6, "max": 24},
        {"id": "returning", "feature": "inbound_calls", "at_least": 5, "points": 5},
        {"id": "answered", "feature": "answered_calls", "at_least": 1, "points": 8},
        {"id": "missed-many", "feature": "missed_calls", "at_least": 3, "points": -6},
        {"id": "not-called-back", "feature": "unanswered_callbacks", "each": -12, "max": 24},
        {"id": "long-talk", "feature": "talk_time_min", "at_least": 5, "points": 10},
        {"id": "fast-answer", "feature": "first_answer_h", "at_most": 1, "points": 8},
        {"id": "slow-answer", "feature": "first_answer_h", "at_least": 24, "points": -8},
        {"id": "stale", "feature": "days_since_contact", "at_least": 30, "points": -15},
        {"id": "never-contacted", "feature": "days_since_contact", "present": False, "points": -5},
        {"id": "big-deal", "feature": "amount", "at_least": 1000000, "points": 6},
        {"id": "from-call", "feature": "source", "in": ["call"], "points": 5},
        {"id": "campaign", "feature": "campaign", "present": True, "points": 4},
    ],
}


def parse_rules(document: Mapping[str, Any]) -> ScoreRules:
    """Validate a rules document; every problem is named by its field."""
    if not isinstance(document, Mapping):
        raise InvalidInput("scoring rules must be an object", fields={"": "expected an object"})
    problems: dict[str, str] = {}
    unknown = set(document) - {"base", "top", "rules"}
    for key in sorted(unknown):
        problems[key] = "unknown key"
    base = document.get("base", 0)
    if not _is_number(base) or not 0 <= float(base) <= MAX_POINTS:
        problems["base"] = "a number from 0 to 100"
    top = document.get("top", DEFAULT_TOP)
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= 20:
        problems["top"] = "a whole number from 1 to 20"
    raw_rules = document.get("rules", [])
    if not isinstance(raw_rules, list) or len(raw_rules) > MAX_RULES:
        problems["rules"] = f"a list of at most {MAX_RULES} rules"
        raw_rules = []
    rules = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        rule = _parse_rule(raw, f"rules[{index}]", problems)
        if rule is None:
            continue
        if rule.id in seen:
            problems[f"rules[{index}].id"] = f"'{rule.id}' is used twice"
        seen.add(rule.id)
        rules.append(rule)
    if problems:
        raise InvalidInput("the scoring rules are not valid", fields=problems)
    return ScoreRules(base=float(base), rules=tuple(rules), top=int(top))


def _parse_rule(raw: object, at: str, problems: dict[str, str]) -> ScoreRule | None:
    if not isinstance(raw, Mapping):
        problems[at] = "a rule is an object"
        return None
    before = len(problems)
    for key in sorted(set(raw) - {"id", "feature", "points", "max", *_CONDITIONS}):
        problems[f"{at}.{key}"] = "unknown key"
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not 1 <= len(rule_id) <= 64:
        problems[f"{at}.id"] = "a name of 1 to 64 characters"
    feature = raw.get("feature")
    if feature not in FEATURES:
        problems[f"{at}.feature"] = "one of " + ", ".join(FEATURES)
        return None
    conditions = [key for key in _CONDITIONS if key in raw]
    numeric_pair = set(conditions) <= {"at_least", "at_most"} and conditions
    if len(conditions) != 1 and not numeric_pair:
        problems[at] = "exactly one condition: " + ", ".join(_CONDITIONS)
        return None
    allowed = (
        {"in", "prefix", "present"}
        if feature in CATEGORY_FEATURES
        else {"present", "at_least", "at_most", "each"}
    )
    for key in conditions:
        if key not in allowed:
            problems[f"{at}.{key}"] = f"not a condition on {feature}; use " + ", ".join(
                sorted(allowed)
            )
    points = raw.get("points")
    if "each" in raw:
        _check_points(raw["each"], f"{at}.each", problems)
        if "max" in raw:
            _check_points(raw["max"], f"{at}.max", problems, positive=True)
        if points is not None:
            problems[f"{at}.points"] = "'each' gives the points per unit; leave 'points' out"
    else:
        _check_points(points, f"{at}.points", problems)
        if "max" in raw:
            problems[f"{at}.max"] = "only with 'each'"
    for key in ("in", "prefix"):
        if key in raw and not _is_text_list(raw[key]):
            problems[f"{at}.{key}"] = "a non-empty list of texts"
    if "present" in raw and not isinstance(raw["present"], bool):
        problems[f"{at}.present"] = "true or false"
    for key in ("at_least", "at_most"):
        if key in raw and not _is_number(raw[key]):
            problems[f"{at}.{key}"] = "a number"
    if (
        not any(k.startswith(at) for k in list(problems)[before:])
        and "at_least" in raw
        and "at_most" in raw
        and float(raw["at_least"]) > float(raw["at_most"])
    ):
        problems[f"{at}.at_most"] = "at least 'at_least'"
    if len(problems) > before:
        return None
    assert isinstance(rule_id, str)  # noqa: S101 - checked above; narrows for the type checker
    return ScoreRule(
        id=rule_id,
        feature=str(feature),
        points=float(points) if points is not None else 0.0,
        one_of=tuple(raw.get("in", ())),
        prefixes=tuple(raw.get("prefix", ())),
        present=raw.get("present"),
        at_least=float(raw["at_least"]) if "at_least" in raw else None,
        at_most=float(raw["at_most"]) if "at_most" in raw else None,
        each=float(raw["each"]) if "each" in raw else None,
        cap=float(raw["max"]) if "max" in raw else None,
    )


def _check_points(
    value: object, at: str, problems: dict[str, str], *, positive: bool = False
) -> None:
    low = 0.0 if positive else -MAX_POINTS
    if not _is_number(value) or not low <= float(value) <= MAX_POINTS:  # type: ignore[arg-type]
        problems[at] = f"a number from {low:g} to {MAX_POINTS:g}"


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float
        return False


def _is_text_list(value: object) -> bool:
    return (
        isinstance(value, list)
        and 0 < len(value) <= 200
        and all(isinstance(v, str) and 0 < len(v) <= 100 for v in value)
    )
