"""Who is acting: the user behind a request, a token or a background job, and what a role may do."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    SELLER = "seller"
    HEAD = "head"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int | None
    login: str
    role: Role
    display_name: str = ""

    @property
    def sees_everything(self) -> bool:
        """Heads and admins see every seller's contacts, deals and tasks."""
        return self.role in (Role.HEAD, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def may_touch(self, owner_id: int | None) -> bool:
        """A seller works only on what they own; heads and admins on everything."""
        return self.sees_everything or (owner_id is not None and owner_id == self.user_id)


SYSTEM = Principal(user_id=None, login="system", role=Role.ADMIN, display_name="System")
"""The principal of work the service does by itself (calls turned into CRM data, the demo seed)."""
