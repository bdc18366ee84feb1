"""The learned score: trained on the service's own closed deals, kept only when it beats the rules.

Each closed deal is read as it stood just before it closed (crmlite.domain.score_features), so
nothing that happened once the outcome was known feeds the model. A quarter of the history is held
out; the model is fitted on the rest with scikit-learn's logistic regression, and both it and the
rules rank the held-out deals: the one with the higher AUC scores the leads. Too little history,
or a model no better than the rules, leaves the rules in force and says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Deal, ScoreModel, Stage
from crmlite.domain.score_features import LeadFeatures
from crmlite.domain.score_model import LearnedModel, vectorize
from crmlite.domain.score_rules import ScoreRules, parse_rules
from crmlite.services.scoring import BATCH, STATUS_IN_USE, deal_features, rules_document

HELD_OUT = 0.25
MIN_CATEGORY = 10  # a campaign or region seen fewer times says nothing the model can trust
SEED = 20260601


@dataclass(frozen=True, slots=True)
class Training:
    """What one training found: the verdict, the history's size, both AUCs, the model."""

    status: str  # in-use, rules-better, too-few
    won: int
    lost: int
    auc: float | None = None
    rules_auc: float | None = None
    model: LearnedModel | None = None


async def closed_history(
    session: AsyncSession, now: dt.datetime
) -> list[tuple[LeadFeatures, bool]]:
    """Every closed deal's features as of its close, and whether it was won."""
    rows = (
        await session.execute(
            select(Deal.id, Stage.kind)
            .join(Stage, Stage.id == Deal.stage_id)
            .where(Stage.kind.in_(("won", "lost")), Deal.closed_at.is_not(None))
            .order_by(Deal.id)
        )
    ).all()
    won = {deal_id: kind == "won" for deal_id, kind in rows}
    history: list[tuple[LeadFeatures, bool]] = []
    ids = list(won)
    for start in range(0, len(ids), BATCH):
        # Each closed deal is read as of its own close, not as of ``now``.
        features = await deal_features(session, ids[start : start + BATCH], now, closed=True)
        history.extend((features[i], won[i]) for i in ids[start : start + BATCH] if i in features)
    return history


def train(
    history: Sequence[tuple[LeadFeatures, bool]],
    rules: ScoreRules,
    *,
    min_won: int,
    min_lost: int,
    seed: int = SEED,
) -> Training:
    """Fit on three quarters of ``history``; keep the model only if it ranks the rest better."""
    won = sum(1 for _, outcome in history if outcome)
    lost = len(history) - won
    if won < min_won or lost < min_lost:
        return Training("too-few", won, lost)
    vectors = [vectorize(features) for features, _ in history]
    outcomes = [int(outcome) for _, outcome in history]
    vectorizer = DictVectorizer(sparse=False)
    matrix = vectorizer.fit_transform(vectors)
    names = list(vectorizer.get_feature_names_out())
    # Rare categories out: a region seen three times would get a weight from noise.
    keep = [
        j
        for j, name in enumerate(names)
        if "=" not in name or int((matrix[:, j] > 0).sum()) >= MIN_CATEGORY
    ]
    matrix = matrix[:, keep]
    names = [names[j] for j in keep]
    indices = list(range(len(history)))
    train_at, test_at = train_test_split(
        indices, test_size=HELD_OUT, stratify=outcomes, random_state=seed
    )
    scaler = StandardScaler().fit(matrix[train_at])
    regression = LogisticRegression(max_iter=2000, C=1.0)
    regression.fit(scaler.transform(matrix[train_at]), [outcomes[i] for i in train_at])
    truth = [outcomes[i] for i in test_at]
    predicted = regression.predict_proba(scaler.transform(matrix[test_at]))[:, 1]
    auc = float(roc_auc_score(truth, predicted))
    rules_auc = float(roc_auc_score(truth, [rules.raw(history[i][0]) for i in test_at]))
    model = LearnedModel(
        names=tuple(names),
        means=tuple(float(v) for v in scaler.mean_),
        scales=tuple(float(v) for v in scaler.scale_),
        weights=tuple(float(v) for v in regression.coef_[0]),
        intercept=float(regression.intercept_[0]),
        top=rules.top,
    )
    status = STATUS_IN_USE if auc > rules_auc else "rules-better"
    return Training(status, won, lost, round(auc, 4), round(rules_auc, 4), model)


async def train_and_record(
    session: AsyncSession,
    *,
    min_won: int,
    min_lost: int,
    now: dt.datetime,
    by_user_id: int | None = None,
) -> ScoreModel:
    """Train on the stored history and record the outcome (the newest row is in force)."""
    history = await closed_history(session, now)
    document, _ = await rules_document(session)
    rules = parse_rules(document)
    # Fitting is CPU work of a second or two: off the event loop.
    outcome = await asyncio.to_thread(train, history, rules, min_won=min_won, min_lost=min_lost)
    row = ScoreModel(
        status=outcome.status,
        won=outcome.won,
        lost=outcome.lost,
        auc=outcome.auc,
        rules_auc=outcome.rules_auc,
        model=outcome.model.to_dict() if outcome.model is not None else None,
        trained_at=now,
        trained_by_id=by_user_id,
    )
    session.add(row)
    await session.flush()
    return row
