"""Password hashing with argon2id; plain passwords are never stored or logged."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash checked for unknown logins: a wrong login costs as much as a wrong password."""
    return _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """Hash ``password`` (slow on purpose: run it off the event loop)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password``; a user without a password (tokens only) never matches."""
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)
