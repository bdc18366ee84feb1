"""The webhook contract: every type the code sends is documented; signatures check out."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cti.robots import ROBOT_FIRED
from cti.webhooks import sign, verify
from cti.webhooks.events import CALL_TYPES
from cti.webhooks.sender import envelope

DOC = Path(__file__).parents[2] / "docs" / "EVENTS.md"
CRM_TYPES = {"contact.created", "deal.created", "deal.assigned", "task.created"}
INBOX_TYPES = {"deal.accepted", "deal.declined", "deal.merged", "deal.stage_changed"}
ROBOT_TYPES = {ROBOT_FIRED}


def test_every_webhook_type_has_a_section_with_an_example() -> None:
    # Only the webhook part: the websocket messages above it have their own shape.
    text = DOC.read_text(encoding="utf-8").split("\n## Webhooks", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z]+\.[a-z_]+)`", "\n".join(
        line for line in text.splitlines() if line.startswith("#### ")
    )))  # fmt: skip
    assert set(CALL_TYPES.values()) | CRM_TYPES | INBOX_TYPES | ROBOT_TYPES <= documented
    for block in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL):
        message = json.loads(block)
        assert message["version"] == 1
        assert {"id", "type", "occurred_at", "data"} <= set(message)


def test_signature_is_hmac_of_timestamp_and_body() -> None:
    body = b'{"a":1}'
    signature = sign("k", 1_700_000_000, body)
    assert (
        signature
        == "sha256=" + __import__("hmac").new(b"k", b"1700000000." + body, "sha256").hexdigest()
    )
    assert verify("k", 1_700_000_000, body, signature, now=1_700_000_100)
    assert not verify("k", 1_700_000_000, body + b" ", signature, now=1_700_000_100)
    assert not verify("k", 1_700_000_000, body, signature, now=1_700_001_000)  # too old


def test_envelope_is_stable_json() -> None:
    import datetime as dt

    at = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    first = envelope("deal.created", "x", at, {"b": 1, "a": "é"})
    assert first == envelope("deal.created", "x", at, {"a": "é", "b": 1})
    assert json.loads(first)["occurred_at"] == "2026-03-02T09:00:00+00:00"
