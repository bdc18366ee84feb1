"""The learned score, applied: a logistic model stored as plain weights, and how it explains itself.

Training happens elsewhere (crmlite.services.score_training, with scikit-learn); what it keeps is
the feature names, their scaling and their weights, so scoring a lead is a dot product here with
no library and no pickle. A factor's points are what the score would lose without that feature's
contribution to the log-odds: ``100 * (p - sigmoid(z - contribution))``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmlite.domain.score_features import CATEGORY_FEATURES, NUMBER_FEATURES, LeadFeatures
from crmlite.domain.score_rules import Factor, Score, clamp_score, top_factors

# Beyond these, more of the same says nothing new (and would let one outlier dominate).
_CAPS = {"days_since_contact": 365.0, "first_answer_h": 240.0}
_LOGGED = ("amount", "talk_time_min")


def vectorize(features: LeadFeatures) -> dict[str, float]:
    """The model's inputs: numbers (some logged or capped), "never" flags, categories one-hot."""
    vector: dict[str, float] = {}
    for name in NUMBER_FEATURES:
        value = features.get(name)
        if value is None:
            vector[f"{name}:never"] = 1.0
            continue
        number = float(value)
        if name in _LOGGED:
            number = math.log1p(max(0.0, number))
        if name in _CAPS:
            number = min(number, _CAPS[name])
        vector[name] = number
    for name in CATEGORY_FEATURES:
        category = features.get(name)
        if category is not None:
            vector[f"{name}={category}"] = 1.0
    return vector


def feature_of(input_name: str) -> str:
    """The feature an input belongs to: ``source=call`` and ``first_answer_h:never`` -> theirs."""
    return input_name.split("=", 1)[0].split(":", 1)[0]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class LearnedModel:
    """A logistic model over ``vectorize``'s inputs, standardized by ``means`` and ``scales``."""

    names: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    top: int = 5
    # Per input, its feature and weight per unit; per feature, its share when every input is 0.
    _per_unit: dict[str, tuple[str, float]] = field(init=False, repr=False, compare=False)
    _baseline: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sizes = {len(self.names), len(self.means), len(self.scales), len(self.weights)}
        if len(sizes) != 1:
            raise ValueError("a learned model needs one mean, scale and weight per input")
        if any(scale <= 0 or not math.isfinite(scale) for scale in self.scales):
            raise ValueError("a learned model's scales are positive")
        per_unit: dict[str, tuple[str, float]] = {}
        baseline: dict[str, float] = defaultdict(float)
        for name, mean, scale, weight in zip(
            self.names, self.means, self.scales, self.weights, strict=True
        ):
            feature = feature_of(name)
            per_unit[name] = (feature, weight / scale)
            baseline[feature] -= weight * mean / scale
        object.__setattr__(self, "_per_unit", per_unit)
        object.__setattr__(self, "_baseline", dict(baseline))

    def contributions(self, features: LeadFeatures) -> dict[str, float]:
        """Each feature's share of the log-odds, relative to the average lead of the training."""
        shares = dict(self._baseline)
        for name, value in vectorize(features).items():
            known = self._per_unit.get(name)
            if known is not None:
                shares[known[0]] += known[1] * value
        return shares

    def probability(self, features: LeadFeatures) -> float:
        """The chance the model gives the lead to be won."""
        return _sigmoid(self.intercept + sum(self.contributions(features).values()))

    def score(self, features: LeadFeatures) -> Score:
        """0..100 with the features that moved it most, in score points."""
        shares = self.contributions(features)
        z = self.intercept + sum(shares.values())
        p = _sigmoid(z)
        factors = [
            Factor(f"learned:{name}", name, features.get(name), round(100 * (p - _sigmoid(z - c))))
            for name, c in shares.items()
        ]
        return Score(clamp_score(100 * p), "learned", top_factors(factors, self.top))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the database."""
        return {
            "names": list(self.names),
            "means": list(self.means),
            "scales": list(self.scales),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "top": self.top,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearnedModel:
        """Read what ``to_dict`` wrote."""
        return cls(
            names=tuple(str(n) for n in data["names"]),
            means=tuple(float(v) for v in data["means"]),
            scales=tuple(float(v) for v in data["scales"]),
            weights=tuple(float(v) for v in data["weights"]),
            intercept=float(data["intercept"]),
            top=int(data.get("top", 5)),
        )
