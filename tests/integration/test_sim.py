"""The simulator over raw TCP speaks AMI as Asterisk 22 does."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.protocol import AmiFrameDecoder, AmiMessage, encode_action
from cti.sim import PbxSimulator, flows, load_capture

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


class RawAmi:
    """A minimal AMI client: write actions, read whole messages."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = AmiFrameDecoder()
        self.pending: list[AmiMessage] = []

    @classmethod
    async def open(cls, sim: PbxSimulator) -> RawAmi:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        return cls(reader, writer)

    def send(self, **fields: str) -> None:
        self.writer.write(encode_action(fields))

    async def next(self) -> AmiMessage:
        async with asyncio.timeout(5):
            while not self.pending:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError
                self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    async def until(self, predicate: object) -> list[AmiMessage]:
        out: list[AmiMessage] = []
        while True:
            message = await self.next()
            out.append(message)
            if predicate(message):  # type: ignore[operator]
                return out

    async def login(self, secret: str = "secret") -> AmiMessage:  # noqa: S107 - demo account
        self.send(Action="Login", ActionID="login-1", Username="cti", Secret=secret)
        return await self.next()

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator() as simulator:
        yield simulator


async def test_banner_login_fully_booted_and_errors(sim: PbxSimulator) -> None:
    ami = await RawAmi.open(sim)
    try:
        ami.send(Action="Ping", ActionID="early")
        denied = await ami.next()
        assert ami.decoder.banner == "Asterisk Call Manager/11.0.0"
        assert (denied.response, denied.action_id, denied["Message"]) == (
            "Error",
            "early",
            "Permission denied",
        )
        wrong = await ami.login("nope")
        assert (wrong.response, wrong["Message"]) == ("Error", "Authentication failed")
        ok = await ami.login()
        assert (ok.response, ok.action_id, ok["Message"]) == (
            "Success",
            "login-1",
            "Authentication accepted",
        )
        booted = await ami.next()
        assert booted.event == "FullyBooted"
        assert booted["Status"] == "Fully Booted"
        ami.send(Action="Ping", ActionID="p-2")
        pong = await ami.next()
        assert (pong.response, pong.action_id, pong["Ping"]) == ("Success", "p-2", "Pong")
        assert float(pong["Timestamp"]) > 0
        ami.send(Action="Bogus", ActionID="b-3")
        assert (await ami.next())["Message"] == "Invalid/unknown command"
        ami.send(Action="Logoff", ActionID="bye")
        goodbye = await ami.next()
        assert (goodbye.response, goodbye.action_id) == ("Goodbye", "bye")
        with pytest.raises(EOFError):
            await ami.next()
    finally:
        ami.close()


async def test_core_show_channels_lists_the_live_call(sim: PbxSimulator) -> None:
    ami = await RawAmi.open(sim)
    try:
        await ami.login()
        call = sim.play(flows.queue_call(sim.ids, caller="+79161112233", ring_s=0.05, talk_s=30))
        await ami.until(lambda m: m.event == "AgentConnect")
        await asyncio.sleep(0.05)
        ami.send(Action="CoreShowChannels", ActionID="csc-1")
        answer = await ami.until(lambda m: m.event == "CoreShowChannelsComplete")
        lists = [m for m in answer if m.action_id == "csc-1"]
        assert lists[0].response == "Success"
        assert lists[0]["EventList"] == "start"
        channels = [m for m in lists if m.event == "CoreShowChannel"]
        assert sorted(m["Channel"].split("-")[0] for m in channels) == ["PJSIP/102", "PJSIP/trunk"]
        assert {m["Linkedid"] for m in channels} == {channels[0]["Linkedid"]}
        assert all(m["BridgeId"] for m in channels)
        assert lists[-1]["ListItems"] == "2"
        ami.send(Action="QueueStatus", ActionID="qs-1")
        status = await ami.until(lambda m: m.event == "QueueStatusComplete")
        busy = [m for m in status if m.event == "QueueMember" and m["InCall"] == "1"]
        assert {m["Name"] for m in busy} == {"Agent 102"}
        call.cancel()
    finally:
        ami.close()


async def test_filter_drops_events_server_side(sim: PbxSimulator) -> None:
    ami = await RawAmi.open(sim)
    try:
        await ami.login()
        await ami.next()  # FullyBooted
        ami.send(
            Action="Filter", ActionID="f-1", Operation="Add", Filter="!^Event: VarSet[[:space:]]"
        )
        assert (await ami.next())["Message"] == "Filter Added Successfully"
        await sim.ring_queue(caller="+79161234567", ring_s=0.01, talk_s=0.01)
        sim.send_events([{"Event": "Marker", "Privilege": "call,all"}])
        got = await ami.until(lambda m: m.event == "Marker")
        names = {m.event for m in got}
        assert "VarSet" not in names
        assert {"Newchannel", "AgentConnect", "Hangup"} <= names
    finally:
        ami.close()


async def test_replay_keeps_capture_timing_in_timestamps(sim: PbxSimulator) -> None:
    capture = FIXTURES / "inbound_answered.ami"
    expected = load_capture(FIXTURES / "inbound_answered.timed.jsonl")
    ami = await RawAmi.open(sim)
    try:
        await ami.login()
        replay = sim.replay(capture, speed=None, timestamps=True)
        await ami.next()  # FullyBooted
        got = [await ami.next() for _ in expected]
        await replay
        assert [m.event for m in got] == [e["Event"] for _, e in expected]
        stamps = [float(m["Timestamp"]) for m in got]
        for (offset, _), stamp in zip(expected, stamps, strict=True):
            assert stamp - stamps[0] == pytest.approx(offset - expected[0][0], abs=1e-5)
        assert [m.get("CallerIDNum") for m in got[:1]] == ["+79161234567"]
    finally:
        ami.close()


async def test_standalone_command_serves_generated_calls() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cti.cli",
        "sim",
        "--port",
        "0",
        "--calls-per-minute",
        "3000",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        port = int(line.split("127.0.0.1:")[1].split()[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ami = RawAmi(reader, writer)
        await ami.login()
        got = await ami.until(lambda m: m.event == "Newchannel")
        assert got[-1]["Uniqueid"]
        ami.close()
    finally:
        proc.terminate()
        await proc.wait()
