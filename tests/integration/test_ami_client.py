"""The AMI client against the simulator over real TCP: login, order, actions, resync."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.ami import AmiActionFailed, AmiClient, AmiFleet
from cti.protocol import LinkDown, LinkItem, LinkUp, PbxEvent
from cti.sim import PbxSimulator, flows
from tests.integration.ami_support import FAST, next_item


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator() as simulator:
        yield simulator


async def collect_events(items: AsyncIterator[LinkItem], count: int) -> list[PbxEvent]:
    """The next ``count`` events (other link items are skipped)."""
    events: list[PbxEvent] = []
    async with asyncio.timeout(5):
        async for item in items:
            if isinstance(item, PbxEvent):
                events.append(item)
                if len(events) >= count:
                    break
    return events


async def test_login_resync_then_events_in_wire_order(sim: PbxSimulator) -> None:
    settings = sim.client_settings(server_side_filter=False, client_side_filter=False, **FAST)
    async with AmiClient(settings) as client:
        items = client.items()
        up = await next_item(items, LinkUp)
        assert isinstance(up, LinkUp)
        assert up.snapshot == () or all(m.event != "CoreShowChannel" for m in up.snapshot)
        sent: list[str] = []
        sim.on_sent = lambda events, _at: sent.extend(str(e["Event"]) for e in events)
        await sim.ring_queue(caller="+79161234567", caller_name="王伟", ring_s=0.01, talk_s=0.01)
        events = await collect_events(items, len(sent))
        received = [e.message.event for e in events]
        assert received == sent
        assert len(received) > 150
        assert sum(name == "VarSet" for name in received) > len(received) / 2
        names = {e.message.get("CallerIDName") for e in events}
        assert "王伟" in names
        assert client.state.connected
        assert client.state.events >= len(received)


async def test_unused_events_are_dropped_on_arrival_and_counted(sim: PbxSimulator) -> None:
    # The PBX sends everything (no server-side Filter): the client drops what the model never
    # reads before parsing it, keeps the rest in wire order, and counts what it dropped.
    settings = sim.client_settings(server_side_filter=False, **FAST)
    async with AmiClient(settings) as client:
        items = client.items()
        await next_item(items, LinkUp)
        sent: list[dict[str, str]] = []
        sim.on_sent = lambda events, _at: sent.extend(
            {k: str(v) for k, v in e.items()} for e in events
        )
        await sim.ring_queue(caller="+79161234567", caller_name="Ирина", ring_s=0.01, talk_s=0.01)
        sim.send_events(
            [
                {
                    "Event": "VarSet",
                    "Privilege": "dialplan,all",
                    "Uniqueid": "1.1",
                    "Variable": "MIXMONITOR_FILENAME",
                    "Value": "/var/spool/asterisk/monitor/1.1.wav",
                }
            ]
        )
        listed = set(settings.filtered_events)
        expected = [
            e["Event"]
            for e in sent
            if e["Event"] not in listed or e.get("Variable") == "MIXMONITOR_FILENAME"
        ]
        events = await collect_events(items, len(expected))
        assert [e.message.event for e in events] == expected
        assert [e.message.get("Variable") for e in events if e.message.event == "VarSet"] == [
            "MIXMONITOR_FILENAME"
        ]
        assert client.state.filtered == len(sent) - len(expected)
        assert client.state.filtered > len(sent) / 2


async def test_trusting_sequence_numbers_turns_the_client_filter_off(sim: PbxSimulator) -> None:
    settings = sim.client_settings(server_side_filter=False, resync_on_sequence_gap=True, **FAST)
    async with AmiClient(settings) as client:
        items = client.items()
        await next_item(items, LinkUp)
        sent: list[str] = []
        sim.on_sent = lambda events, _at: sent.extend(str(e["Event"]) for e in events)
        await sim.ring_queue(caller="+79161234567", ring_s=0.01, talk_s=0.01)
        events = await collect_events(items, len(sent))
        assert [e.message.event for e in events] == sent
        assert "VarSet" in sent
        assert client.state.filtered == 0


async def test_wrong_secret_is_refused_and_never_shown(sim: PbxSimulator) -> None:
    settings = sim.client_settings(secret="hunter2-not-it", **FAST)
    client = AmiClient(settings)
    await client.start()
    try:
        async with asyncio.timeout(5):
            while client.state.last_error is None:  # noqa: ASYNC110 - polls client state
                await asyncio.sleep(0.01)
        error = client.state.last_error
        assert "refused" in error
        assert "hunter2" not in error
        assert sim.failed_logins >= 1
        assert not client.state.connected
    finally:
        await client.stop()


async def test_originate_reports_the_result(sim: PbxSimulator) -> None:
    sim.speed = 20
    async with AmiClient(sim.client_settings(**FAST)) as client:
        await asyncio.wait_for(client.wait_connected(), 5)
        result = await client.originate(
            "PJSIP/101", "+79165556677", caller_id='"Ирина Петрова" <+79165556677>'
        )
        assert result.success
        assert result.reason == "answered"
        assert result.channel.startswith("PJSIP/101-")
        sent = [a for s in sim.sessions for a in s.actions_seen if a.get("Action") == "Originate"]
        assert sent[0].get("Async") == "true"
        assert sent[0].action_id == result.action_id
        failed = await client.originate("PJSIP/999", "+79165556677")
        assert not failed.success
        assert failed.reason == "failed"


async def test_originate_through_a_separate_write_account() -> None:
    async with PbxSimulator(accounts={"cti-originate": "pw-2"}) as sim:
        settings = sim.client_settings(
            originate_username="cti-originate", originate_secret="pw-2", **FAST
        )
        sim.speed = 20
        async with AmiClient(settings) as client:
            await asyncio.wait_for(client.wait_connected(), 5)
            result = await client.originate("PJSIP/102", "+79161234567")
            assert result.success
            users = {s.username: s for s in sim.sessions}
            assert set(users) == {"cti", "cti-originate"}
            sent_by = {
                name
                for name, s in users.items()
                if any(a.get("Action") == "Originate" for a in s.actions_seen)
            }
            assert sent_by == {"cti-originate"}
            assert not users["cti-originate"].events_on


async def test_actions_answer_and_errors_raise(sim: PbxSimulator) -> None:
    async with AmiClient(sim.client_settings(**FAST)) as client:
        await asyncio.wait_for(client.wait_connected(), 5)
        assert await client.ping() >= 0
        listed = await client.action({"Action": "QueueStatus"})
        assert any(m.event == "QueueMember" for m in listed)
        with pytest.raises(AmiActionFailed, match="unknown command"):
            await client.action({"Action": "NoSuchThing"})


async def test_restart_with_calls_in_progress_resyncs_to_the_live_channels(
    sim: PbxSimulator,
) -> None:
    async with AmiClient(sim.client_settings(**FAST)) as client:
        items = client.items()
        await next_item(items, LinkUp)
        # One call still talking after the restart, one that ends while the PBX is away.
        long_call = sim.play(
            flows.queue_call(
                sim.ids, caller="+79161112233", answer_by="102", ring_s=0.05, talk_s=30
            )
        )
        short_call = sim.play(
            flows.direct_call(sim.ids, caller="+79162223344", ring_s=0.05, talk_s=0.3)
        )
        await asyncio.sleep(0.15)
        await sim.restart(down_s=0.5)
        down = await next_item(items, LinkDown)
        assert isinstance(down, LinkDown)
        assert "shut down" in down.reason
        up = await next_item(items, LinkUp)
        assert isinstance(up, LinkUp)
        channels = {m.get("Channel", "") for m in up.snapshot if m.event == "CoreShowChannel"}
        callers = {m.get("CallerIDNum") for m in up.snapshot if m.event == "CoreShowChannel"}
        assert any(c.startswith("PJSIP/102-") for c in channels)
        assert "+79161112233" in callers
        assert "+79162223344" not in callers
        assert short_call.done()
        long_call.cancel()


async def test_reload_and_a_late_fully_booted_bring_a_new_snapshot(sim: PbxSimulator) -> None:
    async with AmiClient(sim.client_settings(**FAST)) as client:
        items = client.items()
        await next_item(items, LinkUp)
        sim.send_events([{"Event": "Reload", "Privilege": "system,all", "Module": "All"}])
        assert isinstance(await next_item(items, LinkUp), LinkUp)
        booted = {"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"}
        sim.send_events([booted])
        assert isinstance(await next_item(items, LinkUp), LinkUp)
        assert client.state.connects == 1


async def test_fleet_merges_several_pbxs_keeping_each_order() -> None:
    async with PbxSimulator() as first, PbxSimulator() as second:
        settings = [
            first.client_settings(name="moscow", **FAST),
            second.client_settings(name="tehran", **FAST),
        ]
        async with AmiFleet(settings) as fleet:
            seen: dict[str, list[str]] = {"moscow": [], "tehran": []}
            ups = set()
            async with asyncio.timeout(5):
                async for item in fleet.items():
                    if isinstance(item, LinkUp):
                        ups.add(item.pbx)
                        if ups == {"moscow", "tehran"}:
                            break
            for sim, name in ((first, "Ирина Петрова"), (second, "علی رضایی")):
                sim.send_events(
                    [
                        {
                            "Event": "Newchannel",
                            "Privilege": "call,all",
                            "CallerIDName": name,
                            "N": str(n),
                        }
                        for n in range(50)
                    ]
                )
            async with asyncio.timeout(5):
                async for item in fleet.items():
                    if isinstance(item, PbxEvent) and item.message.event == "Newchannel":
                        seen[item.pbx].append(item.message["N"])
                        if all(len(v) == 50 for v in seen.values()):
                            break
            assert seen["moscow"] == [str(n) for n in range(50)]
            assert seen["tehran"] == [str(n) for n in range(50)]
            assert [s.connected for s in fleet.states] == [True, True]
            assert fleet["tehran"].state.pbx == "tehran"


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "ami.crt", tmp_path / "ami.key"
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_ami_over_tls_verifies_the_pbx_certificate(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    async with PbxSimulator(tls=context) as sim:
        settings = sim.client_settings(tls=True, tls_ca_file=str(cert), **FAST)
        async with AmiClient(settings) as client:
            up = await next_item(client.items(), LinkUp)
            assert isinstance(up, LinkUp)
            assert await client.ping() >= 0
        untrusted = AmiClient(sim.client_settings(tls=True, **FAST))
        await untrusted.start()
        try:
            async with asyncio.timeout(5):
                while untrusted.state.last_error is None:  # noqa: ASYNC110 - polls state
                    await asyncio.sleep(0.01)
            assert "CERTIFICATE_VERIFY_FAILED" in untrusted.state.last_error
            assert not untrusted.state.connected
        finally:
            await untrusted.stop()
