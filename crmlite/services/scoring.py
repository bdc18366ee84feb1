"""Lead scores kept current: load what feeds a score, compute it (crmlite.domain), store it.

A batch of leads is read with a fixed number of statements (the leads, their first phones, their
calls, their last notes), so rescoring one deal after a call and rescoring every open deal at night
are the same code. A closed deal is not rescored: it keeps the score it had when it closed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import (
    Activity,
    Campaign,
    Contact,
    ContactPhone,
    Deal,
    DealStageChange,
    LeadScore,
    ScoreModel,
    ScoreRuleSet,
    Stage,
)
from crmlite.domain.score_features import CallFact, LeadFacts, LeadFeatures, extract_features
from crmlite.domain.score_model import LearnedModel
from crmlite.domain.score_rules import DEFAULT_RULES, Score, ScoreRules, parse_rules

BATCH = 1000
STATUS_IN_USE = "in-use"


@dataclass(frozen=True, slots=True)
class Scorer:
    """What scores leads now: the rules in force, and the learned model when it earned its place."""

    rules: ScoreRules
    model: LearnedModel | None = None
    rules_version: int | None = None  # the score_rule_sets row, None for the built-in rules
    model_version: int | None = None

    def score(self, features: LeadFeatures) -> Score:
        """The learned score when there is one, else the rules'."""
        return self.model.score(features) if self.model is not None else self.rules.score(features)


async def rules_document(session: AsyncSession) -> tuple[dict[str, Any], int | None]:
    """The rules document in force (the newest saved, else the built-in one) and its version."""
    row = await session.scalar(select(ScoreRuleSet).order_by(ScoreRuleSet.id.desc()).limit(1))
    if row is None:
        return DEFAULT_RULES, None
    return dict(row.document), row.id


async def scorer_in_force(session: AsyncSession) -> Scorer:
    """The rules and (when in use) the learned model, as stored."""
    document, version = await rules_document(session)
    rules = parse_rules(document)
    latest = await session.scalar(select(ScoreModel).order_by(ScoreModel.id.desc()).limit(1))
    if latest is None or latest.status != STATUS_IN_USE or latest.model is None:
        return Scorer(rules, None, version, latest.id if latest else None)
    model = LearnedModel.from_dict(latest.model)
    return Scorer(rules, model, version, latest.id)


@dataclass(slots=True)
class _Lead:
    subject_id: int
    contact_id: int | None
    source: str | None
    campaign_id: int | None
    amount: float
    as_of: dt.datetime | None = None  # a closed deal's close; None: now
    calls: list[CallFact] = field(default_factory=list)


async def _campaign_names(session: AsyncSession) -> dict[int, str]:
    return {row.id: row.name for row in await session.execute(select(Campaign.id, Campaign.name))}


async def _attach(
    session: AsyncSession, leads: Sequence[_Lead], *, deal_calls: bool
) -> tuple[dict[int, str], dict[int, dt.datetime]]:
    """Fill each lead's calls; answer the contacts' first phones and last notes."""
    contact_ids = sorted({lead.contact_id for lead in leads if lead.contact_id is not None})
    phones: dict[int, str] = {}
    notes: dict[int, dt.datetime] = {}
    by_contact: dict[int, list[CallFact]] = defaultdict(list)
    by_deal: dict[int, list[CallFact]] = defaultdict(list)
    if contact_ids:
        for contact_id, normalized in await session.execute(
            select(ContactPhone.contact_id, ContactPhone.normalized)
            .where(ContactPhone.contact_id.in_(contact_ids), ContactPhone.kind == "e164")
            .order_by(ContactPhone.id)
        ):
            phones.setdefault(contact_id, normalized)
        for note_of, at in await session.execute(
            select(Activity.contact_id, func.max(Activity.created_at))
            .where(Activity.contact_id.in_(contact_ids), Activity.kind == "note")
            .group_by(Activity.contact_id)
        ):
            if note_of is not None:
                notes[note_of] = at
    orphans = [lead.subject_id for lead in leads if deal_calls and lead.contact_id is None]
    scopes = []
    if contact_ids:
        scopes.append(Activity.contact_id.in_(contact_ids))
    if orphans:
        scopes.append(Activity.deal_id.in_(orphans))
    if scopes:
        rows = await session.execute(
            select(
                Activity.contact_id,
                Activity.deal_id,
                Activity.direction,
                Activity.started_at,
                Activity.answered_at,
                Activity.ended_at,
            ).where(Activity.kind == "call", Activity.started_at.is_not(None), or_(*scopes))
        )
        for call_of, deal_id, direction, started, answered, ended in rows:
            if started is None:
                continue
            fact = CallFact(direction or "inbound", started, answered, ended)
            if call_of is not None:
                by_contact[call_of].append(fact)
            elif deal_id is not None:
                by_deal[deal_id].append(fact)
    for lead in leads:
        if lead.contact_id is not None:
            lead.calls = by_contact.get(lead.contact_id, [])
        elif deal_calls:
            lead.calls = by_deal.get(lead.subject_id, [])
    return phones, notes


def _facts(
    lead: _Lead,
    phones: Mapping[int, str],
    notes: Mapping[int, dt.datetime],
    names: Mapping[int, str],
) -> LeadFacts:
    contact = lead.contact_id
    return LeadFacts(
        source=lead.source,
        campaign=names.get(lead.campaign_id) if lead.campaign_id is not None else None,
        phone_e164=phones.get(contact) if contact is not None else None,
        amount=lead.amount,
        calls=tuple(lead.calls),
        last_note_at=notes.get(contact) if contact is not None else None,
    )


async def deal_features(
    session: AsyncSession, deal_ids: Iterable[int], now: dt.datetime, *, closed: bool = False
) -> dict[int, LeadFeatures]:
    """Features of open deals as of ``now`` (or, with ``closed``, of closed ones as they closed)."""
    ids = sorted(set(deal_ids))
    if not ids:
        return {}
    kinds = ("won", "lost") if closed else ("open",)
    rows = await session.execute(
        select(
            Deal.id,
            Deal.contact_id,
            Deal.source,
            Deal.first_campaign_id,
            Deal.amount,
            Deal.closed_at,
        )
        .join(Stage, Stage.id == Deal.stage_id)
        .where(Deal.id.in_(ids), Stage.kind.in_(kinds))
    )
    leads = [
        _Lead(d.id, d.contact_id, d.source, d.first_campaign_id, float(d.amount), d.closed_at)
        for d in rows
    ]
    phones, notes = await _attach(session, leads, deal_calls=True)
    names = await _campaign_names(session)
    return {
        lead.subject_id: extract_features(_facts(lead, phones, notes, names), lead.as_of or now)
        for lead in leads
    }


async def contact_features(
    session: AsyncSession, contact_ids: Iterable[int], now: dt.datetime
) -> dict[int, LeadFeatures]:
    """Features of contacts as of ``now``: their calls, and their open deals' amount and source."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    deals = await session.execute(
        select(Deal.contact_id, Deal.source, Deal.first_campaign_id, Deal.amount, Stage.kind)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(Deal.contact_id.in_(ids))
        .order_by(Deal.created_at, Deal.id)
    )
    leads = {cid: _Lead(cid, cid, None, None, 0.0) for cid in ids}
    for deal_of, source, campaign_id, amount, kind in deals:
        if deal_of is None:
            continue
        lead = leads[deal_of]
        # The contact came the way its first deal did; it is worth what its open deals are.
        lead.source = lead.source or source
        lead.campaign_id = lead.campaign_id or campaign_id
        if kind == "open":
            lead.amount += float(amount)
    campaigns = await session.execute(
        select(Contact.id, Contact.first_campaign_id).where(Contact.id.in_(ids))
    )
    present = set()
    for contact_id, campaign_id in campaigns:
        present.add(contact_id)
        if campaign_id is not None:
            leads[contact_id].campaign_id = campaign_id
    found = [lead for cid, lead in leads.items() if cid in present]
    phones, notes = await _attach(session, found, deal_calls=False)
    names = await _campaign_names(session)
    return {
        lead.subject_id: extract_features(_facts(lead, phones, notes, names), lead.as_of or now)
        for lead in found
    }


async def _store(
    session: AsyncSession,
    subject: str,
    scores: Mapping[int, Score],
    now: dt.datetime,
) -> None:
    if not scores:
        return
    await session.execute(
        delete(LeadScore).where(
            LeadScore.subject == subject, LeadScore.subject_id.in_(list(scores))
        )
    )
    await session.execute(
        insert(LeadScore),
        [
            {
                "subject": subject,
                "subject_id": subject_id,
                "score": score.value,
                "method": score.method,
                "factors": [factor.to_dict() for factor in score.factors],
                "computed_at": now,
            }
            for subject_id, score in scores.items()
        ],
    )


async def _score_batch(
    session: AsyncSession, scorer: Scorer, subject: str, ids: Sequence[int], now: dt.datetime
) -> int:
    """Score and store ``ids`` (contacts or open deals), ``BATCH`` at a time."""
    written = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        if subject == "contact":
            features = await contact_features(session, chunk, now)
        else:
            features = await deal_features(session, chunk, now)
        await _store(session, subject, {i: scorer.score(f) for i, f in features.items()}, now)
        written += len(features)
    return written


async def rescore(
    session: AsyncSession,
    scorer: Scorer,
    now: dt.datetime,
    *,
    contact_ids: Iterable[int] = (),
    deal_ids: Iterable[int] = (),
) -> int:
    """Rescore these contacts, their open deals and these deals; how many scores were written."""
    contacts = sorted(set(contact_ids))
    deals = set(deal_ids)
    for start in range(0, len(contacts), BATCH):
        deals.update(
            await session.scalars(
                select(Deal.id)
                .join(Stage, Stage.id == Deal.stage_id)
                .where(Deal.contact_id.in_(contacts[start : start + BATCH]), Stage.kind == "open")
            )
        )
    written = await _score_batch(session, scorer, "contact", contacts, now)
    return written + await _score_batch(session, scorer, "deal", sorted(deals), now)


async def rescore_everything(
    sessions: async_sessionmaker[AsyncSession], now: dt.datetime, *, batch: int = 5000
) -> dict[str, int]:
    """Every contact and open deal again, in batches of their own transactions (keyset paged)."""
    async with sessions() as session:
        scorer = await scorer_in_force(session)
    counts = {"contact": 0, "deal": 0}
    for subject, id_column in (("contact", Contact.id), ("deal", Deal.id)):
        after = 0
        while True:
            async with sessions.begin() as session:
                query = select(id_column).where(id_column > after).order_by(id_column).limit(batch)
                if subject == "deal":
                    query = query.join(Stage, Stage.id == Deal.stage_id).where(Stage.kind == "open")
                ids = list(await session.scalars(query))
                if not ids:
                    break
                counts[subject] += await _score_batch(session, scorer, subject, ids, now)
                after = ids[-1]
    return {"contacts": counts["contact"], "deals": counts["deal"]}


@dataclass(frozen=True, slots=True)
class Changes:
    """Leads whose score inputs changed since a mark, and the mark to look from next time."""

    contact_ids: frozenset[int]
    deal_ids: frozenset[int]
    mark: ChangeMark


@dataclass(frozen=True, slots=True)
class ChangeMark:
    activity_id: int = 0
    stage_change_id: int = 0
    at: dt.datetime | None = None  # calls started and deals edited after this (with an overlap)


CALL_OVERLAP = dt.timedelta(hours=4)  # a call that ends now started at most this long ago
EDIT_OVERLAP = dt.timedelta(seconds=15)  # a transaction's clock and its commit may differ


async def current_mark(session: AsyncSession, now: dt.datetime) -> ChangeMark:
    """Where the changes stand now: the newest activity and stage change."""
    activity = await session.scalar(select(func.max(Activity.id)))
    change = await session.scalar(select(func.max(DealStageChange.id)))
    return ChangeMark(activity or 0, change or 0, now)


async def changed_since(session: AsyncSession, mark: ChangeMark, now: dt.datetime) -> Changes:
    """What changed after ``mark``: new activities, ended calls, moves, deal and contact edits.

    Looking back a little further than the mark costs a few rescores of the same leads; missing a
    call that ended late, or a deal edit whose commit came after its timestamp, would cost a
    wrong score until the night. Rescoring is idempotent, so the overlap is the safe side.
    """
    contacts: set[int] = set()
    deals: set[int] = set()
    since = mark.at or now
    new = await session.execute(
        select(Activity.id, Activity.contact_id, Activity.deal_id).where(
            Activity.id > mark.activity_id
        )
    )
    top_activity = mark.activity_id
    for activity_id, contact_id, deal_id in new:
        top_activity = max(top_activity, activity_id)
        _add(contacts, deals, contact_id, deal_id)
    ended_calls = await session.execute(
        select(Activity.contact_id, Activity.deal_id).where(
            Activity.kind == "call",
            Activity.started_at >= since - CALL_OVERLAP,
            Activity.ended_at >= since - EDIT_OVERLAP,
        )
    )
    for contact_id, deal_id in ended_calls:
        _add(contacts, deals, contact_id, deal_id)
    moves = await session.execute(
        select(DealStageChange.id, DealStageChange.deal_id).where(
            DealStageChange.id > mark.stage_change_id
        )
    )
    top_change = mark.stage_change_id
    for change_id, deal_id in moves:
        top_change = max(top_change, change_id)
        deals.add(deal_id)
    edited = await session.execute(
        select(Deal.id, Deal.contact_id).where(Deal.updated_at >= since - EDIT_OVERLAP)
    )
    for deal_id, contact_id in edited:
        _add(contacts, deals, contact_id, deal_id)
    contacts.update(
        await session.scalars(select(Contact.id).where(Contact.updated_at >= since - EDIT_OVERLAP))
    )
    return Changes(frozenset(contacts), frozenset(deals), ChangeMark(top_activity, top_change, now))


def _add(contacts: set[int], deals: set[int], contact_id: int | None, deal_id: int | None) -> None:
    if contact_id is not None:
        contacts.add(contact_id)
    if deal_id is not None:
        deals.add(deal_id)
