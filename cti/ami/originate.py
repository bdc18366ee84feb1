"""Originate (click-to-call): the action's fields and its reported outcome."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from cti.ami.errors import AmiActionTimeout
from cti.protocol import AmiMessage

# Asterisk's OriginateResponse Reason codes (AST_CONTROL_*).
_REASONS = {
    "0": "failed",
    "1": "hung up",
    "3": "no answer",
    "4": "answered",
    "5": "busy",
    "8": "congestion",
}
_PREFIX = f"cti-originate-{uuid.uuid4().hex[:8]}-"
_COUNTER = itertools.count(1)


def originate_fields(
    channel: str,
    exten: str,
    context: str,
    caller_id: str | None,
    variables: Mapping[str, str] | None,
    timeout: float,
) -> dict[str, str]:
    """An Originate that never blocks the AMI session: always Async, always our ActionID."""
    fields = {
        "Action": "Originate",
        "ActionID": f"{_PREFIX}{next(_COUNTER)}",
        "Channel": channel,
        "Exten": exten,
        "Context": context,
        "Priority": "1",
        "Timeout": str(int(timeout * 1000)),
        "Async": "true",
    }
    if caller_id:
        fields["CallerID"] = caller_id
    if variables:
        # panoramisk writes one header per key; several variables go comma-separated.
        fields["Variable"] = ",".join(f"{k}={v}" for k, v in variables.items())
    return fields


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """What Asterisk reported for one Originate."""

    action_id: str
    success: bool
    reason: str  # answered, busy, no answer, failed, ...
    channel: str
    uniqueid: str | None

    @classmethod
    def from_event(cls, event: AmiMessage) -> OriginateResult:
        code = event.get("Reason") or ""
        uniqueid = event.get("Uniqueid")
        return cls(
            action_id=event.action_id or "",
            success=(event.get("Response") or "").lower() == "success",
            reason=_REASONS.get(code, f"reason {code}" if code else "unknown"),
            channel=event.get("Channel") or "",
            uniqueid=uniqueid if uniqueid and uniqueid != "<null>" else None,
        )


class OriginateDesk:
    """Sends Originates and matches each OriginateResponse event to the caller waiting for it.

    The response event arrives on the event link (which reads the ``call`` class) whichever link
    sent the action: the separate write-capable account logs in with ``Events: off``.
    """

    def __init__(self, link: ActionLink, make_sender: Callable[[], Awaitable[ActionLink]]) -> None:
        self._link = link
        self._make_sender = make_sender
        self._waiters: dict[str, asyncio.Future[AmiMessage]] = {}

    def on_response(self, event: AmiMessage) -> None:
        """Called with every OriginateResponse read on the event link."""
        waiter = self._waiters.get(event.action_id or "")
        if waiter is not None and not waiter.done():
            waiter.set_result(event)

    async def originate(self, fields: dict[str, str], deadline_s: float) -> OriginateResult:
        action_id = fields["ActionID"]
        waiter: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._waiters[action_id] = waiter
        try:
            sender = await self._make_sender()
            # as_list=False: "successfully queued" ends the action; the outcome is an event.
            await sender.action(fields, as_list=False)
            try:
                event = await asyncio.wait_for(waiter, deadline_s)
            except TimeoutError as err:
                raise AmiActionTimeout(f"no OriginateResponse within {deadline_s:.0f}s") from err
        finally:
            self._waiters.pop(action_id, None)
        return OriginateResult.from_event(event)


class ActionLink(Protocol):
    """What the desk needs from a link: send an action and get its answer."""

    async def action(
        self,
        fields: Mapping[str, str],
        deadline_s: float | None = None,
        *,
        as_list: bool | None = None,
    ) -> list[AmiMessage]: ...
