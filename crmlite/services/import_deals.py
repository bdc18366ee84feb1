"""Apply imported deal rows: pipeline and stage by name, owner by login, contact by phone or email.

Deals have no natural key, so each applied row's content key goes to ``imported_rows``: the same
file imported again creates no deal twice. Each row is created through ``DealService`` (stage
rules, a lost stage needing its reason, the stage history) inside a savepoint, dated at the row's
historic creation date when it has one; a row the rules refuse is reported and the batch goes on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact, ImportedRow, Pipeline, Stage, User
from crmlite.domain.clock import Clock
from crmlite.domain.errors import DomainError, InvalidInput
from crmlite.domain.import_rows import CellError, ContactRef, DealRecord
from crmlite.domain.principal import Principal
from crmlite.domain.stages import DealSource
from crmlite.domain.tabular import TableRow
from crmlite.services.common import utc_now
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.emails import contacts_with_email
from crmlite.services.import_contacts import row_errors
from crmlite.services.import_report import RowReport, RowStatus
from crmlite.services.phones import PhoneInput, find_phone_owner

# Which mapped field a service's InvalidInput field names.
_SERVICE_FIELDS = {
    "title": "title",
    "amount": "amount",
    "currency": "currency",
    "lost_reason": "lost_reason",
    "stage_id": "stage",
    "pipeline_id": "pipeline",
    "owner_id": "owner",
    "contact_id": "contact",
    "name": "contact",
}


class DealImporter:
    """Creates deal rows for one principal; ``load`` once, then ``apply`` batches."""

    def __init__(
        self, principal: Principal, *, owner_id: int | None = None, clock: Clock = utc_now
    ) -> None:
        self.principal = principal
        self.default_owner = owner_id if principal.sees_everything and owner_id else None
        self.clock = clock
        self.columns: dict[str, str] = {}
        self.pipelines: dict[str, int] = {}
        self.stages: dict[tuple[int, str], int] = {}
        self.default_pipeline: int | None = None
        self.logins: dict[str, int] = {}
        self.keys: set[str] = set()

    async def load(self, session: AsyncSession, columns: dict[str, str]) -> None:
        """Read pipelines, their live stages and active logins once."""
        self.columns = columns
        pipelines = await session.execute(
            select(Pipeline.id, Pipeline.name).order_by(
                Pipeline.is_default.desc(), Pipeline.position, Pipeline.id
            )
        )
        for pid, name in pipelines:
            self.pipelines.setdefault(name.casefold(), pid)
            self.default_pipeline = self.default_pipeline or pid
        stages = await session.execute(
            select(Stage.pipeline_id, Stage.name, Stage.id).where(Stage.archived_at.is_(None))
        )
        self.stages = {(pid, name.casefold()): sid for pid, name, sid in stages}
        logins = await session.execute(select(User.login, User.id).where(User.active.is_(True)))
        self.logins = {login.casefold(): uid for login, uid in logins}

    async def apply(
        self, session: AsyncSession, rows: Sequence[tuple[TableRow, object]]
    ) -> list[RowReport]:
        keys = [r.key for _, r in rows if isinstance(r, DealRecord)]
        known: dict[str, int | None] = {}
        if keys:
            found = await session.execute(
                select(ImportedRow.row_key, ImportedRow.entity_id).where(
                    ImportedRow.kind == "deals", ImportedRow.row_key.in_(keys)
                )
            )
            known = {key: entity for key, entity in found}
        reports: list[RowReport] = []
        for row, result in rows:
            if isinstance(result, list):
                reports.append(row_errors(row.number, cast(list[CellError], result)))
                continue
            record = cast(DealRecord, result)
            if record.key in known or record.key in self.keys:
                reports.append(
                    RowReport(
                        row.number,
                        RowStatus.UNCHANGED,
                        known.get(record.key),
                        reason="imported before",
                    )
                )
                continue
            try:
                async with session.begin_nested():
                    deal_id = await self._create(session, record)
                    await session.execute(
                        insert(ImportedRow).values(
                            kind="deals", row_key=record.key, entity_id=deal_id
                        )
                    )
            except DomainError as err:
                reports.append(self._refused(row.number, err))
                continue
            self.keys.add(record.key)
            reports.append(RowReport(row.number, RowStatus.CREATED, deal_id))
        return reports

    async def _create(self, session: AsyncSession, record: DealRecord) -> int:
        pipeline_id = self.default_pipeline
        if record.pipeline:
            pipeline_id = self.pipelines.get(record.pipeline.casefold())
            if pipeline_id is None:
                raise InvalidInput(
                    "no pipeline", fields={"pipeline": f"no pipeline {record.pipeline!r}"}
                )
        stage_id = None
        if record.stage and pipeline_id is not None:
            stage_id = self.stages.get((pipeline_id, record.stage.casefold()))
            if stage_id is None:
                raise InvalidInput(
                    "no stage", fields={"stage": f"no stage {record.stage!r} in this pipeline"}
                )
        owner = self._owner(record)
        moment = record.created_at or self.clock()
        contact_id = await self._contact(session, record.contact, owner, moment)
        deals = DealService(session, self.principal, clock=lambda: moment)
        deal = await deals.create(
            record.title,
            pipeline_id=pipeline_id,
            stage_id=stage_id,
            amount=record.amount,
            currency=record.currency or "RUB",
            contact_id=contact_id,
            owner_id=owner,
            source=DealSource.IMPORT,
            expected_close_date=record.expected_close_date,
            lost_reason=record.lost_reason,
        )
        return deal.id

    def _owner(self, record: DealRecord) -> int | None:
        if not self.principal.sees_everything:
            return self.principal.user_id
        if record.owner:
            uid = self.logins.get(record.owner.casefold())
            if uid is None:
                raise InvalidInput("no owner", fields={"owner": f"no active user {record.owner!r}"})
            return uid
        return self.default_owner or self.principal.user_id

    async def _contact(
        self, session: AsyncSession, ref: ContactRef | None, owner: int | None, at: dt.datetime
    ) -> int | None:
        """The contact the row names (phone, then email, then an exact name), else a new one."""
        if ref is None:
            return None
        candidates: list[tuple[int, int | None]] = []
        if ref.phone:
            match = await find_phone_owner(session, ref.phone)
            if match is not None:
                candidates.append((match.contact_id, match.owner_id))
        if not candidates and ref.email:
            for cid in (await contacts_with_email(session, ref.email))[:1]:
                candidates.append(
                    (cid, await session.scalar(select(Contact.owner_id).where(Contact.id == cid)))
                )
        if not candidates and ref.name:
            named = await session.execute(
                select(Contact.id, Contact.owner_id)
                .where(func.lower(Contact.name) == ref.name.lower())
                .order_by(Contact.id)
                .limit(2)
            )
            candidates = [(cid, oid) for cid, oid in named]
            if len(candidates) > 1:
                raise InvalidInput(
                    "ambiguous", fields={"contact": f"several contacts are named {ref.name!r}"}
                )
        if candidates:
            cid, holder = candidates[0]
            if not self.principal.may_touch(holder):
                raise InvalidInput("not yours", fields={"contact": "belongs to another user"})
            return cid
        contacts = ContactService(session, self.principal, clock=lambda: at)
        created = await contacts.create(
            ref.name or ref.phone or ref.email or "?",
            email=ref.email,
            phones=[PhoneInput(ref.phone)] if ref.phone else [],
            owner_id=owner,
        )
        return created.id

    def _refused(self, number: int, err: DomainError) -> RowReport:
        fields = err.fields if isinstance(err, InvalidInput) else {}
        for name, reason in fields.items():
            field = _SERVICE_FIELDS.get(name.split(".")[0], name)
            return RowReport(
                number, RowStatus.ERROR, column=self.columns.get(field, field), reason=reason
            )
        return RowReport(number, RowStatus.ERROR, reason=err.message)
