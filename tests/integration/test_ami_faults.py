"""The AMI client survives what a PBX and a network do: drops, restarts, silence, junk, gaps."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
import structlog

from cti.ami import AmiClient
from cti.ami.backoff import Backoff
from cti.protocol import LinkDown, LinkItem, LinkUp, PbxEvent
from cti.sim import PbxSimulator
from tests.integration.ami_support import FAST, next_item

NAMES = ["王伟", "Ирина Петрова", "علی رضایی"]


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator() as simulator:
        yield simulator


async def events_until(items: AsyncIterator[LinkItem], name: str) -> list[PbxEvent]:
    out: list[PbxEvent] = []
    async with asyncio.timeout(5):
        async for item in items:
            if isinstance(item, PbxEvent):
                out.append(item)
                if item.message.event == name:
                    return out
    return out


def name_events() -> list[dict[str, str]]:
    return [
        {"Event": "Newchannel", "Privilege": "call,all", "CallerIDName": n, "Uniqueid": f"9.{i}"}
        for i, n in enumerate(NAMES)
    ] + [{"Event": "Marker", "Privilege": "call,all"}]


async def test_dropped_connection_reconnects_and_resyncs(sim: PbxSimulator) -> None:
    async with AmiClient(sim.client_settings(**FAST)) as client:
        items = client.items()
        await next_item(items, LinkUp)
        sim.drop_connections()
        down = await next_item(items, LinkDown)
        assert isinstance(down, LinkDown)
        assert "connection" in down.reason
        await next_item(items, LinkUp)
        assert client.state.connects == 2
        sim.send_events(name_events())
        got = await events_until(items, "Marker")
        assert [e.message.get("CallerIDName") for e in got[:3]] == NAMES


async def test_backoff_grows_while_the_pbx_is_away(sim: PbxSimulator) -> None:
    settings = sim.client_settings(**{**FAST, "reconnect_min_s": 0.01, "reconnect_max_s": 0.4})
    async with AmiClient(settings) as client:
        await asyncio.wait_for(client.wait_connected(), 5)
        restart = asyncio.create_task(sim.restart(down_s=0.6))
        await asyncio.sleep(0.4)
        attempts = client._backoff.attempt
        await restart
        await asyncio.wait_for(client.wait_connected(), 5)
        # Doubling from 10 ms: a handful of attempts in 0.4 s, not hundreds.
        assert 2 <= attempts <= 8
        assert client._backoff.attempt == 0


async def test_silent_peer_is_detected_and_reconnected(sim: PbxSimulator) -> None:
    async with AmiClient(sim.client_settings(**FAST)) as client:
        items = client.items()
        await next_item(items, LinkUp)
        sim.silent = True
        down = await next_item(items, LinkDown, within_s=3)
        assert isinstance(down, LinkDown)
        assert "Ping" in down.reason
        sim.silent = False
        await next_item(items, LinkUp, within_s=5)
        assert client.state.connected


async def test_malformed_and_oversized_frames_are_survived(sim: PbxSimulator) -> None:
    async with AmiClient(sim.client_settings(max_message_bytes=65536, **FAST)) as client:
        items = client.items()
        await next_item(items, LinkUp)
        sim.send_malformed()
        sim.send_oversized(300_000)
        sim.send_events(name_events())
        got = await events_until(items, "Marker")
        names = [e.message.get("CallerIDName") for e in got if e.message.event == "Newchannel"]
        assert names == NAMES
        assert "Oversized" not in {e.message.event for e in got}
        assert {"Broken", "BadBytes", "TwoNewlines"} <= {e.message.event for e in got}
        assert client.state.decode_problems >= 3
        assert client.state.connected


@pytest.mark.parametrize("chunk", [1, 2, 3, 5])
async def test_utf8_names_survive_reads_split_at_every_byte(sim: PbxSimulator, chunk: int) -> None:
    async with AmiClient(sim.client_settings(**FAST)) as client:
        items = client.items()
        await next_item(items, LinkUp)
        sim.write_chunk_size = chunk
        for session in sim.sessions:
            session.enable_chunking()
        reads_before = client.reads
        sim.send_events(name_events())
        got = await events_until(items, "Marker")
        assert [e.message.get("CallerIDName") for e in got[:3]] == NAMES
        payload = sum(len(n.encode()) for n in NAMES)
        assert client.reads - reads_before >= payload // chunk


async def test_sequence_gap_triggers_a_resync(sim: PbxSimulator) -> None:
    sim.sequence_numbers = True
    settings = sim.client_settings(resync_on_sequence_gap=True, server_side_filter=False, **FAST)
    async with AmiClient(settings) as client:
        items = client.items()
        await next_item(items, LinkUp)
        sim.send_events(name_events())
        sim.skip_sequence(5)
        sim.send_events(name_events())
        down = await next_item(items, LinkDown)
        assert isinstance(down, LinkDown)
        assert "SequenceNumber gap" in down.reason
        await next_item(items, LinkUp)
        assert client.state.sequence_gaps == 1


async def test_a_full_queue_drops_then_resyncs_without_blocking_reads(sim: PbxSimulator) -> None:
    async with AmiClient(sim.client_settings(event_queue_size=100, **FAST)) as client:
        items = client.items()
        await next_item(items, LinkUp)
        burst = [{"Event": "Burst", "Privilege": "call,all", "N": str(i)} for i in range(400)]
        sim.send_events(burst)
        await asyncio.sleep(0.2)  # nobody consumes: the queue fills up
        assert client.state.dropped > 0
        down = await next_item(items, LinkDown)
        assert isinstance(down, LinkDown)
        assert "overflow" in down.reason
        await next_item(items, LinkUp)
        sim.send_events(name_events())
        got = await events_until(items, "Marker")
        assert got[-1].message.event == "Marker"
        assert client.state.connected


async def test_secret_never_reaches_logs_or_errors(
    sim: PbxSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-Пароль"
    sim.secret = secret
    sim.speed = 20
    with structlog.testing.capture_logs() as logs:
        bad = AmiClient(sim.client_settings(secret="wrong-" + secret, **FAST))
        await bad.start()
        async with asyncio.timeout(5):
            while bad.state.last_error is None:  # noqa: ASYNC110 - polls client state
                await asyncio.sleep(0.01)
        error = bad.state.last_error
        await bad.stop()
        async with AmiClient(sim.client_settings(secret=secret, **FAST)) as good:
            await asyncio.wait_for(good.wait_connected(), 5)
            await good.originate("PJSIP/101", "+79161234567")
            sim.drop_connections()
            await asyncio.sleep(0.2)
    assert "refused" in error
    texts = [error, caplog.text, *(repr(entry) for entry in logs)]
    assert logs, "the client logged something"
    for text in texts:
        assert secret not in text
    assert "s3cr3t" not in repr(good.settings)


async def test_a_refused_channel_list_never_makes_an_empty_snapshot(sim: PbxSimulator) -> None:
    # An account without write=reporting gets "Permission denied" for CoreShowChannels.
    sim.refuse_actions = {"coreshowchannels"}
    async with AmiClient(sim.client_settings(**FAST)) as client:
        async with asyncio.timeout(5):
            while "reporting" not in (client.state.last_error or ""):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert not client.state.connected
        sim.refuse_actions = set()
        lifted = time.time()
        up = await next_item(client.items(), LinkUp)
        assert isinstance(up, LinkUp)
        assert up.at >= lifted


async def test_bare_panoramisk_loses_split_characters_which_is_why_we_frame_on_bytes(
    sim: PbxSimulator,
) -> None:
    from panoramisk import Manager

    names: list[str] = []
    marker: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_event(_manager: object, message: object) -> None:
        event = getattr(message, "event", "")
        if event == "Newchannel":
            names.append(str(getattr(message, "CallerIDName", "")))
        elif event == "Marker" and not marker.done():
            marker.set_result(None)

    manager = Manager(host="127.0.0.1", port=sim.port, username="cti", ping_delay=3600)
    manager.config["secret"] = sim.secret
    manager.register_event("*", on_event)
    await manager.connect()
    try:
        await sim.wait_for_login(1)
        sim.write_chunk_size = 1
        for session in sim.sessions:
            session.enable_chunking()
        sim.send_events(name_events())
        await asyncio.wait_for(marker, 10)
    finally:
        manager.close()
    # panoramisk 1.4 decodes each read on its own with errors ignored: a character whose bytes
    # arrive in different reads is lost (written a byte at a time, nearly all of them are).
    assert len(names) == len(NAMES)
    for got, sent in zip(names, NAMES, strict=True):
        assert got != sent
        assert len(got) < len(sent)


def test_backoff_doubles_to_its_cap_with_jitter_and_resets() -> None:
    low = Backoff(0.5, 30.0, rng=lambda: 0.0)
    high = Backoff(0.5, 30.0, rng=lambda: 0.999999)
    lows = [low.next() for _ in range(10)]
    highs = [high.next() for _ in range(10)]
    assert lows[:4] == [0.25, 0.5, 1.0, 2.0]
    assert lows[-1] == 15.0  # half of the 30 s cap
    assert highs[-1] == pytest.approx(30.0)
    assert all(lo <= hi for lo, hi in zip(lows, highs, strict=True))
    low.reset()
    assert low.next() == 0.25
