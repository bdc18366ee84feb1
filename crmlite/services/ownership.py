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
    contact.owner_id = owner_id
    contact.owned_since = now if owner_id is not None else None
    if owner_id is not None:
        contact.pooled_at = None
    contact.updated_at = now
