"""Lead scoring API: a contact's or deal's score with its reasons, the rules, the learned model."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from crmlite.db.models import LeadScore, ScoreModel
from crmlite.services.score_admin import ScoringService
from crmlite.web.keys import SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, IdPath
from crmlite.web.security import principal

routes = ApiRoutes("scoring", "Lead scores (线索评分) with their reasons, the rules and the model")

# The history the learned score needs before it is tried ([scoring] min_won / min_lost).
TRAINING_MINIMUMS: web.AppKey[tuple[int, int]] = web.AppKey("score_training_minimums")


class FactorOut(ApiModel):
    rule: str = Field(description="the rule's id, or learned:<feature>")
    feature: str
    value: str | float | None = Field(description="the feature's value when scored")
    points: int = Field(description="what it added to the score (negative: took away)")


class ScoreOut(ApiModel):
    score: int | None = Field(None, ge=0, le=100, description="null until first scored")
    method: Literal["rules", "learned"] | None = None
    factors: list[FactorOut] = Field(default_factory=list, description="largest first")
    computed_at: dt.datetime | None = None


class TrainingOut(ApiModel):
    status: Literal["in-use", "rules-better", "too-few"]
    won: int
    lost: int
    auc: float | None = Field(description="the learned score's AUC on held-out closed deals")
    rules_auc: float | None = Field(description="the rules' AUC on the same deals")
    trained_at: dt.datetime


class RulesIn(ApiModel):
    base: float = Field(40, ge=0, le=100, strict=True, description="the score before any rule")
    top: int = Field(5, ge=1, le=20, strict=True, description="how many reasons a score shows")
    rules: list[dict[str, Any]] = Field(
        default_factory=list,
        description="each: id, feature, one condition (in, prefix, present, at_least/at_most, "
        "each) and points (or max with each); see docs/SCORING.md",
    )


class ScoringOut(ApiModel):
    method: Literal["rules", "learned"] = Field(description="which score the leads get now")
    rules: dict[str, Any]
    rules_version: int | None = Field(description="null: the built-in rules")
    training: TrainingOut | None = Field(description="the latest training, if any")
    min_won: int
    min_lost: int


def score_out(row: LeadScore | None) -> ScoreOut:
    """A stored score as the API shows it."""
    if row is None:
        return ScoreOut()
    return ScoreOut(
        score=row.score,
        method="learned" if row.method == "learned" else "rules",
        factors=[FactorOut.model_validate(f) for f in row.factors],
        computed_at=row.computed_at,
    )


def _training(row: ScoreModel | None) -> TrainingOut | None:
    if row is None:
        return None
    return TrainingOut.model_validate(row)


@routes.get(
    r"/api/v1/contacts/{id:\d+}/score",
    path_model=IdPath,
    response=ScoreOut,
    errors={404: "No such contact, or not yours"},
)
async def contact_score(request: web.Request, *, path: IdPath) -> ScoreOut:
    """The contact's score and its top reasons."""
    async with request.app[SESSIONS]() as session:
        return score_out(
            await ScoringService(session, principal(request)).score_of("contact", path.id)
        )


@routes.get(
    r"/api/v1/deals/{id:\d+}/score",
    path_model=IdPath,
    response=ScoreOut,
    errors={404: "No such deal, or not yours"},
)
async def deal_score(request: web.Request, *, path: IdPath) -> ScoreOut:
    """The deal's score and its top reasons (a closed deal keeps the one it closed with)."""
    async with request.app[SESSIONS]() as session:
        return score_out(
            await ScoringService(session, principal(request)).score_of("deal", path.id)
        )


async def _status(request: web.Request) -> ScoringOut:
    min_won, min_lost = request.app.get(TRAINING_MINIMUMS, (50, 50))
    async with request.app[SESSIONS]() as session:
        status = await ScoringService(session, principal(request)).status()
    return ScoringOut(
        method="learned" if status.method == "learned" else "rules",
        rules=status.rules,
        rules_version=status.rules_version,
        training=_training(status.training),
        min_won=min_won,
        min_lost=min_lost,
    )


@routes.get("/api/v1/scoring", response=ScoringOut, errors={403: "Heads and admins only"})
async def scoring_status(request: web.Request) -> ScoringOut:
    """The rules in force, the latest training with its held-out AUC, and which score is used."""
    return await _status(request)


@routes.put(
    "/api/v1/scoring/rules",
    body=RulesIn,
    response=ScoringOut,
    errors={403: "Admins only", 422: "A rule is invalid (the field says which and why)"},
)
async def replace_scoring_rules(request: web.Request, *, body: RulesIn) -> ScoringOut:
    """Replace the scoring rules; every score follows within a pass of the scoring watch."""
    async with request.app[SESSIONS].begin() as session:
        await ScoringService(session, principal(request)).save_rules(body.model_dump())
    return await _status(request)


@routes.post(
    "/api/v1/scoring/train",
    response=TrainingOut,
    errors={403: "Heads and admins only"},
)
async def train_scoring(request: web.Request) -> TrainingOut:
    """Train the learned score on the closed deals now; it is used only if it beats the rules."""
    min_won, min_lost = request.app.get(TRAINING_MINIMUMS, (50, 50))
    async with request.app[SESSIONS].begin() as session:
        row = await ScoringService(session, principal(request)).train(
            min_won=min_won, min_lost=min_lost
        )
        return TrainingOut.model_validate(row)
