"""The one entry point the call flow calls per call event: rules -> CRM, retried, never lost.

Transient database failures (SQLite busy or locked, a dropped PostgreSQL connection) are retried
a few times with backoff; a lost race with another writer of the same effect is retried at once
and then finds the effect recorded. An event that still cannot be applied waits in a bounded
retry queue drained by a background worker; later events of the same call queue up behind it so
a call's effects keep their order. Nothing here blocks the AMI reader: the call flow runs this in
per-call lanes. Every write is fenced: it commits only while this instance holds the call's PBX
(``cti.fencing``); an event of a PBX another instance took over is dropped, not retried.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Awaitable, Callable, Sequence

import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.errors import Conflict
from crmlite.services.call_effects import recorded_keys
from cti.calls.events import AgentRinging, CallEvent
from cti.fencing import OPEN_FENCE, ConsumerFence, LeaseLost
from cti.rules.book import RuleBook
from cti.rules.executor import CrmOutcome, RuleExecutor
from cti.rules.metrics import CRM_EVENTS, CRM_RETRY_QUEUE
from cti.rules.model import RulesInvalid, moments_of

log = structlog.get_logger(__name__)

ATTEMPTS, BACKOFF_S = 4, 0.05  # tries of an event before the retry queue; first pause, doubling
RECENT_CALLS = 4096  # calls whose recorded effects are remembered (a busy hour's live calls)

Sleep = Callable[[float], Awaitable[None]]


def is_transient(err: BaseException) -> bool:
    """True for failures that a later attempt may not meet: locks, busy files, lost links."""
    if isinstance(err, IntegrityError):
        return False
    if isinstance(err, OperationalError | InterfaceError):
        return True
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, OSError | TimeoutError | ConnectionError)


def is_lost_race(err: BaseException) -> bool:
    """True when another writer recorded the same effect first (unique key or phone)."""
    return isinstance(err, IntegrityError | Conflict)


class CallToCrm:
    """Turn call events into CRM data through the rules; the CrmHandler of the call flow."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: RuleBook,
        executor: RuleExecutor,
        *,
        attempts: int = ATTEMPTS,
        backoff_s: float = BACKOFF_S,
        queue_size: int = 10_000,
        sleep: Sleep = asyncio.sleep,
        fence: ConsumerFence = OPEN_FENCE,
    ) -> None:
        self.sessions = sessions
        self.fence = fence
        self.rules = rules
        self.executor = executor
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.retry_queue: collections.deque[CallEvent] = collections.deque()
        self.queue_size = queue_size
        self.dropped = 0
        self.applied = 0
        self.skipped = 0
        # The last outcome of recent calls this process applied: what their effects already are.
        self._recorded: collections.OrderedDict[str, CrmOutcome] = collections.OrderedDict()

    @property
    def pending(self) -> int:
        """Events waiting for the database."""
        return len(self.retry_queue)

    async def handle(self, event: CallEvent) -> CrmOutcome:
        """Apply ``event``; if the database stays unavailable, queue it and say it is pending."""
        if not moments_of(event):
            return CrmOutcome(event.linkedid, event.kind)  # no rule can match: no database work
        if any(queued.linkedid == event.linkedid for queued in self.retry_queue):
            self._enqueue(event)  # keep this call's order: behind its earlier events
            return CrmOutcome(event.linkedid, event.kind, pending=True)
        try:
            settled = await self._already_recorded(event)
            if settled is not None:
                return settled
            return await self._apply_with_retries(event)
        except LeaseLost:
            CRM_EVENTS.labels("fenced").inc()
            log.info("call event not applied: another instance consumes its pbx", pbx=event.pbx)
            return CrmOutcome(event.linkedid, event.kind)
        except Exception as err:
            if not is_transient(err):
                # A bug or a refused write: say so loudly, and let the pops and webhooks go on.
                CRM_EVENTS.labels("failed").inc()
                log.exception("call event could not be applied to the CRM", linkedid=event.linkedid)
                return CrmOutcome(event.linkedid, event.kind)
            log.warning(
                "crm write failed, event queued for retry",
                linkedid=event.linkedid,
                kind=event.kind,
                error=type(err).__name__,
            )
            self._enqueue(event)
            return CrmOutcome(event.linkedid, event.kind, pending=True)

    async def _apply_with_retries(self, event: CallEvent) -> CrmOutcome:
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                return await self._apply_once(event)
            except Exception as err:
                last = attempt == self.attempts
                if is_lost_race(err) and not last:
                    log.info("lost a race on a call effect; retrying", linkedid=event.linkedid)
                    continue
                if not is_transient(err) or last:
                    raise
                log.info(
                    "transient database error; retrying",
                    linkedid=event.linkedid,
                    attempt=attempt,
                    error=type(err).__name__,
                )
                await self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _apply_once(self, event: CallEvent) -> CrmOutcome:
        ruleset = self.rules.ruleset
        async with self.sessions() as session, session.begin():
            outcome = await self.executor.apply(session, ruleset, event)
            # Last, so the lease row stays share-locked only until the commit just below.
            await self.fence.check_in(session, event.pbx)
        self.applied += 1
        CRM_EVENTS.labels("applied").inc()
        self._remember(outcome)
        return outcome

    async def unsettled(self, events: Sequence[CallEvent]) -> list[CallEvent]:
        """``events`` less those with nothing left to write: every effect the rules could make of
        them is recorded already (one read for all; a takeover's witnessed calls, most of which
        the previous consumer applied). Events the rules decide only with the database stay."""
        ruleset = self.rules.ruleset
        wanted = [event for event in events if moments_of(event)]
        async with self.sessions() as session:
            recorded = await recorded_keys(session, [event.linkedid for event in wanted])
        left: list[CallEvent] = []
        for event in wanted:
            expected = self.executor.expected_effects(ruleset, event)
            if expected is None or not expected[1] <= recorded.get(event.linkedid, set()):
                left.append(event)
        return left

    async def _already_recorded(self, event: CallEvent) -> CrmOutcome | None:
        """The outcome, without a transaction, when an agent's ringing could write only effects
        this process committed for the call already; None when the database must be asked.

        Only ringing: it follows the call's start within seconds, so the ids the card links to
        cannot have moved meanwhile (an inbox merge or decline happens later, and the answer and
        the end of the call read the database again).
        """
        known = self._recorded.get(event.linkedid)
        if known is None or not isinstance(event, AgentRinging):
            return None
        expected = self.executor.expected_effects(self.rules.ruleset, event)
        if expected is None or not expected[1] <= known.recorded:
            return None
        if not await self.fence.admits(event.pbx):
            raise LeaseLost(event.pbx)
        self._recorded.move_to_end(event.linkedid)
        self.skipped += 1
        CRM_EVENTS.labels("unchanged").inc()
        return dataclasses.replace(
            known,
            event=event.kind,
            rule_ids=expected[0],
            owner_changed=False,
            tasks_created=(),
            applied=(),
        )

    def _remember(self, outcome: CrmOutcome) -> None:
        self._recorded[outcome.linkedid] = outcome
        self._recorded.move_to_end(outcome.linkedid)
        while len(self._recorded) > RECENT_CALLS:
            self._recorded.popitem(last=False)

    def _enqueue(self, event: CallEvent) -> None:
        CRM_EVENTS.labels("queued").inc()
        if len(self.retry_queue) >= self.queue_size:
            dropped = self.retry_queue.popleft()
            self.dropped += 1
            CRM_EVENTS.labels("dropped").inc()
            log.error(
                "crm retry queue full: oldest event dropped",
                linkedid=dropped.linkedid,
                kind=dropped.kind,
                dropped_total=self.dropped,
            )
        self.retry_queue.append(event)
        CRM_RETRY_QUEUE.set(len(self.retry_queue))

    async def drain(self) -> int:
        """Try the queued events in order; stop at the first that still fails. Return applied."""
        done = 0
        while self.retry_queue:
            event = self.retry_queue[0]
            try:
                await self._apply_with_retries(event)
            except LeaseLost:
                self.retry_queue.popleft()  # the PBX's new consumer applies its calls
                CRM_EVENTS.labels("fenced").inc()
                continue
            except Exception as err:
                if is_transient(err):
                    CRM_RETRY_QUEUE.set(len(self.retry_queue))
                    return done
                self.retry_queue.popleft()
                CRM_EVENTS.labels("failed").inc()
                log.exception("queued call event failed for good", linkedid=event.linkedid)
                continue
            self.retry_queue.popleft()
            done += 1
        CRM_RETRY_QUEUE.set(len(self.retry_queue))
        return done

    async def run_retry_worker(self, interval_s: float = 2.0) -> None:
        """Drain the retry queue and pick up rules saved by other instances, until cancelled."""
        while True:
            await self.sleep(interval_s)
            if self.retry_queue:
                applied = await self.drain()
                if applied:
                    log.info("queued call events applied", applied=applied, left=self.pending)
            try:
                await self.rules.refresh(self.sessions)
            except RulesInvalid as err:
                log.exception(
                    "newer call rules are invalid; keeping the current ones", error=str(err)
                )
            except Exception as err:
                if not is_transient(err):
                    raise
                log.warning("could not check for newer call rules", error=type(err).__name__)
