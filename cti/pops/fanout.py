"""Fan-out backends: carry pop messages to the instance holding a user's sockets, and keep the
live cards a reconnecting tab needs.

``InProcessFanout`` is the default (one instance). ``RedisFanout`` (cti.pops.redis_fanout) shares
both the messages (pub/sub) and the live cards (a hash per user with a TTL) between instances.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

Deliver = Callable[[int, str], None]
"""Hand one encoded message to the local sockets of a user; never blocks."""

Resync = Callable[[], Awaitable[None]]
"""Send every local tab its state again (after messages may have been missed)."""


class FanoutUnavailable(Exception):
    """The fan-out backend (Redis) cannot be reached; the message or state was not delivered."""


DEFAULT_LIVE_TTL_S = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class LiveChange:
    """Set (``card`` JSON) or drop (``card`` None) the live card of one call for one user."""

    linkedid: str
    card: str | None


class FanoutBackend(Protocol):
    """Where pop messages go after the service built them, and where live cards are kept."""

    async def start(self, deliver: Deliver, resync: Resync | None = None) -> None:
        """Begin delivering published messages to ``deliver`` (on every instance).

        ``resync`` is called when messages may have been lost (a pub/sub link came back).
        """
        ...

    async def close(self) -> None:
        """Stop delivering and release connections."""
        ...

    async def publish(self, user_id: int, text: str, live: LiveChange | None = None) -> None:
        """Apply ``live`` to the user's live cards, then send ``text`` to all their sockets."""
        ...

    def post(self, user_id: int, text: str, live: LiveChange | None = None) -> bool:
        """``publish`` without waiting for it: in order with every other post and publish, and
        a failure logged, not raised. False when it was dropped at once (too many in flight)."""
        ...

    async def live_cards(self, user_id: int) -> list[str]:
        """The user's live cards (JSON texts), oldest first."""
        ...


class InProcessFanout:
    """Fan-out inside one process: live cards in a dict, delivery by a direct call."""

    def __init__(
        self, *, live_ttl_s: float = DEFAULT_LIVE_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._deliver: Deliver | None = None
        self._live: dict[int, dict[str, tuple[str, float]]] = {}
        self._ttl = live_ttl_s
        self._clock = clock

    async def start(self, deliver: Deliver, resync: Resync | None = None) -> None:
        """Remember where to deliver (nothing is ever lost in process: no resync)."""
        self._deliver = deliver

    async def close(self) -> None:
        """Forget the receiver; live cards go with the process."""
        self._deliver = None

    async def publish(self, user_id: int, text: str, live: LiveChange | None = None) -> None:
        """Update the live cards, then deliver at once."""
        self.post(user_id, text, live)

    def post(self, user_id: int, text: str, live: LiveChange | None = None) -> bool:
        """The same, as a plain call (in process nothing is in flight)."""
        if live is not None:
            self._apply(user_id, live)
        if self._deliver is not None:
            self._deliver(user_id, text)
        return True

    async def live_cards(self, user_id: int) -> list[str]:
        """The user's unexpired live cards."""
        cards = self._live.get(user_id, {})
        now = self._clock()
        for linkedid in [k for k, (_, expires) in cards.items() if expires <= now]:
            del cards[linkedid]
        return [card for card, _ in cards.values()]

    def _apply(self, user_id: int, live: LiveChange) -> None:
        cards = self._live.setdefault(user_id, {})
        if live.card is None:
            cards.pop(live.linkedid, None)
            if not cards:
                del self._live[user_id]
        else:
            # Re-insert so the dict keeps the order in which cards last changed.
            cards.pop(live.linkedid, None)
            cards[live.linkedid] = (live.card, self._clock() + self._ttl)
