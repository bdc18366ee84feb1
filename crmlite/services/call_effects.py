"""The bookkeeping of one call event's CRM work: the call's effect rows and who called.

``CallEffectLedger`` reads the call's ``call_effects`` rows once and records new ones (the keys
that guard a racing writer are flushed at once, the rest in one batch); ``CallerLabel`` reads the
caller's name for titles only when a new deal or task needs one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import CallEffect
from crmlite.domain.errors import InvalidInput
from crmlite.domain.phones import NormalizedPhone, PhoneKind, PhoneRules, normalize_phone
from crmlite.services.call_work import CallWork
from crmlite.services.caller_label import caller_label

_GUARDS = frozenset({"contact", "deal"})


class CallEffectLedger:
    """The effect rows of one call, read once and appended to as effects are applied."""

    def __init__(self, session: AsyncSession, linkedid: str, at: dt.datetime) -> None:
        self.session = session
        self.linkedid = linkedid
        self.at = at
        self.rows: dict[str, CallEffect] = {}
        self.applied: list[str] = []
        # Rows this event made, held so the session's (weak) identity map keeps them for the
        # owner and call log steps instead of reading them back.
        self.made: list[object] = []
        self.contact_name: str | None = None  # the caller's contact's name, once known

    async def load(self) -> None:
        rows = await self.session.scalars(
            select(CallEffect).where(CallEffect.linkedid == self.linkedid)
        )
        self.rows = {row.effect: row for row in rows}

    def get(self, key: str) -> CallEffect | None:
        return self.rows.get(key)

    async def add(self, key: str, rule_id: str | None, **refs: int | bool | None) -> CallEffect:
        row = CallEffect(linkedid=self.linkedid, effect=key, rule_id=rule_id, created_at=self.at)
        for name, value in refs.items():
            setattr(row, name, value)
        row.created = bool(refs.get("created", False))
        self.session.add(row)
        if key in _GUARDS:
            # Flushed at once: a concurrent writer of the same call fails here, before more
            # work. The other keys go out with the next statement or the commit, in one batch;
            # a duplicate among them still fails the transaction, which the retry then skips.
            await self.session.flush()
        self.rows[key] = row
        self.applied.append(key)
        return row


def customer_phone(raw: str | None, rules: PhoneRules) -> NormalizedPhone | None:
    """The customer's number in E.164 (or digits), None for extensions and non-numbers."""
    if not raw:
        return None
    try:
        phone = normalize_phone(raw, rules)
    except InvalidInput:
        return None
    return None if phone.kind is PhoneKind.EXTENSION else phone


class CallerLabel:
    """Who called, in words, read only when a title needs it (a new deal or task)."""

    def __init__(
        self,
        session: AsyncSession,
        work: CallWork,
        contact_id: int | None,
        phone: NormalizedPhone | None,
        rules: PhoneRules,
        contact_name: str | None,
    ) -> None:
        self._args = (session, work, contact_id, phone, rules)
        self._contact_name = contact_name
        self._label: str | None = None

    async def label(self) -> str:
        if self._label is None:
            self._label = await caller_label(*self._args, contact_name=self._contact_name)
        return self._label
