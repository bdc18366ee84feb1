"""Lead scoring through the API: who may read a score, see the model, change the rules, train."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import LeadScore, ScoreModel, ScoreRuleSet
from crmlite.domain.errors import PermissionDenied
from crmlite.domain.principal import Principal
from crmlite.domain.score_rules import parse_rules
from crmlite.services.common import utc_now
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.score_training import train_and_record
from crmlite.services.scoring import rules_document


@dataclass(frozen=True, slots=True)
class ScoringStatus:
    """What a head sees: the rules in force, the latest training and which score is used."""

    rules: dict[str, Any]
    rules_version: int | None
    training: ScoreModel | None

    @property
    def method(self) -> str:
        """``learned`` when the latest training beat the rules, else ``rules``."""
        return "learned" if self.training and self.training.status == "in-use" else "rules"


class ScoringService:
    """Scores and their configuration, for one principal."""

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    async def score_of(self, subject: str, subject_id: int) -> LeadScore | None:
        """The stored score of a contact or deal the principal may see (404 otherwise)."""
        if subject == "contact":
            await ContactService(self.session, self.principal).get(subject_id)
        else:
            await DealService(self.session, self.principal).get(subject_id)
        return await self.session.get(LeadScore, (subject, subject_id))

    async def status(self) -> ScoringStatus:
        """The rules and the latest training (heads and admins)."""
        self._require_head()
        document, version = await rules_document(self.session)
        latest = await self.session.scalar(
            select(ScoreModel).order_by(ScoreModel.id.desc()).limit(1)
        )
        return ScoringStatus(document, version, latest)

    async def save_rules(self, document: Mapping[str, Any]) -> int:
        """Validate and store a new rules version (admins); every score follows at the next pass."""
        if not self.principal.is_admin:
            raise PermissionDenied("only admins change the scoring rules")
        parse_rules(document)
        row = ScoreRuleSet(
            document=dict(document), created_at=utc_now(), created_by_id=self.principal.user_id
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def train(
        self, *, min_won: int, min_lost: int, now: dt.datetime | None = None
    ) -> ScoreModel:
        """Train the learned score on the history now (heads and admins)."""
        self._require_head()
        return await train_and_record(
            self.session,
            min_won=min_won,
            min_lost=min_lost,
            now=now or utc_now(),
            by_user_id=self.principal.user_id,
        )

    def _require_head(self) -> None:
        if not self.principal.sees_everything:
            raise PermissionDenied("only heads of sales and admins see the scoring's set-up")
