"""Lead scores kept current: load what feeds a score, compute it (crmlite.domain), store it.

A batch of leads is read with a fixed number of statements (the leads, their first phones, their
calls, their last notes), so rescoring one deal after a call and rescoring every open deal at night
are the same code. A closed deal is not rescored: it keeps the score it had when it closed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import (
    Activity,
    Campaign,
    Contact,
    ContactPhone,
    Deal,
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
    connection = await session.connection()
    return {
        row.id: row.name for row in await connection.execute(select(Campaign.id, Campaign.name))
    }


async def _attach(
    session: AsyncSession, leads: Sequence[_Lead], *, deal_calls: bool
) -> tuple[dict[int, str], dict[int, dt.datetime]]:
    """Fill each lead's calls; answer the contacts' first phones and last notes.

    A contact's activities are read by its index (contact, time) and sorted out here: asking the
    database for calls only lets its planner pick the calls-by-time index and scan them all.
    """
    # Core statements on the session's connection: rows as tuples, no ORM bookkeeping per row.
    connection = await session.connection()
    contact_ids = sorted({lead.contact_id for lead in leads if lead.contact_id is not None})
    phones: dict[int, str] = {}
    notes: dict[int, dt.datetime] = {}
    by_contact: dict[int, list[CallFact]] = defaultdict(list)
    by_deal: dict[int, list[CallFact]] = defaultdict(list)
    if contact_ids:
        for contact_id, normalized in await connection.execute(
            select(ContactPhone.contact_id, ContactPhone.normalized)
            .where(ContactPhone.contact_id.in_(contact_ids), ContactPhone.kind == "e164")
            .order_by(ContactPhone.id)
        ):
            phones.setdefault(contact_id, normalized)
        rows = await connection.execute(_ACTIVITIES.where(Activity.contact_id.in_(contact_ids)))
        for row in rows:
            _sort_activity(row, by_contact, notes)
    orphans = [lead.subject_id for lead in leads if deal_calls and lead.contact_id is None]
    if orphans:
        rows = await connection.execute(
            _ACTIVITIES.where(Activity.deal_id.in_(orphans), Activity.contact_id.is_(None))
        )
        for row in rows:
            if row.kind == "call" and row.started_at is not None and row.deal_id is not None:
                by_deal[row.deal_id].append(_call(row))
    for lead in leads:
        if lead.contact_id is not None:
            lead.calls = by_contact.get(lead.contact_id, [])
        elif deal_calls:
            lead.calls = by_deal.get(lead.subject_id, [])
    return phones, notes


_ACTIVITIES = select(
    Activity.contact_id,
    Activity.deal_id,
    Activity.kind,
    Activity.created_at,
    Activity.direction,
    Activity.started_at,
    Activity.answered_at,
    Activity.ended_at,
)


def _call(row: Any) -> CallFact:
    return CallFact(row.direction or "inbound", row.started_at, row.answered_at, row.ended_at)


def _sort_activity(
    row: Any, calls: dict[int, list[CallFact]], notes: dict[int, dt.datetime]
) -> None:
    contact_id = row.contact_id
    if row.kind == "call" and row.started_at is not None:
        calls[contact_id].append(_call(row))
    elif row.kind == "note" and (contact_id not in notes or row.created_at > notes[contact_id]):
        notes[contact_id] = row.created_at


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
    connection = await session.connection()
    rows = await connection.execute(
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


async def contacts_and_open_deals(
    session: AsyncSession, contact_ids: Iterable[int], now: dt.datetime
) -> tuple[dict[int, LeadFeatures], dict[int, LeadFeatures]]:
    """Features of contacts and of their open deals as of ``now``, read together.

    An open deal is read through its contact (the same calls, phone and notes), with its own
    source, campaign and amount; the contact came the way its first deal did, and is worth what
    its open deals are.
    """
    ids = sorted(set(contact_ids))
    if not ids:
        return {}, {}
    connection = await session.connection()
    rows = await connection.execute(
        select(Contact.id, Contact.first_campaign_id).where(Contact.id.in_(ids))
    )
    leads = {cid: _Lead(cid, cid, None, campaign_id, 0.0) for cid, campaign_id in rows}
    if not leads:
        return {}, {}
    deals = await connection.execute(
        select(
            Deal.id, Deal.contact_id, Deal.source, Deal.first_campaign_id, Deal.amount, Stage.kind
        )
        .join(Stage, Stage.id == Deal.stage_id)
        .where(Deal.contact_id.in_(list(leads)))
        .order_by(Deal.created_at, Deal.id)
    )
    open_deals: list[tuple[int, int, str, int | None, float]] = []
    for deal_id, contact_id, source, campaign_id, amount, kind in deals:
        if contact_id is None:
            continue  # not possible by the query; narrows the type
        lead = leads[contact_id]
        lead.source = lead.source or source
        lead.campaign_id = lead.campaign_id or campaign_id
        if kind == "open":
            lead.amount += float(amount)
            open_deals.append((deal_id, contact_id, source, campaign_id, float(amount)))
    phones, notes = await _attach(session, list(leads.values()), deal_calls=False)
    names = await _campaign_names(session)
    contacts = {
        cid: extract_features(_facts(lead, phones, notes, names), now)
        for cid, lead in leads.items()
    }
    return contacts, {
        deal_id: dataclasses.replace(
            contacts[contact_id],
            source=source,
            campaign=names.get(campaign_id) if campaign_id is not None else None,
            amount=amount,
        )
        for deal_id, contact_id, source, campaign_id, amount in open_deals
    }


_SCORE_COLUMNS = ("score", "method", "factors", "computed_at")


async def _store(
    session: AsyncSession,
    subject: str,
    scores: Mapping[int, Score],
    now: dt.datetime,
) -> None:
    """Write ``scores`` in one upsert (one prepared statement for the whole batch)."""
    if not scores:
        return
    table = cast(Table, LeadScore.__table__)
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql_insert(table)
    else:
        statement = sqlite_insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["subject", "subject_id"],
        set_={column: statement.excluded[column] for column in _SCORE_COLUMNS},
    )
    await session.execute(
        statement,
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


async def _score_contacts(
    session: AsyncSession, scorer: Scorer, ids: Sequence[int], now: dt.datetime
) -> tuple[int, int]:
    """Score and store contacts and their open deals, ``BATCH`` contacts at a time."""
    contacts_written = deals_written = 0
    for start in range(0, len(ids), BATCH):
        contacts, deals = await contacts_and_open_deals(session, ids[start : start + BATCH], now)
        await _store(session, "contact", {i: scorer.score(f) for i, f in contacts.items()}, now)
        await _store(session, "deal", {i: scorer.score(f) for i, f in deals.items()}, now)
        contacts_written += len(contacts)
        deals_written += len(deals)
    return contacts_written, deals_written


async def _score_deals(
    session: AsyncSession, scorer: Scorer, ids: Sequence[int], now: dt.datetime
) -> int:
    """Score and store open deals read on their own (deals without a contact)."""
    written = 0
    for start in range(0, len(ids), BATCH):
        features = await deal_features(session, ids[start : start + BATCH], now)
        await _store(session, "deal", {i: scorer.score(f) for i, f in features.items()}, now)
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
    """Rescore these contacts with their open deals, and these deals; how many were written."""
    contacts = set(contact_ids)
    deals = sorted(set(deal_ids))
    orphans = []
    for start in range(0, len(deals), BATCH):
        rows = await session.execute(
            select(Deal.id, Deal.contact_id).where(Deal.id.in_(deals[start : start + BATCH]))
        )
        for deal_id, contact_id in rows:
            if contact_id is None:
                orphans.append(deal_id)
            else:
                contacts.add(contact_id)
    scored_contacts, scored_deals = await _score_contacts(session, scorer, sorted(contacts), now)
    return scored_contacts + scored_deals + await _score_deals(session, scorer, orphans, now)


async def rescore_everything(
    sessions: async_sessionmaker[AsyncSession], now: dt.datetime, *, batch: int = 5000
) -> dict[str, int]:
    """Every contact and open deal again, in batches of their own transactions (keyset paged)."""
    async with sessions() as session:
        scorer = await scorer_in_force(session)
    counts = {"contacts": 0, "deals": 0}
    after = 0
    while True:
        async with sessions.begin() as session:
            query = select(Contact.id).where(Contact.id > after).order_by(Contact.id).limit(batch)
            ids = list(await session.scalars(query))
            if not ids:
                break
            contacts, deals = await _score_contacts(session, scorer, ids, now)
            counts["contacts"] += contacts
            counts["deals"] += deals
            after = ids[-1]
    after = 0
    while True:
        async with sessions.begin() as session:
            orphans = select(Deal.id).join(Stage, Stage.id == Deal.stage_id)
            query = orphans.where(Deal.id > after, Deal.contact_id.is_(None), Stage.kind == "open")
            ids = list(await session.scalars(query.order_by(Deal.id).limit(batch)))
            if not ids:
                break
            counts["deals"] += await _score_deals(session, scorer, ids, now)
            after = ids[-1]
    return counts


async def lead_scores(session: AsyncSession, subject: str, ids: Sequence[int]) -> dict[int, int]:
    """The stored scores of these contacts or deals (ids a caller has already checked access to)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(LeadScore.subject_id, LeadScore.score).where(
            LeadScore.subject == subject, LeadScore.subject_id.in_(list(ids))
        )
    )
    return {subject_id: score for subject_id, score in rows}
