"""The answers of one resync (QueueStatus, then CoreShowChannels), turned into a LinkUp."""

from __future__ import annotations

from collections.abc import Callable

from cti.ami.errors import AmiActionFailed
from cti.protocol import AmiMessage

_LIST_END = frozenset({"CoreShowChannelsComplete", "QueueStatusComplete"})


def _refusal(messages: list[AmiMessage]) -> str | None:
    first = messages[0] if messages else None
    if first is not None and (first.response or "").lower() == "error":
        return first.get("Message") or "no reason given"
    return None


class SnapshotCollector:
    """Gathers the list events of a resync; calls ``ready`` with them, in wire order.

    ``ready`` runs inside the protocol's read loop, right where CoreShowChannelsComplete was
    read, so the LinkUp it queues sits at the snapshot's exact place in the event stream.
    """

    def __init__(self, ready: Callable[[tuple[AmiMessage, ...]], None]) -> None:
        self._ready = ready
        self._queues: list[AmiMessage] = []
        self.refused: str | None = None

    def queues_answered(self, messages: list[AmiMessage]) -> None:
        # A PBX without app_queue refuses QueueStatus: the channels still make a snapshot.
        self._queues = [m for m in messages if m.event and m.event not in _LIST_END]

    def channels_answered(self, messages: list[AmiMessage]) -> None:
        refusal = _refusal(messages)
        if refusal is not None:
            # Without the channel list no snapshot can be trusted: an empty one would close
            # every live call.
            self.refused = refusal
            return
        channels = [m for m in messages if m.event and m.event not in _LIST_END]
        self._ready(tuple(self._queues + channels))

    def raise_if_refused(self) -> None:
        if self.refused is not None:
            raise AmiActionFailed(
                "CoreShowChannels", f"{self.refused} (the AMI account needs write = reporting)"
            )
