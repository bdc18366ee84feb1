"""The bookkeeping of one call event's CRM work: the call's effect rows and who called.

``CallEffectLedger`` reads the call's ``call_effects`` rows once and records the new ones in one
plain insert at the end of the event, past the unit of work; ``CallerLabel`` reads the caller's
name for titles only when a new deal or task needs one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import CallEffect
from crmlite.domain.errors import InvalidInput
from crmlite.domain.phones import NormalizedPhone, PhoneKind, PhoneRules, normalize_phone
from crmlite.services.call_work import CallWork
from crmlite.services.caller_label import caller_label

_TABLE = cast(Table, CallEffect.__table__)
_INSERT = insert(_TABLE)
_LOAD = select(
    _TABLE.c.effect, _TABLE.c.contact_id, _TABLE.c.deal_id, _TABLE.c.activity_id, _TABLE.c.created
).where(_TABLE.c.linkedid == bindparam("linkedid"))


@dataclass(frozen=True, slots=True)
class EffectRow:
    """What the call's later steps read of one recorded effect."""

    effect: str
    contact_id: int | None
    deal_id: int | None
    activity_id: int | None
    created: bool


class CallEffectLedger:
    """The effect rows of one call, read once and appended to as effects are applied."""

    def __init__(self, session: AsyncSession, linkedid: str, at: dt.datetime) -> None:
        self.session = session
        self.linkedid = linkedid
        self.at = at
        self.rows: dict[str, EffectRow] = {}
        self.applied: list[str] = []
        self._unwritten: list[dict[str, Any]] = []  # rows added but not yet sent (see ``write``)
        # Rows this event inserted, as (table, id) -> the values it wrote that later steps read
        # (owners, pool state, the call log's progress): they are not read back.
        self.fresh: dict[tuple[str, int], dict[str, Any]] = {}
        self.contact_name: str | None = None  # the caller's contact's name, once known

    async def load(self) -> None:
        connection = await self.session.connection()
        result = await connection.execute(_LOAD, {"linkedid": self.linkedid})
        self.rows = {row.effect: EffectRow(*row) for row in result}

    def get(self, key: str) -> EffectRow | None:
        return self.rows.get(key)

    def add(self, key: str, rule_id: str | None, **refs: int | bool | None) -> EffectRow:
        """Record effect ``key``."""
        values: dict[str, Any] = {
            "linkedid": self.linkedid,
            "effect": key,
            "rule_id": rule_id,
            "created_at": self.at,
            "contact_id": None,
            "deal_id": None,
            "activity_id": None,
            "user_id": None,
            **refs,
            "created": bool(refs.get("created", False)),
        }
        # Sent together in ``write``, last: a racing writer of the same call (another instance,
        # a replay) fails there on the unique (linkedid, effect) key, its whole transaction
        # rolls back, and its retry finds the effects recorded.
        self._unwritten.append(values)
        row = EffectRow(
            key, values["contact_id"], values["deal_id"], values["activity_id"], values["created"]
        )
        self.rows[key] = row
        self.applied.append(key)
        return row

    async def write(self) -> None:
        """Send the effect rows not sent yet, in one statement (before the commit)."""
        if self._unwritten:
            rows, self._unwritten = self._unwritten, []
            # On the session's connection, past the ORM's bulk-insert layer: these are values.
            connection = await self.session.connection()
            await connection.execute(_INSERT, rows)


async def recorded_keys(
    session: AsyncSession, linkedids: Sequence[str], *, chunk: int = 500
) -> dict[str, set[str]]:
    """The effect keys each call of ``linkedids`` has recorded (calls with none are absent)."""
    found: dict[str, set[str]] = {}
    unique = list(dict.fromkeys(linkedids))
    for start in range(0, len(unique), chunk):
        rows = await session.execute(
            select(_TABLE.c.linkedid, _TABLE.c.effect).where(
                _TABLE.c.linkedid.in_(unique[start : start + chunk])
            )
        )
        for linkedid, effect in rows:
            found.setdefault(linkedid, set()).add(effect)
    return found


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
