"""Who holds a contact: every change of a contact's owner goes through here.

The pool's idle clock starts when an owner gets a contact (``owned_since``), and a contact someone
holds is out of the pool (``pooled_at`` cleared). Keeping both in one place means no path that
hands a contact over (an edit, a call, a claimed deal, the pool itself) can forget either.
"""

from __future__ import annotations

import datetime as dt

from crmlite.db.models import Contact


def hand_over(contact: Contact, owner_id: int | None, now: dt.datetime) -> None:
    """Give ``contact`` to ``owner_id`` (None: nobody, outside the pool) as of ``now``."""
    if owner_id == contact.owner_id and owner_id is not None:
        return
    for column, value in handover_values(owner_id, now).items():
        setattr(contact, column, value)


def handover_values(owner_id: int | None, now: dt.datetime) -> dict[str, object]:
    """The contact's columns once ``owner_id`` holds it as of ``now`` (for an UPDATE statement)."""
    values: dict[str, object] = {
        "owner_id": owner_id,
        "owned_since": now if owner_id is not None else None,
        "updated_at": now,
    }
    if owner_id is not None:
        values["pooled_at"] = None
    return values
