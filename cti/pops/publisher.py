"""Put a call's cards on the hub: one message per user per change, each with the call's revision.

The pop service decides who gets what; this module turns that into messages (the card as JSON,
kept as the user's live card for a reconnecting tab, or withdrawn) and counts what went out. A
call's messages leave only while this instance holds the call's PBX (``cti.fencing``).
"""

from __future__ import annotations

from typing import Any

import structlog

from cti.fencing import OPEN_FENCE, ConsumerFence
from cti.pops.cards import Holder, LiveCall, build_card, build_wrapup
from cti.pops.fanout import LiveChange
from cti.pops.hub import ScreenPopHub
from cti.pops.messages import WRAPUP, encode_card

log = structlog.get_logger(__name__)


class CardPublisher:
    """Encode and publish the pops' messages; a fan-out outage costs one message, not the call."""

    def __init__(self, hub: ScreenPopHub, fence: ConsumerFence = OPEN_FENCE) -> None:
        self._hub = hub
        self._fence = fence
        self.published = 0
        self.withheld = 0

    async def card(self, live: LiveCall, holder: Holder, kind: str) -> None:
        """Send ``holder`` the call's card as a ``kind`` message, kept as their live card."""
        live.revision += 1
        await self._send_card(live, holder, kind, build_card(live, holder))

    async def cards(self, live: LiveCall, kind: str, *, statuses: tuple[str, ...]) -> None:
        """The same to every holder whose card is in one of ``statuses``."""
        for holder in list(live.holders.values()):
            if holder.status in statuses:
                await self.card(live, holder, kind)

    async def wrapup(self, live: LiveCall, holder: Holder, stages: list[dict[str, Any]]) -> None:
        """Send ``holder`` the wrap-up form of the ended call."""
        live.revision += 1
        await self._send_card(live, holder, WRAPUP, build_wrapup(live, holder, stages))

    async def withdraw(self, live: LiveCall, holder: Holder, kind: str, reason: str) -> None:
        """Take ``holder``'s card away (answered elsewhere, transferred away, missed)."""
        live.holders.pop(holder.user.id, None)
        live.revision += 1
        body = {
            "linkedid": live.linkedid,
            "rev": live.revision,
            "reason": reason,
            "answered_by": live.agent_ref(live.snapshot.answered_by),
        }
        text = self._hub.encoder.encode(kind, body)
        await self._deliver(holder.user.id, text, LiveChange(live.linkedid, None), live.pbx)

    async def notice(
        self,
        user_id: int,
        kind: str,
        body: dict[str, Any],
        *,
        withdraw: str | None = None,
        pbx: str | None = None,
    ) -> None:
        """A message without a card; ``withdraw`` names a call whose live card it ends.

        ``pbx`` names the PBX whose events caused the notice (None: a user's own request).
        """
        live = LiveChange(withdraw, None) if withdraw is not None else None
        await self._deliver(user_id, self._hub.encoder.encode(kind, body), live, pbx)

    async def _send_card(
        self, live: LiveCall, holder: Holder, kind: str, card: dict[str, Any]
    ) -> None:
        card_json = encode_card(card)
        text = self._hub.encoder.encode_with_card(kind, {"linkedid": live.linkedid}, card_json)
        await self._deliver(holder.user.id, text, LiveChange(live.linkedid, card_json), live.pbx)

    async def _deliver(
        self, user_id: int, text: str, live: LiveChange | None, pbx: str | None
    ) -> None:
        if pbx is not None and not await self._fence.admits(pbx):
            # Another instance consumes this PBX now: it sends the call's cards, not us.
            self.withheld += 1
            log.info("pops_withheld_not_consumer", user_id=user_id, pbx=pbx)
            return
        # Posted, not awaited: the call path never waits on a round trip to Redis (the next
        # event's cards queue behind, in order); a failure is logged where it happens.
        if self._hub.post(user_id, text, live):
            self.published += 1
