"""Apply imported contact rows in batches: match by phone or email, else create, else flag.

Every contact, phone, email and imported row key is loaded once per import into memory (a few
MB for 100,000 contacts), so a row costs no query: it matches an existing contact by a
normalized phone (unique) or email, is checked against the duplicate index (similar name and
company), or becomes a new contact. New contacts of a batch wait in memory (a later row of the
same file may match them) and are written at the batch's end by ``crmlite.db.bulk`` (one
executemany, or COPY on PostgreSQL), phones, emails and the rows' content keys with them. A
concurrent import of the same rows is caught by the unique keys: its batch fails and resumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, bindparam, false, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.bulk import insert_rows
from crmlite.db.models import Contact, ContactEmail, ContactPhone, ImportedRow, User
from crmlite.domain.clock import Clock
from crmlite.domain.duplicates import DuplicateIndex, PersonKey
from crmlite.domain.import_rows import CellError, ContactRecord
from crmlite.domain.phones import NormalizedPhone
from crmlite.domain.principal import Principal
from crmlite.domain.tabular import TableRow
from crmlite.services.common import utc_now
from crmlite.services.emails import normalize_email
from crmlite.services.import_report import RowReport, RowStatus

CONTACTS = cast(Table, Contact.__table__)
PHONES = cast(Table, ContactPhone.__table__)
EMAILS = cast(Table, ContactEmail.__table__)
IMPORTED = cast(Table, ImportedRow.__table__)
# A likely person, not a namesake: a similar name at a similar company scores 75..90 in
# crmlite.domain.duplicates; a similar name alone (62..70) is too weak to hold a row back.
DUPLICATE_SCORE = 75


@dataclass(slots=True)
class _Person:
    """A contact as the import knows it: stored (``id``) or waiting for its batch's insert."""

    id: int | None
    name: str
    company: str | None
    email: str | None
    owner_id: int | None
    index_id: int
    """The person's id in the duplicate index: its own, or a stand-in while it waits."""
    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    new_phones: list[NormalizedPhone] = field(default_factory=list)
    new_emails: list[str] = field(default_factory=list)
    changed: bool = False


@dataclass(slots=True)
class _Pending:
    report_index: int
    person: _Person
    status: RowStatus
    key: str | None


class ContactImporter:
    """Matches and writes contact rows for one principal; ``load`` once, then ``apply`` batches."""

    def __init__(
        self,
        principal: Principal,
        *,
        owner_id: int | None = None,
        merge: bool = False,
        clock: Clock = utc_now,
    ) -> None:
        self.principal = principal
        self.default_owner = owner_id if principal.sees_everything and owner_id else None
        self.merge = merge
        self.clock = clock
        self.people: dict[int, _Person] = {}
        self.by_phone: dict[str, _Person] = {}
        self.by_email: dict[str, _Person] = {}
        self.index = DuplicateIndex()
        self.logins: dict[str, int] = {}
        self.imported: dict[str, int | None] = {}
        """Content keys of the contact rows imported before (any run) and by this run so far."""
        self._next_temp = -1
        self.columns: dict[str, str] = {}

    async def load(self, session: AsyncSession, columns: dict[str, str]) -> None:
        """Read every contact, phone, email, imported row key and active login once."""
        self.columns = columns
        rows = await session.execute(
            select(
                CONTACTS.c.id,
                CONTACTS.c.name,
                CONTACTS.c.company,
                CONTACTS.c.email,
                CONTACTS.c.owner_id,
            )
        )
        for cid, name, company, email, owner in rows:
            self.people[cid] = _Person(cid, name, company, email, owner, index_id=cid)
        for cid, normalized in await session.execute(
            select(PHONES.c.contact_id, PHONES.c.normalized)
        ):
            person = self.people[cid]
            person.phones.add(normalized)
            self.by_phone[normalized] = person
        for cid, normalized in await session.execute(
            select(EMAILS.c.contact_id, EMAILS.c.normalized).order_by(EMAILS.c.contact_id)
        ):
            person = self.people[cid]
            person.emails.add(normalized)
            self.by_email.setdefault(normalized, person)
        for cid, person in self.people.items():
            self.index.add(cid, _key_of(person))
        # Read once, as the base is: asked batch by batch, PostgreSQL without fresh statistics
        # scanned every key of the kind for each batch (seconds per batch at 100,000 keys).
        self.imported = {
            key: entity
            for key, entity in await session.execute(
                select(IMPORTED.c.row_key, IMPORTED.c.entity_id).where(
                    IMPORTED.c.kind == "contacts"
                )
            )
        }
        logins = await session.execute(select(User.login, User.id).where(User.active.is_(True)))
        self.logins = {login.casefold(): uid for login, uid in logins}

    async def apply(
        self, session: AsyncSession, rows: Sequence[tuple[TableRow, object]]
    ) -> list[RowReport]:
        """Apply one batch inside the caller's transaction; one report per row."""
        reports: list[RowReport] = []
        pending: list[_Pending] = []
        known = self.imported
        batch_keys: set[str] = set()
        for row, result in rows:
            if isinstance(result, list):
                reports.append(row_errors(row.number, cast(list[CellError], result)))
                continue
            record = cast(ContactRecord, result)
            if record.key in known or record.key in batch_keys:
                reports.append(
                    RowReport(
                        row.number,
                        RowStatus.UNCHANGED,
                        known.get(record.key),
                        reason="imported before",
                    )
                )
                continue
            reports.append(self._row(row.number, record, pending, len(reports)))
            batch_keys.add(record.key)
        await self._write(session, pending)
        for item in pending:
            old = reports[item.report_index]
            reports[item.report_index] = RowReport(
                old.row, old.status, item.person.id, old.column, old.reason
            )
        return reports

    def _row(
        self, number: int, record: ContactRecord, pending: list[_Pending], at: int
    ) -> RowReport:
        matched = {id(p): p for p in (self.by_phone.get(n.normalized) for n in record.phones) if p}
        if len(matched) > 1:
            names = ", ".join(sorted(str(p.id or p.name) for p in matched.values()))
            return RowReport(
                number,
                RowStatus.ERROR,
                column=self.columns.get("phone", ""),
                reason=f"the numbers belong to different contacts ({names})",
            )
        person = next(iter(matched.values()), None)
        matched_on = "phone"
        if person is None:
            matched_on = "email"
            person = next(
                (self.by_email[e] for e in _norm(record.emails) if e in self.by_email), None
            )
        status = RowStatus.UPDATED
        if person is None:
            found = [
                (self.people[index_id], match)
                for index_id, match in self.index.candidates(_record_key(record), limit=1)
                if match.score >= DUPLICATE_SCORE
            ]
            if found and not self.merge:
                candidate, match = found[0]
                return RowReport(
                    number,
                    RowStatus.DUPLICATE,
                    candidate.id,
                    reason=f"likely the same as contact {_label(candidate)} "
                    f"({match.score}: {', '.join(match.reasons)})",
                )
            if found:
                person, status, matched_on = found[0][0], RowStatus.MERGED, "name"
        if person is None:
            owner = self._owner(record)
            if isinstance(owner, RowReport):
                return RowReport(number, owner.status, column=owner.column, reason=owner.reason)
            person = self._new(record, owner)
            pending.append(_Pending(at, person, RowStatus.CREATED, record.key))
            return RowReport(number, RowStatus.CREATED)
        if not self.principal.may_touch(person.owner_id):
            return RowReport(
                number,
                RowStatus.ERROR,
                column=self.columns.get(matched_on, ""),
                reason=f"the {matched_on} belongs to a contact of another user",
            )
        reason = ""
        if person.name.casefold() != record.name.casefold():
            reason = f"kept the name {person.name!r}"
        if not self._fill(person, record):
            status = RowStatus.UNCHANGED
        pending.append(_Pending(at, person, status, record.key))
        return RowReport(number, status, person.id, reason=reason)

    def _owner(self, record: ContactRecord) -> int | RowReport | None:
        if not self.principal.sees_everything:
            return self.principal.user_id
        if record.owner:
            uid = self.logins.get(record.owner.casefold())
            if uid is None:
                return RowReport(
                    0,
                    RowStatus.ERROR,
                    column=self.columns.get("owner", ""),
                    reason=f"no active user {record.owner!r}",
                )
            return uid
        return self.default_owner or self.principal.user_id

    def _new(self, record: ContactRecord, owner: int | None) -> _Person:
        # Until its batch is written the person is indexed under a negative stand-in id.
        person = _Person(
            None,
            record.name,
            record.company,
            record.emails[0] if record.emails else None,
            owner,
            index_id=self._next_temp,
            changed=True,
        )
        self._next_temp -= 1
        self.people[person.index_id] = person
        if not self._fill(person, record):
            self.index.add(person.index_id, _key_of(person))
        return person

    def _fill(self, person: _Person, record: ContactRecord) -> bool:
        """Add what the person lacks (company, email, numbers); never overwrite. True if any."""
        changed = False
        if record.company and not person.company:
            person.company, changed = record.company, True
        if record.emails and not person.email:
            person.email, changed = record.emails[0], True
        for number in record.phones:
            if number.normalized not in self.by_phone:
                person.phones.add(number.normalized)
                person.new_phones.append(number)
                self.by_phone[number.normalized] = person
                changed = True
        for address in record.emails:
            normalized = normalize_email(address)
            if normalized not in person.emails:
                person.emails.add(normalized)
                person.new_emails.append(address)
                self.by_email.setdefault(normalized, person)
                changed = True
        if changed:
            self.index.add(person.index_id, _key_of(person))
        person.changed = person.changed or changed
        return changed

    async def _write(self, session: AsyncSession, pending: Sequence[_Pending]) -> None:
        """Insert the batch's new contacts, update the matched, add numbers, emails and keys."""
        now = self.clock()
        people = list({id(item.person): item.person for item in pending}.values())
        new = [p for p in people if p.id is None]
        if new:
            ids = await reserve_contact_ids(session, len(new))
            # The pool's idle clock starts with the import (crmlite.services.ownership).
            await insert_rows(
                session,
                CONTACTS,
                ("id", "name", "company", "email", "owner_id", "owned_since", "created_at",
                 "updated_at"),
                [
                    (new_id, p.name, p.company, p.email, p.owner_id,
                     now if p.owner_id is not None else None, now, now)
                    for p, new_id in zip(new, ids, strict=True)
                ],
            )  # fmt: skip
            for person, new_id in zip(new, ids, strict=True):
                person.id = new_id
        created = {id(p) for p in new}
        touched = [p for p in people if p.changed and id(p) not in created]
        if touched:
            await session.execute(
                update(CONTACTS)
                .where(CONTACTS.c.id == bindparam("cid"))
                .values(company=bindparam("company"), email=bindparam("email"), updated_at=now),
                [{"cid": p.id, "company": p.company, "email": p.email} for p in touched],
            )
        await insert_rows(
            session,
            PHONES,
            ("contact_id", "raw", "normalized", "kind"),
            [(p.id, n.raw, n.normalized, n.kind.value) for p in people for n in p.new_phones],
        )
        await insert_rows(
            session,
            EMAILS,
            ("contact_id", "address", "normalized"),
            [(p.id, a, normalize_email(a)) for p in people for a in p.new_emails],
        )
        keys = {item.key: item.person.id for item in pending if item.key}
        await insert_rows(
            session,
            IMPORTED,
            ("kind", "row_key", "entity_id"),
            [("contacts", key, cid) for key, cid in keys.items()],
        )
        self.imported.update(keys)
        for person in people:
            person.new_phones.clear()
            person.new_emails.clear()
            person.changed = False


async def reserve_contact_ids(session: AsyncSession, count: int) -> list[int]:
    """Ids for ``count`` new contacts, so one executemany inserts them all.

    An INSERT ... RETURNING that must keep the rows' order runs row by row on SQLite; taking the
    ids first keeps the batch one statement. PostgreSQL hands them out from the table's sequence;
    SQLite continues after the largest id once this transaction holds the write lock (the no-op
    UPDATE takes it), so no other writer can take the same ids before the commit.
    """
    if session.get_bind().dialect.name == "postgresql":
        rows = await session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) "  # one id a row
                "FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return list(rows)
    await session.execute(update(CONTACTS).where(false()).values(name=CONTACTS.c.name))
    top = await session.scalar(select(func.coalesce(func.max(CONTACTS.c.id), 0)))
    return list(range(int(top or 0) + 1, int(top or 0) + 1 + count))


def _label(person: _Person) -> str:
    return f"#{person.id}" if person.id is not None else f"{person.name!r} (earlier row)"


def _norm(emails: Sequence[str]) -> list[str]:
    return [normalize_email(e) for e in emails]


def _key_of(person: _Person) -> PersonKey:
    return PersonKey(
        person.name, person.company, tuple(sorted(person.emails)), tuple(sorted(person.phones))
    )


def _record_key(record: ContactRecord) -> PersonKey:
    return PersonKey(
        record.name,
        record.company,
        tuple(_norm(record.emails)),
        tuple(n.normalized for n in record.phones),
    )


def row_errors(number: int, errors: Sequence[CellError]) -> RowReport:
    """One report line for a row's problems; several name each column before its reason."""
    if len(errors) == 1:
        return RowReport(number, RowStatus.ERROR, column=errors[0].column, reason=errors[0].reason)
    columns = ", ".join(dict.fromkeys(e.column for e in errors))
    reason = "; ".join(f"{e.column}: {e.reason}" if e.column else e.reason for e in errors)
    return RowReport(number, RowStatus.ERROR, column=columns, reason=reason)
