"""The rules in force when no rule file is configured and none was saved through the API."""

from __future__ import annotations

from typing import Any

DEFAULT_RULES: dict[str, Any] = {
    "version": 1,
    "rules": [
        {
            "id": "missed-call-back",
            "name": "A missed inbound call becomes a call-back task",
            "when": {"direction": "inbound", "moment": "missed"},
            "then": {"deal": True, "task": {"due_in_minutes": 15}},
        },
        {
            "id": "inbound",
            "name": "Inbound calls: contact, Unsorted deal, owned by the seller who answers",
            "when": {"direction": "inbound"},
            "then": {"deal": True, "owner": "answering-agent"},
        },
        {
            "id": "outbound",
            "name": "Outbound calls are logged on a known contact",
            "when": {"direction": "outbound"},
            "then": {"contact": "find"},
        },
    ],
}
