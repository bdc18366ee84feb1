"""The last line against secrets in logs: secret-named fields and secret-shaped text are masked.

The root causes are fixed where they are (tokens stored as digests, AMI application data dropped
by the decoder, third-party loggers held at INFO, SQL parameters hidden); this processor catches
what a future change lets slip: a field named like a secret, our bearer tokens, ``Bearer``/
``Basic`` credentials, AMI ``Secret:`` lines, session cookies, password hashes, URL passwords.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

MASK = "[redacted]"
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "authorization",
        "cookie",
        "set_cookie",
        "csrf_token",
        "api_key",
        "appdata",
        "app_data",
        "applicationdata",
    }
)
_SECRET_SUFFIXES = ("_password", "_secret", "_token", "_cookie")
_I = re.IGNORECASE
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bcti_[A-Za-z0-9_-]{16,}"), "cti_" + MASK),
    (re.compile(r"\b(bearer|basic)(\s+)[^\s\"',;]+", _I), r"\1\2" + MASK),
    (re.compile(r"\b(secret|password|csrf_token)(\s*[:=]\s*)[^\s\"',;&]+", _I), r"\1\2" + MASK),
    (re.compile(r"\b(cti_session|cti_csrf)=[^\s\"',;]+"), r"\1=" + MASK),
    (re.compile(r"\$argon2(?:id|i|d)\$[^\s\"']+"), MASK),
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]+@"), r"\1" + MASK + "@"),
)
# One cheap search (a superset: case-insensitive throughout) decides whether to substitute.
_ANY = re.compile("|".join(f"(?:{pattern.pattern})" for pattern, _ in _PATTERNS), _I)


def redact_text(text: str) -> str:
    """``text`` with every secret-shaped part masked."""
    if not _ANY.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: MASK if _is_secret_key(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(item) for item in value)
    return value


def redact_secrets(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named fields and secret-shaped text in every field."""
    for key, value in event_dict.items():
        if _is_secret_key(key):
            event_dict[key] = MASK
        elif isinstance(value, str | dict | list | tuple):
            event_dict[key] = _redact(value)
    return event_dict
