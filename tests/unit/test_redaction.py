"""The log processor masks secret-named fields and secret-shaped text (the last line of defence)."""

from __future__ import annotations

from typing import Any

import pytest

from cti.redaction import MASK, redact_secrets, redact_text

TOKEN = "cti_k3VbQ9x-Xr2_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        (f"Authorization: Bearer {TOKEN}", TOKEN),
        ("Authorization: Bearer opaque.jwt.value", "opaque.jwt.value"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        (f"token {TOKEN} refused", TOKEN),
        ("Action: Login\r\nUsername: cti\r\nSecret: hunter2\r\n", "hunter2"),
        ("cookie cti_session=abcDEF123_-; cti_csrf=xyz987", "abcDEF123_-"),
        ("cookie cti_session=abcDEF123_-; cti_csrf=xyz987", "xyz987"),
        ("hash $argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "c2FsdA$aGFzaA"),
        ("postgresql+asyncpg://cti:s3cr3t@db:5432/cti", "s3cr3t"),
        ("password=letmein&user=x", "letmein"),
    ],
)
def test_secret_shaped_text_is_masked(text: str, hidden: str) -> None:
    masked = redact_text(text)
    assert hidden not in masked
    assert MASK in masked


def test_plain_text_is_left_alone() -> None:
    line = "GET /api/v1/route 200 user=pbx caller=+79161234567 duration_ms=1.2"
    assert redact_text(line) == line


def test_secret_named_fields_are_masked_at_any_depth() -> None:
    event: dict[str, Any] = {
        "event": f"login refused for Bearer {TOKEN}",
        "password": "letmein",
        "csrf_token": "abc",
        "webhook_secret": "whsec",
        "token_id": 7,
        "headers": {"Authorization": "Bearer x", "Accept": "text/plain"},
        "items": [{"secret": "s"}, "Secret: t"],
    }
    out = redact_secrets(None, "info", event)
    assert out["password"] == out["csrf_token"] == out["webhook_secret"] == MASK
    assert out["token_id"] == 7
    assert out["headers"] == {"Authorization": MASK, "Accept": "text/plain"}
    assert out["items"] == [{"secret": MASK}, f"Secret: {MASK}"]
    assert TOKEN not in out["event"]
