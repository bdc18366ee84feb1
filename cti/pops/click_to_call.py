"""Click-to-call: ring the seller's own phone through AMI Originate, then the customer.

The POST answers at once (``dialing``); how it goes comes back on the seller's websocket as
``click_to_call.status`` messages: ``ringing`` (your phone rings), ``answered`` (you picked up, the
customer is being dialled), ``connected`` (the customer answered), ``failed`` with a reason, and
``ended``. The call itself is logged like any other outbound call by the normal call flow.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from cti.pops.lookup import CallerNumber
from cti.pops.service import PopService

log = structlog.get_logger(__name__)


class OriginateOutcome(Protocol):
    """What the PBX said about an Originate (``cti.ami.OriginateResult`` fits)."""

    @property
    def success(self) -> bool: ...

    @property
    def reason(self) -> str: ...

    @property
    def uniqueid(self) -> str | None: ...


class Originator(Protocol):
    """Sends AMI Originate (``cti.ami.AmiClient`` fits)."""

    async def originate(
        self,
        channel: str,
        exten: str,
        *,
        context: str | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        ring_timeout_s: float = 30.0,
    ) -> OriginateOutcome: ...


@dataclass(frozen=True, slots=True)
class ClickToCallRequest:
    """One click: who rings from which phone, and whom."""

    request_id: str
    user_id: int
    extension: str
    channel: str
    number: CallerNumber
    dial: str
    pbx: str | None = None  # the PBX to originate on; None: the first one


class ClickToCall:
    """Runs originates in the background and reports on the user's websocket."""

    def __init__(
        self,
        pops: PopService,
        originator: Callable[[str | None], Originator | None],
        *,
        ring_timeout_s: float = 30.0,
    ) -> None:
        self._pops = pops
        self._originator = originator
        self._ring_timeout_s = ring_timeout_s
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def available(self) -> bool:
        """True when a PBX link that can originate is configured."""
        return self._originator(None) is not None

    def start(
        self,
        user_id: int,
        extension: str,
        channel: str,
        number: CallerNumber,
        dial: str,
        *,
        pbx: str | None = None,
    ) -> ClickToCallRequest:
        """Begin ringing ``channel`` on ``pbx``; returns at once with the request id."""
        request_id = uuid.uuid4().hex[:16]
        request = ClickToCallRequest(request_id, user_id, extension, channel, number, dial, pbx)
        task = asyncio.create_task(self._run(request), name=f"click-to-call-{request.request_id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return request

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("click_to_call_task_failed", exc_info=task.exception())

    async def close(self) -> None:
        """Cancel originates still waiting for the PBX."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, request: ClickToCallRequest) -> None:
        originator = self._originator(request.pbx)
        if originator is None:
            await self._status(request, "failed", "no PBX is configured")
            return
        await self._status(request, "ringing", "your phone is ringing")
        try:
            outcome = await originator.originate(
                request.channel,
                request.dial,
                caller_id=f'"{request.number.display}" <{request.dial}>',
                variables={"CTI_CLICK_TO_CALL": request.request_id},
                ring_timeout_s=self._ring_timeout_s,
            )
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - any link failure becomes a status the user sees
            log.warning("click_to_call_failed", request_id=request.request_id, error=repr(err))
            await self._status(request, "failed", str(err) or type(err).__name__)
            return
        if not outcome.success:
            await self._status(request, "failed", outcome.reason)
            return
        if outcome.uniqueid:
            self._pops.follow_click_to_call(outcome.uniqueid, request.user_id, request.request_id)
        await self._status(request, "answered", "you answered; calling the customer")

    async def _status(self, request: ClickToCallRequest, status: str, reason: str) -> None:
        body: dict[str, Any] = {
            "request_id": request.request_id,
            "status": status,
            "reason": reason,
            "extension": request.extension,
            "pbx": request.pbx,
            "number": request.number.to_dict(),
        }
        await self._pops.click_to_call_status(request.user_id, body)
