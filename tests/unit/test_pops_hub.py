"""The pop hub: per-socket queues and writers, slow sockets closed, live state on reconnect."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cti.pops.fanout import InProcessFanout, LiveChange
from cti.pops.hub import CLOSE_SLOW_CONSUMER, HubLimits, ScreenPopHub
from cti.pops.messages import MessageEncoder, MessageIds


class FakeSocket:
    """A websocket that records what it was sent; ``frozen`` never finishes a send."""

    def __init__(self, *, frozen: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.frozen = frozen
        self.closed = False
        self.close_code: int | None = None
        self.arrived = asyncio.Event()
        self.closed_event = asyncio.Event()

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if self.frozen:
            await asyncio.Event().wait()
        self.sent.append(json.loads(data))
        self.arrived.set()

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        self.closed = True
        self.close_code = code
        self.closed_event.set()
        return True

    def abort(self) -> None:
        self.closed = True
        self.closed_event.set()

    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]


async def _settle(hub: ScreenPopHub) -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def _hub(limits: HubLimits | None = None) -> ScreenPopHub:
    hub = ScreenPopHub(InProcessFanout(), limits=limits, encoder=MessageEncoder(MessageIds("t")))
    await hub.start()
    return hub


async def test_every_tab_of_a_user_gets_the_message_and_nobody_else() -> None:
    hub = await _hub()
    tab1, tab2, other = FakeSocket(), FakeSocket(), FakeSocket()
    await hub.attach(1, tab1)
    await hub.attach(1, tab2)
    await hub.attach(2, other)
    await hub.publish(1, hub.encoder.encode("call.ringing", {"linkedid": "L1"}))
    await _settle(hub)
    assert tab1.types() == ["hello", "state", "call.ringing"]
    assert tab2.types() == ["hello", "state", "call.ringing"]
    assert other.types() == ["hello", "state"]
    assert hub.connections(1) == 2
    await hub.stop()


async def test_message_ids_are_unique_and_increase() -> None:
    hub = await _hub()
    tab = FakeSocket()
    await hub.attach(7, tab)
    for n in range(5):
        await hub.publish(7, hub.encoder.encode("call.updated", {"n": n}))
    await _settle(hub)
    ids = [int(m["id"].split("-")[1]) for m in tab.sent]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(m["v"] == 1 for m in tab.sent)
    await hub.stop()


async def test_a_frozen_socket_is_closed_after_the_deadline_and_never_delays_others() -> None:
    hub = await _hub(HubLimits(queue_size=100, send_deadline_s=0.05))
    frozen = FakeSocket(frozen=True)
    healthy = [FakeSocket() for _ in range(49)]
    await hub.attach(1, frozen)
    for n, socket in enumerate(healthy):
        await hub.attach(100 + n, socket)
    await _settle(hub)
    for n in range(len(healthy)):
        await hub.publish(100 + n, hub.encoder.encode("call.ringing", {"n": n}))
    await hub.publish(1, hub.encoder.encode("call.ringing", {}))
    await _settle(hub)
    # Every healthy socket got its card while the frozen one is still stuck on its first send.
    assert all(s.types()[-1] == "call.ringing" for s in healthy)
    assert not frozen.closed
    await asyncio.wait_for(frozen.closed_event.wait(), timeout=2)
    assert frozen.close_code == CLOSE_SLOW_CONSUMER
    assert hub.connections(1) == 0
    await hub.stop()


async def test_a_full_queue_closes_that_socket_only() -> None:
    hub = await _hub(HubLimits(queue_size=3, send_deadline_s=30))
    frozen, healthy = FakeSocket(frozen=True), FakeSocket()
    await hub.attach(1, frozen)
    await hub.attach(1, healthy)
    for n in range(10):
        await hub.publish(1, hub.encoder.encode("call.updated", {"n": n}))
        await _settle(hub)
    assert hub.closed_slow == 1
    assert hub.connections(1) == 1
    await asyncio.wait_for(frozen.closed_event.wait(), timeout=2)
    assert frozen.close_code == CLOSE_SLOW_CONSUMER
    assert [m.get("n") for m in healthy.sent[2:]] == list(range(10))
    await hub.stop()


async def test_a_reconnecting_tab_receives_the_live_cards_at_once() -> None:
    hub = await _hub()
    card = json.dumps({"linkedid": "L9", "status": "ringing"})
    await hub.publish(3, hub.encoder.encode("call.ringing", {}), LiveChange("L9", card))
    await hub.publish(3, hub.encoder.encode("x", {}), LiveChange("L8", json.dumps({"l": "L8"})))
    await hub.publish(3, hub.encoder.encode("x", {}), LiveChange("L8", None))
    tab = FakeSocket()
    await hub.attach(3, tab)
    await _settle(hub)
    state = tab.sent[1]
    assert state["type"] == "state"
    assert state["cards"] == [{"linkedid": "L9", "status": "ringing"}]
    await hub.stop()


async def test_a_closed_tab_is_forgotten() -> None:
    hub = await _hub()
    tab = FakeSocket()
    connection = await hub.attach(5, tab)
    hub.detach(connection)
    await hub.wait_closed(connection)
    assert hub.connections(5) == 0
    await hub.publish(5, hub.encoder.encode("call.ringing", {}))
    assert hub.delivered == 0
    await hub.stop()


async def test_an_aborted_writer_closes_its_socket_whatever_it_was_doing() -> None:
    hub = await _hub()
    tab = FakeSocket()
    connection = await hub.attach(9, tab)
    await _settle(hub)  # the writer now waits for the next message
    connection.finish("queue-full", abort=True)
    await hub.wait_closed(connection)
    assert tab.closed
    assert tab.close_code == CLOSE_SLOW_CONSUMER
    await hub.stop()
