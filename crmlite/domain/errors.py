"""Domain errors: what went wrong in the business' terms. The web layer maps them to HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """Base of every rule the CRM refuses. ``slug`` is stable; clients may branch on it."""

    slug = "domain-error"

    def __init__(self, message: str, *, details: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, object] = dict(details or {})


class NotFound(DomainError):
    """The thing does not exist, or the principal may not see it (the two read the same)."""

    slug = "not-found"


class Conflict(DomainError):
    """The change clashes with what is stored (a duplicate phone, a stale version)."""

    slug = "conflict"


class Gone(DomainError):
    """The thing existed and is no more (a merged contact: ``details`` say where it went)."""

    slug = "gone"


class AlreadyTaken(Conflict):
    """A value another stored thing already holds (a unique name, login or number)."""

    slug = "already-taken"

    def __init__(
        self,
        message: str,
        *,
        fields: Sequence[str],
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.fields: tuple[str, ...] = tuple(fields)


class PermissionDenied(DomainError):
    """The principal may see the thing but not do this to it."""

    slug = "forbidden"


class InvalidInput(DomainError):
    """The request breaks a rule; ``fields`` maps a field name to what is wrong with it."""

    slug = "invalid-input"

    def __init__(
        self,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.fields: dict[str, str] = dict(fields or {})


class Unauthenticated(DomainError):
    """No valid credentials were presented."""

    slug = "unauthenticated"
