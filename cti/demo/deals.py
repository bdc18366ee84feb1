"""Deals with a past: each walks its pipeline's stages over days and weeks, and ends won, lost
or still open, never later than now. Pure planning (rows as dicts); ``cti.demo.seed`` stores them.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from crmlite.domain.product_text import ProductText, fill_caller
from cti.demo.vocabulary import DemoWords

DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class StageSlot:
    id: int
    kind: str  # open, won, lost
    is_unsorted: bool


@dataclass(frozen=True, slots=True)
class PipelinePlan:
    id: int
    stages: tuple[StageSlot, ...]  # board order, Unsorted first
    weight: int  # share of the demo's deals
    amounts: tuple[int, int]  # range of deal amounts, RUB

    @property
    def unsorted(self) -> StageSlot:
        return self.stages[0]

    @property
    def opens(self) -> list[StageSlot]:
        return [s for s in self.stages if s.kind == "open" and not s.is_unsorted]

    def closing(self, kind: str) -> StageSlot:
        return next(s for s in self.stages if s.kind == kind)


@dataclass(frozen=True, slots=True)
class ContactRef:
    """What a deal needs of its contact."""

    id: int
    name: str
    company: str | None
    owner_id: int | None
    created_at: dt.datetime
    phone: str  # E.164
    campaign_id: int | None


@dataclass
class DealPlan:
    contact: ContactRef
    pipeline: PipelinePlan
    owner_id: int | None
    source: str
    title: str
    amount: Decimal
    created_at: dt.datetime
    # (stage, entered at), in time order; the last is where the deal is now.
    path: list[tuple[StageSlot, dt.datetime]] = field(default_factory=list)
    lost_reason: str | None = None

    @property
    def stage(self) -> StageSlot:
        return self.path[-1][0]

    @property
    def closed_at(self) -> dt.datetime | None:
        return self.path[-1][1] if self.stage.kind != "open" else None

    def row(self) -> dict[str, object]:
        """The ``deals`` row (without its id)."""
        last = self.path[-1][1]
        return {
            "title": self.title[:200],
            "amount": self.amount,
            "currency": "RUB",
            "contact_id": self.contact.id,
            "owner_id": self.owner_id,
            "pipeline_id": self.pipeline.id,
            "stage_id": self.stage.id,
            "source": self.source,
            "lost_reason": self.lost_reason,
            "expected_close_date": None,
            "created_at": self.created_at,
            "updated_at": last,
            "stage_entered_at": last,
            "closed_at": self.closed_at,
            "version": len(self.path),
            "first_campaign_id": self.contact.campaign_id,
            "latest_campaign_id": self.contact.campaign_id,
        }


def plan_deals(
    rng: random.Random,
    now: dt.datetime,
    contacts: list[ContactRef],
    pipelines: list[PipelinePlan],
    words: DemoWords,
    text: ProductText,
    count: int,
) -> list[DealPlan]:
    """``count`` deals on ``contacts`` (owned ones), created after their contact, walked to now."""
    owned = [c for c in contacts if c.owner_id is not None]
    plans: list[DealPlan] = []
    weights = [p.weight for p in pipelines]
    for index in range(count):
        contact = owned[index % len(owned)] if index < len(owned) else rng.choice(owned)
        pipeline = rng.choices(pipelines, weights)[0]
        created = contact.created_at + dt.timedelta(hours=rng.expovariate(1 / 120))
        if created >= now - dt.timedelta(hours=2):
            created = now - dt.timedelta(hours=rng.uniform(2, 48))
        source = rng.choices(("call", "manual", "import"), weights=(55, 35, 10))[0]
        if source == "call":
            title = fill_caller(text.call_deal_title, contact.name)
        else:
            title = f"{contact.company or contact.name}: {rng.choice(words.topics)}"
        low, high = pipeline.amounts
        plan = DealPlan(
            contact=contact,
            pipeline=pipeline,
            owner_id=contact.owner_id,
            source=source,
            title=title,
            amount=Decimal(rng.randrange(low, high, 5_000)),
            created_at=created,
        )
        _walk(rng, now, plan, words)
        plans.append(plan)
    _leave_some_unsorted(plans, now)
    return plans


def _walk(rng: random.Random, now: dt.datetime, plan: DealPlan, words: DemoWords) -> None:
    """Move the deal stage by stage; every step takes from hours to days, and none passes now."""
    pipeline = plan.pipeline
    opens = pipeline.opens
    start = pipeline.unsorted if plan.source == "call" or rng.random() < 0.3 else opens[0]
    at = plan.created_at
    plan.path.append((start, at))
    position = -1 if start.is_unsorted else 0
    while True:
        at += dt.timedelta(hours=rng.uniform(4, 24 * 9))
        if at >= now or rng.random() < 0.07:
            return  # still open: in work, or stuck where it is (the board shows both)
        if position >= 0 and rng.random() < 0.08:
            plan.path.append((pipeline.closing("lost"), at))
            plan.lost_reason = rng.choice(words.loss_reasons) if rng.random() < 0.9 else None
            return
        if position + 1 < len(opens):
            position += 1
            plan.path.append((opens[position], at))
            if position >= 1 and rng.random() < 0.07:
                # Back one step: the customer wants another look (the funnel counts it once).
                at += dt.timedelta(hours=rng.uniform(4, 48))
                if at >= now:
                    return
                position -= 1
                plan.path.append((opens[position], at))
            continue
        won = rng.random() < 0.68
        plan.path.append((pipeline.closing("won" if won else "lost"), at))
        if not won:
            plan.lost_reason = rng.choice(words.loss_reasons)
        return


def _leave_some_unsorted(plans: list[DealPlan], now: dt.datetime) -> None:
    """The newest call deals still wait in Unsorted, a few of them for anyone to claim."""
    recent = [p for p in plans if p.source == "call" and now - p.created_at < 12 * DAY]
    for turn, plan in enumerate(recent[:14]):
        plan.path = [(plan.pipeline.unsorted, plan.created_at)]
        plan.lost_reason = None
        if turn % 2 == 0:
            plan.owner_id = None
