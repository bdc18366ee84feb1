"""The wire format of screen-pop messages: a versioned JSON envelope with an id per message.

Every message is encoded once, whatever the number of sockets it goes to. Ids are unique across
instances (an instance prefix plus a per-hub counter) so a browser that gets a re-send drops it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Final

SCHEMA_VERSION: Final = 1

# Message types (docs/EVENTS.md has one section and an example for each).
HELLO: Final = "hello"
STATE: Final = "state"
RINGING: Final = "call.ringing"
UPDATED: Final = "call.updated"
ANSWERED: Final = "call.answered"
ANSWERED_ELSEWHERE: Final = "call.answered_elsewhere"
WITHDRAWN: Final = "call.withdrawn"
TRANSFERRED: Final = "call.transferred"
WRAPUP: Final = "call.wrapup"
WRAPUP_DONE: Final = "call.wrapup_done"
CLICK_TO_CALL: Final = "click_to_call.status"
ROBOT_NOTICE: Final = "robot.notice"  # cti/robots.py: what a stage robot tells a person
PONG: Final = "pong"

# Card statuses (the card's ``status`` field).
STATUS_RINGING: Final = "ringing"
STATUS_IN_CALL: Final = "in-call"
STATUS_WRAPUP: Final = "wrap-up"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class MessageIds:
    """Unique message ids: ``<instance>-<n>``, monotonic within one instance."""

    def __init__(self, instance: str | None = None) -> None:
        self.instance = instance or uuid.uuid4().hex[:8]
        self._counter = itertools.count(1)

    def next(self) -> str:
        """Return a fresh id."""
        return f"{self.instance}-{next(self._counter)}"


class MessageEncoder:
    """Build envelopes ``{"v", "id", "type", "at", ...body}`` and encode them to JSON text."""

    def __init__(self, ids: MessageIds, clock: Callable[[], float] = time.time) -> None:
        self.ids = ids
        self._clock = clock

    def encode(self, kind: str, body: dict[str, Any]) -> str:
        """Encode one message of type ``kind``."""
        envelope: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "id": self.ids.next(),
            "type": kind,
            "at": dt.datetime.fromtimestamp(self._clock(), dt.UTC).isoformat(),
        }
        envelope.update(body)
        return _dumps(envelope)

    def encode_with_card(self, kind: str, body: dict[str, Any], card_json: str) -> str:
        """Encode a message whose ``card`` is already JSON (encoded once for the live store)."""
        return self.encode(kind, body)[:-1] + ',"card":' + card_json + "}"

    def encode_state(self, user_id: int, cards_json: Iterable[str]) -> str:
        """Encode the ``state`` message from already-encoded card JSON texts (no re-parse)."""
        head = self.encode(STATE, {"user_id": user_id})
        return head[:-1] + ',"cards":[' + ",".join(cards_json) + "]}"


def encode_card(card: dict[str, Any]) -> str:
    """Encode one card for the live-state store."""
    return _dumps(card)
