"""Turn call events into screen-pop messages for the right users.

``on_call_event`` is the call flow's fast sink: it never waits for the CRM database (the caller
lookup runs beside it and completes the card with a ``call.updated``). ``on_crm_outcome`` runs in
the call's CRM lane and completes the card with the contact and deal the CRM made.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from cti.calls.events import (
    AgentRinging,
    AgentStoppedRinging,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallSnapshot,
    CallTransferred,
)
from cti.fencing import OPEN_FENCE, ConsumerFence
from cti.pops import messages as msg
from cti.pops.cards import (
    LOOKUP_DONE,
    LOOKUP_FAILED,
    LOOKUP_PENDING,
    LOOKUP_SKIPPED,
    Holder,
    LiveCall,
    customer_number,
    customer_raw,
    did_number,
)
from cti.pops.directory import UserDirectory
from cti.pops.hints import HintQueue, LooksLike
from cti.pops.hub import ScreenPopHub
from cti.pops.lookup import CallerInfo, CallerLookup
from cti.pops.publisher import CardPublisher

log = structlog.get_logger(__name__)

STAGES_TTL_S = 60.0
_LIVE_STATUSES = (msg.STATUS_RINGING, msg.STATUS_IN_CALL)


@dataclass(frozen=True, slots=True)
class PopSettings:
    """How the pops behave: the region numbers are formatted in, lookup and wrap-up limits."""

    default_region: str = "RU"
    lookup_timeout_s: float = 5.0
    wrapup_wait_s: float = 2.0
    # How long after a call's wrap-up a contact or deal from its CRM lane still updates the card.
    crm_followup_s: float = 60.0
    # Internal short numbers are not looked up in the CRM (Settings.phone.extension_pattern).
    extension_pattern: str = r"^\d{2,5}$"


class PopService:
    """Keeps the pops' view of live calls and publishes a message per change per user."""

    def __init__(
        self,
        hub: ScreenPopHub,
        directory: UserDirectory,
        lookup: CallerLookup,
        *,
        settings: PopSettings | None = None,
        fence: ConsumerFence = OPEN_FENCE,
        hints: LooksLike | None = None,
    ) -> None:
        self.hub = hub
        self._hints = HintQueue(hints) if hints is not None else None
        self._out = CardPublisher(hub, fence)
        self._directory = directory
        self._lookup = lookup
        self._settings = settings or PopSettings()
        self._calls: dict[str, LiveCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stages: dict[int | None, tuple[list[dict[str, Any]], float]] = {}
        self._clicks: dict[str, tuple[int, str]] = {}  # linkedid -> (user, click-to-call request)
        # Ended calls whose CRM lane has not yet handled the end (see expect_crm_outcomes).
        self._ending: dict[str, LiveCall] = {}
        self._crm_follows = False

    @property
    def published(self) -> int:
        """Messages put on the hub so far."""
        return self._out.published

    async def close(self) -> None:
        """Cancel lookups, hints and wrap-ups still running."""
        if self._hints is not None:
            await self._hints.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def live_call(self, linkedid: str) -> LiveCall | None:
        """The pops' state of a live call (for tests and diagnostics)."""
        return self._calls.get(linkedid)

    def forget_pbx(self, pbx: str) -> None:
        """Drop what is known of ``pbx``'s calls, sending nothing: another instance consumes it."""
        for calls in (self._calls, self._ending):
            for linkedid, live in list(calls.items()):
                if live.pbx == pbx:
                    self._cancel_lookup(live)
                    del calls[linkedid]
                    self._clicks.pop(linkedid, None)

    # -- the call flow's sinks -------------------------------------------------------------

    async def on_call_event(self, event: CallEvent) -> None:
        """Publish what ``event`` changes on the users' cards."""
        live = self._calls.get(event.linkedid)
        if live is None:
            live = self._begin(event.call)
        elif customer_raw(event.call) != live.customer.raw:
            self._renumber(live, event.call)  # e.g. an outbound call: the number comes after dial
        live.snapshot = event.call
        await self._resolve_agents(live, event)
        async with live.lock:
            if isinstance(event, AgentRinging):
                await self._ringing(live, event.extension)
            elif isinstance(event, AgentStoppedRinging):
                await self._stopped_ringing(live, event.extension, event.reason)
            elif isinstance(event, CallAnswered):
                await self._answered(live, event.extension or event.call.agent)
            elif isinstance(event, CallTransferred):
                await self._transferred(live, event.from_extension, event.to_extension)
            elif isinstance(event, CallEnded):
                self._ended(live)
        if self._clicks:
            await self._click_progress(event)

    def expect_crm_outcomes(self) -> None:
        """The call flow tells this service what its CRM lane made of each event (the app wires it).

        From then on a call's wrap-up waits briefly for the lane to finish the call, and a contact
        or deal the lane makes after the wrap-up went out is sent as a fresh wrap-up card.
        """
        self._crm_follows = True

    async def on_crm_outcome(self, event: CallEvent, outcome: object | None) -> None:
        """Complete the card with the contact and deal the CRM linked the call to."""
        live = self._calls.get(event.linkedid) or self._ending.get(event.linkedid)
        if live is None:
            return
        try:
            if outcome is not None and await self._take_outcome(live, outcome):
                await self._republish(live)
        finally:
            if isinstance(event, CallEnded):
                live.crm_settled.set()
                self._ending.pop(event.linkedid, None)

    async def _take_outcome(self, live: LiveCall, outcome: object) -> bool:
        """Note the outcome's contact and deal on the call; True when the card changes."""
        contact_id = _int_attr(outcome, "contact_id")
        deal_id = _int_attr(outcome, "deal_id")
        known = live.info.contact["id"] if live.info.contact else None
        if contact_id is None and deal_id is None:
            return False
        if deal_id == live.deal_id and contact_id in (None, known):
            return False
        live.deal_id = deal_id if deal_id is not None else live.deal_id
        live.contact_id = contact_id if contact_id is not None else live.contact_id
        if live.contact_id is not None:
            try:
                async with asyncio.timeout(self._settings.lookup_timeout_s):
                    live.info = await self._lookup.by_contact(live.contact_id)
                live.lookup = LOOKUP_DONE
            except (SQLAlchemyError, OSError, TimeoutError) as err:
                log.warning("pops_contact_refresh_failed", linkedid=live.linkedid, error=repr(err))
        return True

    async def _republish(self, live: LiveCall) -> None:
        """Send the changed card: an update while the call lasts, a new wrap-up after it."""
        if live.linkedid in self._calls:
            async with live.lock:
                await self._out.cards(live, msg.UPDATED, statuses=_LIVE_STATUSES)
        elif live.wrapup_sent:
            await self._send_wrapups(live)
        # else the wrap-up is still being made and reads the new contact and deal itself

    # -- click-to-call and wrap-up notices --------------------------------------------------

    async def click_to_call_status(self, user_id: int, body: dict[str, Any]) -> None:
        """Tell the user's tabs how their click-to-call goes (ringing, answered, failed)."""
        await self._out.notice(user_id, msg.CLICK_TO_CALL, body)

    def follow_click_to_call(self, linkedid: str, user_id: int, request_id: str) -> None:
        """Report the far end's answer (``connected``) and the end of an originated call."""
        self._clicks[linkedid] = (user_id, request_id)

    async def _click_progress(self, event: CallEvent) -> None:
        click = self._clicks.get(event.linkedid)
        if click is None:
            return
        user_id, request_id = click
        status = reason = None
        if isinstance(event, CallAnswered) and event.extension is None:
            status, reason = "connected", "the customer answered"
        elif isinstance(event, CallEnded):
            del self._clicks[event.linkedid]
            answered = event.call.answered_at is not None and event.outcome == "answered"
            status = "ended" if answered else "failed"
            reason = event.outcome
        if status is not None:
            body = {"request_id": request_id, "status": status, "reason": reason}
            body["linkedid"] = event.linkedid
            await self._out.notice(user_id, msg.CLICK_TO_CALL, body, pbx=event.pbx)

    async def wrapup_saved(self, user_id: int, linkedid: str, result: dict[str, Any]) -> None:
        """Withdraw the wrap-up card from every tab of the user."""
        ending = self._ending.get(linkedid)
        if ending is not None:
            ending.holders.pop(user_id, None)  # a late deal must not bring the card back
        body = {"linkedid": linkedid, "result": result}
        await self._out.notice(user_id, msg.WRAPUP_DONE, body, withdraw=linkedid)

    # -- per event ---------------------------------------------------------------------------

    def _begin(self, call: CallSnapshot) -> LiveCall:
        region, pattern = self._settings.default_region, self._settings.extension_pattern
        live = LiveCall(
            snapshot=call,
            customer=customer_number(call, region, pattern),
            did=did_number(call, region, pattern),
        )
        self._calls[call.linkedid] = live
        if live.customer.key is None or call.direction == "internal":
            live.lookup = LOOKUP_SKIPPED
        else:
            live.lookup_task = self._spawn(self._look_up(live, live.customer.key))
        return live

    def _renumber(self, live: LiveCall, call: CallSnapshot) -> None:
        """The customer's number appeared or changed: format it and look it up."""
        region, pattern = self._settings.default_region, self._settings.extension_pattern
        live.customer = customer_number(call, region, pattern)
        live.did = did_number(call, region, pattern)
        if live.lookup_task is not None and not live.lookup_task.done():
            live.lookup_task.cancel()
        if live.customer.key is None or call.direction == "internal":
            live.lookup = LOOKUP_SKIPPED
            return
        live.lookup = LOOKUP_PENDING
        live.lookup_task = self._spawn(self._look_up(live, live.customer.key))

    async def _resolve_agents(self, live: LiveCall, event: CallEvent) -> None:
        names = {
            name
            for name in (
                getattr(event, "extension", None),
                getattr(event, "from_extension", None),
                getattr(event, "to_extension", None),
                event.call.answered_by,
                event.call.agent,
            )
            if isinstance(name, str) and name not in live.agents
        }
        if not names:
            return
        try:
            live.agents.update(await self._directory.resolve(names, pbx=event.pbx))
        except (SQLAlchemyError, OSError) as err:
            log.warning("pops_directory_failed", linkedid=live.linkedid, error=repr(err))

    async def _ringing(self, live: LiveCall, extension: str) -> None:
        user = live.agents.get(extension)
        if user is None:
            log.info("pops_no_user_for_extension", linkedid=live.linkedid, extension=extension)
            return
        holder = live.holders.get(user.id)
        if holder is not None and holder.status != msg.STATUS_RINGING:
            return  # already in call with it (a transfer back): the card stays as it is
        holder = Holder(user=user, extension=extension, status=msg.STATUS_RINGING)
        live.holders[user.id] = holder
        await self._out.card(live, holder, msg.RINGING)

    async def _stopped_ringing(self, live: LiveCall, extension: str, reason: str) -> None:
        user = live.agents.get(extension)
        holder = live.holders.get(user.id) if user else None
        if holder is None or holder.status != msg.STATUS_RINGING or holder.extension != extension:
            return
        answered_by = live.snapshot.answered_by
        if reason == "answered-elsewhere" and answered_by and live.agents.get(answered_by) != user:
            await self._out.withdraw(live, holder, msg.ANSWERED_ELSEWHERE, reason)
        else:
            await self._out.withdraw(live, holder, msg.WITHDRAWN, reason)

    async def _answered(self, live: LiveCall, extension: str | None) -> None:
        user = live.agents.get(extension) if extension else None
        if user is not None:
            holder = live.holders.get(user.id)
            if holder is None:
                holder = Holder(user=user, extension=extension)
                live.holders[user.id] = holder
            holder.status = msg.STATUS_IN_CALL
            holder.extension = extension
            await self._out.card(live, holder, msg.ANSWERED)
        for other in list(live.holders.values()):
            if other.status == msg.STATUS_RINGING and (user is None or other.user.id != user.id):
                await self._out.withdraw(live, other, msg.ANSWERED_ELSEWHERE, "answered-elsewhere")

    async def _transferred(self, live: LiveCall, source: str | None, target: str | None) -> None:
        target_user = live.agents.get(target) if target else None
        source_user = live.agents.get(source) if source else None
        if target_user is not None:
            answered = live.snapshot.answered_by == target
            holder = Holder(
                user=target_user,
                extension=target,
                status=msg.STATUS_IN_CALL if answered else msg.STATUS_RINGING,
            )
            live.holders[target_user.id] = holder
            await self._out.card(live, holder, msg.TRANSFERRED)
        if source_user is not None and (target_user is None or source_user.id != target_user.id):
            previous = live.holders.get(source_user.id)
            if previous is not None:
                await self._out.withdraw(live, previous, msg.WITHDRAWN, "transferred")

    def _ended(self, live: LiveCall) -> None:
        del self._calls[live.linkedid]
        if self._crm_follows:
            self._ending[live.linkedid] = live
        self._spawn(self._end(live))

    async def _end(self, live: LiveCall) -> None:
        """Turn the in-call card into a wrap-up; withdraw the cards still ringing."""
        async with live.lock:
            for holder in list(live.holders.values()):
                if holder.status == msg.STATUS_RINGING:
                    reason = live.snapshot.outcome or "ended"
                    await self._out.withdraw(live, holder, msg.WITHDRAWN, reason)
                else:
                    holder.status = msg.STATUS_WRAPUP
        if not any(h.status == msg.STATUS_WRAPUP for h in live.holders.values()):
            self._cancel_lookup(live)
            self._ending.pop(live.linkedid, None)
            return
        # A short wait lets the wrap-up name the caller and the deal the CRM made of the call;
        # what comes later arrives as a fresh wrap-up card (on_crm_outcome).
        waits: set[asyncio.Future[Any]] = set()
        if live.lookup_task is not None and not live.lookup_task.done():
            waits.add(live.lookup_task)
        settled = None
        if live.linkedid in self._ending and not live.crm_settled.is_set():
            settled = asyncio.ensure_future(live.crm_settled.wait())
            waits.add(settled)
        if waits:
            await asyncio.wait(waits, timeout=self._settings.wrapup_wait_s)
        if settled is not None:
            settled.cancel()
        self._cancel_lookup(live)
        live.wrapup_sent = True  # from here a late contact or deal sends the wrap-up again
        await self._send_wrapups(live)
        if live.linkedid in self._ending:
            self._spawn(self._forget_when_settled(live))

    async def _send_wrapups(self, live: LiveCall) -> None:
        deal = live.deal()
        pipeline = deal.get("pipeline", {}).get("id") if deal else None
        stages = await self._stage_options(live, pipeline)
        async with live.lock:
            for holder in [h for h in live.holders.values() if h.status == msg.STATUS_WRAPUP]:
                await self._out.wrapup(live, holder, stages)

    async def _forget_when_settled(self, live: LiveCall) -> None:
        """Stop waiting for the call's CRM lane after a while (a failed lane never reports)."""
        try:
            await asyncio.wait_for(live.crm_settled.wait(), self._settings.crm_followup_s)
        except TimeoutError:
            log.warning("pops_crm_outcome_missing", linkedid=live.linkedid)
        self._ending.pop(live.linkedid, None)

    async def _stage_options(self, live: LiveCall, pipeline: int | None) -> list[dict[str, Any]]:
        """The stage picker of a pipeline, cached for a minute (stages rarely change)."""
        now = time.monotonic()
        cached = self._stages.get(pipeline)
        if cached is not None and now - cached[1] < STAGES_TTL_S:
            return cached[0]
        try:
            async with asyncio.timeout(self._settings.lookup_timeout_s):
                stages = await self._lookup.stage_options(pipeline)
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            log.warning("pops_stage_options_failed", linkedid=live.linkedid, error=repr(err))
            return cached[0] if cached is not None else []
        self._stages[pipeline] = (stages, now)
        return stages

    # -- the caller lookup ---------------------------------------------------------------------

    async def _look_up(self, live: LiveCall, key: str) -> None:
        try:
            async with asyncio.timeout(self._settings.lookup_timeout_s):
                info: CallerInfo = await self._lookup.by_number(key)
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            log.warning("pops_lookup_failed", linkedid=live.linkedid, error=repr(err))
            live.lookup = LOOKUP_FAILED
        else:
            live.info = info
            live.lookup = LOOKUP_DONE
        if live.linkedid not in self._calls:
            return  # ended meanwhile: the wrap-up carries what was found
        async with live.lock:
            await self._out.cards(
                live, msg.UPDATED, statuses=(msg.STATUS_RINGING, msg.STATUS_IN_CALL)
            )
        if self._hints is not None and live.info.contact is not None:
            contact_id = live.info.contact["id"]
            self._hints.ask(
                contact_id,
                lambda: self._wants_hint(live, contact_id),
                lambda found: self._hint(live, contact_id, found),
            )

    def _wants_hint(self, live: LiveCall, contact_id: int) -> bool:
        """True while the call's card is up and still shows ``contact_id``."""
        contact = live.info.contact
        return live.linkedid in self._calls and contact is not None and contact["id"] == contact_id

    async def _hint(
        self, live: LiveCall, contact_id: int, looks_like: tuple[dict[str, Any], ...]
    ) -> None:
        """Add the caller's likely duplicates to the card once they are found."""
        if not self._wants_hint(live, contact_id):
            return
        live.info = dataclasses.replace(live.info, looks_like=looks_like)
        if live.linkedid in self._calls:
            async with live.lock:
                await self._out.cards(
                    live, msg.UPDATED, statuses=(msg.STATUS_RINGING, msg.STATUS_IN_CALL)
                )

    def _cancel_lookup(self, live: LiveCall) -> None:
        if live.lookup_task is not None and not live.lookup_task.done():
            live.lookup_task.cancel()
            if live.lookup == LOOKUP_PENDING:
                live.lookup = LOOKUP_FAILED

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("pops_task_failed", exc_info=task.exception())


def _int_attr(value: object, name: str) -> int | None:
    found = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
    return found if isinstance(found, int) and not isinstance(found, bool) else None
