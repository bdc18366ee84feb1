"""Events the reader only queues wait as their frame's text and are parsed when taken: the same
messages, in the same order, a backlog a fraction of the size; answers and control events are
still parsed as they arrive."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from cti.ami.client import _SEQUENCE, _deferrable, _frame_value
from cti.ami.intake import EventIntake
from cti.protocol import AmiFrameDecoder, AmiMessage, PbxEvent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


def _capture() -> bytes:
    return (FIXTURES / "inbound_linear_queue.ami").read_bytes()


def test_deferred_frames_parse_to_the_messages_the_decoder_gives_at_once() -> None:
    data = _capture()
    at_once = AmiFrameDecoder().feed(data)
    deferring = AmiFrameDecoder(defer=_deferrable)
    items = deferring.feed_frames(data)
    assert any(isinstance(item, str) for item in items)
    assert any(isinstance(item, AmiMessage) for item in items)  # responses, answers
    later = [deferring.parse(item) if isinstance(item, str) else item for item in items]
    assert later == at_once  # scrubbed the same way: no dialplan data, no unread variables


@pytest.mark.parametrize(
    ("frame", "deferred"),
    [
        ("Event: Newchannel\r\nChannel: PJSIP/1-1\r\nUniqueid: 1.1", True),
        ("Event: Hangup\r\nChannel: PJSIP/1-1", True),
        ("Response: Success\r\nActionID: 7\r\nMessage: Pong", False),
        ("Event: CoreShowChannel\r\nActionID: 8\r\nChannel: PJSIP/1-1", False),  # an answer
        ("Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted", False),
        ("Event: Shutdown\r\nShutdown: Cleanly\r\nRestart: True", False),
        ("Event: OriginateResponse\r\nResponse: Success", False),
        ("Event: Reload\r\nModule: manager", False),
        ("Event: Newstate\r\nSequenceNumber: 41\r\nChannel: PJSIP/1-1", True),  # checked raw
    ],
)
def test_what_waits_as_text(frame: str, deferred: bool) -> None:
    assert _deferrable(frame) is deferred


async def test_the_intake_parses_queued_frames_when_they_are_taken_in_wire_order() -> None:
    parsed: list[str] = []

    def parse(text: str) -> AmiMessage | None:
        parsed.append(text)
        return AmiFrameDecoder().parse(text)

    intake = EventIntake("pbx", 100, lambda: None, parse)
    intake.put_frame("Event: Newchannel\r\nUniqueid: 1.1", 1.0)
    intake.put_event(AmiMessage.of({"Event": "Newstate", "Uniqueid": "1.1"}), 2.0)
    intake.put_frame("", 3.0)  # nothing in it: skipped when taken
    intake.put_frame("Event: Hangup\r\nUniqueid: 1.1", 4.0)
    assert parsed == []  # nothing parsed while queued
    taken = [await intake.get() for _ in range(3)]
    assert all(isinstance(item, PbxEvent) for item in taken)
    events = [(item.message.event, item.at) for item in taken if isinstance(item, PbxEvent)]
    assert events == [("Newchannel", 1.0), ("Newstate", 2.0), ("Hangup", 4.0)]
    assert intake.events == 4


def test_a_backlog_of_frames_takes_a_fraction_of_the_memory_of_parsed_events() -> None:
    data = _capture()
    frames = [f for f in AmiFrameDecoder(defer=_deferrable).feed_frames(data) if isinstance(f, str)]
    backlog = frames * (2000 // len(frames) + 1)

    def queued_bytes(put: str) -> int:
        wire = [text.encode() for text in backlog]
        parser = AmiFrameDecoder()
        intake = EventIntake("pbx", 10_000, lambda: None, parser.parse)
        tracemalloc.start()
        try:
            for raw in wire:
                text = raw.decode()  # a fresh text per frame, as the reader makes it
                if put == "frame":
                    intake.put_frame(text, 1.0)  # kept: the text
                else:
                    message = parser.parse(text)  # kept: the headers; the text is let go
                    assert message is not None
                    intake.put_event(message, 1.0)
            size, _peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return size

    assert queued_bytes("frame") * 4 < queued_bytes("event")


def test_a_numbered_frame_gives_its_number_without_being_parsed() -> None:
    frame = "Event: Newstate\r\nPrivilege: call,all\r\nSequenceNumber: 41\r\nChannel: PJSIP/1-1"
    assert _frame_value(frame, _SEQUENCE) == "41"
    assert _frame_value(frame + "\r\nSequenceNumber: 42", _SEQUENCE) == "41"  # the first
    assert _frame_value("Event: Newstate\r\nSequenceNumber: 7", _SEQUENCE) == "7"  # at the end
    assert _frame_value("Event: Newstate\r\nChannel: x", _SEQUENCE) is None
