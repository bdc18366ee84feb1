"""Several PBXs at once: start and stop their clients together and merge their items."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from types import TracebackType

from cti.ami.client import AmiClient
from cti.ami.state import ClientState
from cti.protocol import LinkItem
from cti.settings import PbxSettings

_END = object()


class AmiFleet:
    """One :class:`AmiClient` per configured PBX; ``items()`` interleaves them.

    Each PBX's own order is kept (one forwarding task per client, in order); items of different
    PBXs interleave as they arrive.
    """

    def __init__(self, settings: Iterable[PbxSettings], *, queue_size: int = 10_000) -> None:
        self.clients = {s.name: AmiClient(s) for s in settings}
        self._merged: asyncio.Queue[object] = asyncio.Queue(maxsize=queue_size)
        self._forwarders: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for client in self.clients.values():
            await client.start()
            self._forwarders.append(loop.create_task(self._forward(client)))

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.clients.values()))
        await asyncio.gather(*self._forwarders, return_exceptions=True)
        self._forwarders.clear()

    async def __aenter__(self) -> AmiFleet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __getitem__(self, name: str) -> AmiClient:
        return self.clients[name]

    @property
    def states(self) -> list[ClientState]:
        return [c.state for c in self.clients.values()]

    async def items(self) -> AsyncIterator[LinkItem]:
        """Items of every PBX until all clients stop."""
        remaining = len(self._forwarders)
        while remaining:
            item = await self._merged.get()
            if item is _END:
                remaining -= 1
                continue
            yield item  # type: ignore[misc]

    async def _forward(self, client: AmiClient) -> None:
        try:
            async for item in client.items():
                # Waiting here only delays this forwarder; the client's own queue absorbs bursts
                # and resyncs if it overflows, so a slow consumer never stalls a socket read.
                await self._merged.put(item)
        finally:
            await self._merged.put(_END)
