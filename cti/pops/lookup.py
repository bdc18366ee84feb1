"""What a card shows about the caller, read with a fixed number of queries (no N+1).

One query finds the contact (with its owner) by the normalized number, one reads the open deals
(with stage, pipeline and owner), one the last activities (with their authors): three statements
whatever the contact's history, one when the number is unknown, and a fourth for a contact in the
public pool (who had it last, and why it came back).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, and_, bindparam, select
from sqlalchemy.orm import aliased

from crmlite.db.models import (
    Activity,
    Contact,
    ContactPhone,
    ContactPoolEvent,
    Deal,
    LeadScore,
    Pipeline,
    Stage,
    User,
)
from crmlite.db.one_hop import OneHop
from crmlite.domain.errors import InvalidInput
from crmlite.domain.phones import PhoneKind, PhoneRules, display_phone, normalize_phone

T = TypeVar("T")

LAST_ACTIVITIES = 5
MAX_OPEN_DEALS = 20


@dataclass(frozen=True, slots=True)
class CallerNumber:
    """The caller's number as the PBX gave it, in E.164 and formatted for people."""

    raw: str | None
    e164: str | None
    display: str
    key: str | None = None  # what the CRM stores in contact_phones.normalized

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {"raw": self.raw, "e164": self.e164, "display": self.display}


@dataclass(frozen=True, slots=True)
class CallerInfo:
    """The CRM's view of a caller: contact, owner, open deals, last activities (JSON-ready)."""

    contact: dict[str, Any] | None = None
    owner: dict[str, Any] | None = None
    deals: tuple[dict[str, Any], ...] = ()
    activities: tuple[dict[str, Any], ...] = ()
    looks_like: tuple[dict[str, Any], ...] = ()  # likely duplicates of the contact (查重)
    # Set when the contact sits in the public pool: since, previous_owner, reason, ring.
    pool: dict[str, Any] | None = None
    # The contact's lead score: value, method and its top factors (docs/SCORING.md).
    score: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The CRM part of a card: contact, owner, deals, activities, looks-like hint, pool."""
        return {
            "contact": self.contact,
            "owner": self.owner,
            "deals": list(self.deals),
            "activities": list(self.activities),
            "looks_like": list(self.looks_like),
            "pool": self.pool,
            "score": self.score,
        }


UNKNOWN_CALLER = CallerInfo()


class CallerLookup(Protocol):
    """Reads what the CRM knows about a number or a contact."""

    async def by_number(self, key: str) -> CallerInfo:
        """Everything a card shows about the contact owning number ``key`` (empty if none)."""
        ...

    async def by_contact(self, contact_id: int) -> CallerInfo:
        """The same, for a contact known by id."""
        ...

    async def stage_options(self, pipeline_id: int | None) -> list[dict[str, Any]]:
        """The stages of ``pipeline_id`` (the default pipeline when None), in board order."""
        ...


@functools.lru_cache(maxsize=4096)
def format_number(raw: str | None, region: str, extension_pattern: str) -> CallerNumber:
    """Normalize ``raw`` as the CRM does, and format it for people (national at home).

    Cached: the same DIDs and returning callers come again and again, and parsing is not free.
    """
    if not raw:
        return CallerNumber(raw=raw, e164=None, display="unknown", key=None)
    try:
        phone = normalize_phone(raw, PhoneRules(region, extension_pattern))
    except InvalidInput:
        return CallerNumber(raw=raw, e164=None, display=raw, key=None)
    if phone.kind is PhoneKind.EXTENSION:
        return CallerNumber(raw=raw, e164=None, display=phone.normalized, key=None)
    if phone.kind is PhoneKind.OTHER:
        return CallerNumber(raw=raw, e164=None, display=raw, key=phone.normalized)
    display = display_phone(phone.normalized, region)
    return CallerNumber(raw=raw, e164=phone.normalized, display=display, key=phone.normalized)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _user(user_id: int | None, name: str | None) -> dict[str, Any] | None:
    return None if user_id is None else {"id": user_id, "name": name}


_OWNER = aliased(User)
_DEAL_OWNER = aliased(User)
_AUTHOR = aliased(User)
_CONTACT_SCORE = aliased(LeadScore)
_DEAL_SCORE = aliased(LeadScore)

# Built once: statements with bound parameters hit SQLAlchemy's compiled cache on every call.
_CONTACT = (
    select(
        Contact.id,
        Contact.name,
        Contact.company,
        Contact.email,
        Contact.owner_id,
        Contact.pooled_at,
        _OWNER.display_name.label("owner_name"),
        _CONTACT_SCORE.score,
        _CONTACT_SCORE.method.label("score_method"),
        _CONTACT_SCORE.factors.label("score_factors"),
    )
    .outerjoin(_OWNER, _OWNER.id == Contact.owner_id)
    .outerjoin(
        _CONTACT_SCORE,
        and_(_CONTACT_SCORE.subject == "contact", _CONTACT_SCORE.subject_id == Contact.id),
    )
)
_CONTACT_BY_PHONE = (
    _CONTACT.join(ContactPhone, ContactPhone.contact_id == Contact.id)
    .where(ContactPhone.normalized == bindparam("key"))
    .limit(1)
)
_CONTACT_BY_ID = _CONTACT.where(Contact.id == bindparam("contact_id"))
_OPEN_DEALS = (
    select(
        Deal.id,
        Deal.title,
        Deal.amount,
        Deal.currency,
        Deal.owner_id,
        Deal.version,
        _DEAL_OWNER.display_name.label("owner_name"),
        Stage.id.label("stage_id"),
        Stage.name.label("stage_name"),
        Stage.is_unsorted,
        Pipeline.id.label("pipeline_id"),
        Pipeline.name.label("pipeline_name"),
        _DEAL_SCORE.score,
    )
    .join(Stage, Stage.id == Deal.stage_id)
    .outerjoin(_DEAL_SCORE, and_(_DEAL_SCORE.subject == "deal", _DEAL_SCORE.subject_id == Deal.id))
    .join(Pipeline, Pipeline.id == Deal.pipeline_id)
    .outerjoin(_DEAL_OWNER, _DEAL_OWNER.id == Deal.owner_id)
    .where(Deal.contact_id == bindparam("contact_id"), Stage.kind == "open")
    .order_by(Deal.updated_at.desc(), Deal.id.desc())
    .limit(MAX_OPEN_DEALS)
)
_LAST_ACTIVITIES = (
    select(
        Activity.id,
        Activity.kind,
        Activity.created_at,
        Activity.body,
        Activity.title,
        Activity.direction,
        Activity.outcome,
        Activity.duration_s,
        Activity.deal_id,
        Activity.due_at,
        Activity.done_at,
        Activity.author_id,
        _AUTHOR.display_name.label("author_name"),
    )
    .outerjoin(_AUTHOR, _AUTHOR.id == Activity.author_id)
    .where(Activity.contact_id == bindparam("contact_id"))
    .order_by(Activity.created_at.desc(), Activity.id.desc())
    .limit(LAST_ACTIVITIES)
)
_PREVIOUS = aliased(User)
# The event that put the contact in the pool: its latest return or release (per-contact index).
_POOL_ENTRY = (
    select(
        ContactPoolEvent.kind,
        ContactPoolEvent.reason,
        ContactPoolEvent.from_user_id,
        _PREVIOUS.display_name.label("from_name"),
    )
    .outerjoin(_PREVIOUS, _PREVIOUS.id == ContactPoolEvent.from_user_id)
    .where(
        ContactPoolEvent.contact_id == bindparam("contact_id"),
        ContactPoolEvent.kind.in_(("returned", "released")),
    )
    .order_by(ContactPoolEvent.at.desc(), ContactPoolEvent.id.desc())
    .limit(1)
)
_STAGES = (
    select(Stage.id, Stage.name, Stage.kind, Stage.pipeline_id)
    .where(Stage.archived_at.is_(None))
    .order_by(Stage.position)
)
_DEFAULT_PIPELINE_STAGES = _STAGES.join(Pipeline, Pipeline.id == Stage.pipeline_id).where(
    Pipeline.is_default.is_(True)
)
_PIPELINE_STAGES = _STAGES.where(Stage.pipeline_id == bindparam("pipeline_id"))


def read_pool(
    connection: Connection, contact_id: int, since: dt.datetime, ring: str
) -> dict[str, Any]:
    """What the card says of a pool contact: since when, who had it, why it came back."""
    entry = connection.execute(_POOL_ENTRY, {"contact_id": contact_id}).first()
    return {
        "since": _iso(since),
        "previous_owner": _user(entry.from_user_id, entry.from_name) if entry else None,
        "kind": entry.kind if entry else None,
        "reason": entry.reason if entry else None,
        "ring": ring,
    }


def read_card(
    connection: Connection,
    *,
    key: str | None = None,
    contact_id: int | None = None,
    pool_ring: str = "previous_owner",
) -> CallerInfo:
    """Read a card's CRM part on a (sync) connection: three statements, or one when unknown."""
    if key is not None:
        contact = connection.execute(_CONTACT_BY_PHONE, {"key": key}).first()
    else:
        contact = connection.execute(_CONTACT_BY_ID, {"contact_id": contact_id}).first()
    if contact is None:
        return UNKNOWN_CALLER
    deals = connection.execute(_OPEN_DEALS, {"contact_id": contact.id}).all()
    activities = connection.execute(_LAST_ACTIVITIES, {"contact_id": contact.id}).all()
    pooled_at = contact.pooled_at
    return CallerInfo(
        pool=read_pool(connection, contact.id, pooled_at, pool_ring) if pooled_at else None,
        contact={
            "id": contact.id,
            "name": contact.name,
            "company": contact.company,
            "email": contact.email,
        },
        owner=_user(contact.owner_id, contact.owner_name),
        score=(
            None
            if contact.score is None
            else {
                "value": contact.score,
                "method": contact.score_method,
                "factors": contact.score_factors,
            }
        ),
        deals=tuple(
            {
                "id": d.id,
                "title": d.title,
                "amount": str(d.amount),
                "currency": d.currency,
                "version": d.version,
                "owner": _user(d.owner_id, d.owner_name),
                "stage": {"id": d.stage_id, "name": d.stage_name, "unsorted": d.is_unsorted},
                "pipeline": {"id": d.pipeline_id, "name": d.pipeline_name},
                "score": d.score,
            }
            for d in deals
        ),
        activities=tuple(
            {
                "id": a.id,
                "kind": a.kind,
                "at": _iso(a.created_at),
                "body": a.body,
                "title": a.title,
                "direction": a.direction,
                "outcome": a.outcome,
                "duration_s": a.duration_s,
                "deal_id": a.deal_id,
                "due_at": _iso(a.due_at),
                "done_at": _iso(a.done_at),
                "author": _user(a.author_id, a.author_name),
            }
            for a in activities
        ),
    )


def read_stages(connection: Connection, pipeline_id: int | None) -> list[dict[str, Any]]:
    """The stage picker of ``pipeline_id`` (the default pipeline when None)."""
    if pipeline_id is None:
        rows = connection.execute(_DEFAULT_PIPELINE_STAGES).all()
    else:
        rows = connection.execute(_PIPELINE_STAGES, {"pipeline_id": pipeline_id}).all()
    return [
        {"id": r.id, "name": r.name, "kind": r.kind, "pipeline_id": r.pipeline_id} for r in rows
    ]


class SqlCallerLookup:
    """``CallerLookup`` over the CRM database (read only, rows not ORM objects).

    On SQLite the whole card is read in ONE hop to a worker thread through the plain sqlite3
    driver: aiosqlite would hop threads a dozen times per card, and each hop contends for the GIL
    with the event loop that is sending the pops. Other backends (asyncpg) run the same
    statements on the async engine.
    """

    def __init__(self, reads: OneHop, *, pool_ring: str = "previous_owner") -> None:
        self._reads = reads  # the app's (ONE_HOP): its owner closes it
        self._pool_ring = pool_ring  # [pool] ring, told on a pool contact's card

    @property
    def statement_engine(self) -> Engine:
        """The engine the statements run on (to count them, or to log them)."""
        return self._reads.statement_engine

    async def by_number(self, key: str) -> CallerInfo:
        """Everything a card shows about the contact owning number ``key``."""
        return await self._run(functools.partial(read_card, key=key, pool_ring=self._pool_ring))

    async def by_contact(self, contact_id: int) -> CallerInfo:
        """The same, for a contact known by id."""
        return await self._run(
            functools.partial(read_card, contact_id=contact_id, pool_ring=self._pool_ring)
        )

    async def stage_options(self, pipeline_id: int | None) -> list[dict[str, Any]]:
        """Stages of the pipeline (or the default one) for the wrap-up's stage picker."""
        return await self._run(functools.partial(read_stages, pipeline_id=pipeline_id))

    async def _run(self, read: Callable[[Connection], T]) -> T:
        return await self._reads.read(read)
