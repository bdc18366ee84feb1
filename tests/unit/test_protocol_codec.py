"""The pure AMI codec: framing on bytes, whole-message decoding, oversized and malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.protocol import AmiFrameDecoder, AmiMessage, EventSkip, encode_action
from cti.settings import PbxSettings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "ami-traces"
NAMES = ["王伟", "Ирина Петрова", "علی رضایی"]


def _event(name: str, caller: str) -> bytes:
    return (
        f"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/trunk-0000000{len(caller)}\r\n"
        f"CallerIDNum: +79161234567\r\nCallerIDName: {caller}\r\nUniqueid: 1.{name}\r\n\r\n"
    ).encode()


STREAM = b"Asterisk Call Manager/11.0.0\r\n" + b"".join(
    _event(str(i), name) for i, name in enumerate(NAMES)
)


def _feed_in_reads(data: bytes, size: int) -> tuple[AmiFrameDecoder, list[AmiMessage]]:
    decoder = AmiFrameDecoder()
    out: list[AmiMessage] = []
    for start in range(0, len(data), size):
        out.extend(decoder.feed(data[start : start + size]))
    return decoder, out


@pytest.mark.parametrize("size", range(1, len(STREAM) + 1))
def test_names_survive_reads_of_every_size(size: int) -> None:
    decoder, messages = _feed_in_reads(STREAM, size)
    assert decoder.banner == "Asterisk Call Manager/11.0.0"
    assert [m.get("CallerIDName") for m in messages] == NAMES
    assert decoder.problems == []


def test_every_split_point_of_a_multibyte_name() -> None:
    data = _event("0", "Ирина Петрова")
    for cut in range(1, len(data)):
        decoder = AmiFrameDecoder()
        messages = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert [m.get("CallerIDName") for m in messages] == ["Ирина Петрова"], cut


def test_cr_lf_lf_ends_a_message() -> None:
    decoder = AmiFrameDecoder()
    data = b"Event: CoreShowChannelMap\r\nChannel: A\r\n\nEvent: Next\r\nChannel: B\r\n\r\n"
    messages = decoder.feed(data)
    assert [m.event for m in messages] == ["CoreShowChannelMap", "Next"]
    assert messages[0]["Channel"] == "A"


def test_bare_newlines_are_accepted() -> None:
    messages = AmiFrameDecoder().feed(b"Event: A\nKey: 1\n\nEvent: B\n\n")
    assert [m.event for m in messages] == ["A", "B"]


def test_banner_split_across_reads_and_missing_banner() -> None:
    decoder = AmiFrameDecoder()
    assert decoder.feed(b"Asterisk Call Man") == []
    assert decoder.feed(b"ager/11.0.0\r\nResponse: Success\r\n\r\n")[0].response == "Success"
    assert decoder.banner == "Asterisk Call Manager/11.0.0"
    no_banner = AmiFrameDecoder()
    assert no_banner.feed(b"Action: Login\r\nUsername: cti\r\n\r\n")[0]["Username"] == "cti"
    assert no_banner.banner is None


def test_oversized_message_is_dropped_and_the_stream_goes_on() -> None:
    decoder = AmiFrameDecoder(max_message_bytes=4096)
    big = b"Event: Huge\r\nData: " + b"x" * 20_000 + b"\r\n\r\n"
    messages: list[AmiMessage] = []
    for start in range(0, len(big), 1000):
        messages += decoder.feed(big[start : start + 1000])
    messages += decoder.feed(_event("1", "王伟"))
    assert [m.event for m in messages] == ["Newchannel"]
    assert messages[0]["CallerIDName"] == "王伟"
    assert [p.kind for p in decoder.problems] == ["oversized"]


def test_malformed_lines_are_kept_as_output_and_reported() -> None:
    decoder = AmiFrameDecoder()
    messages = decoder.feed(b"Event: Broken\r\nthis line has no colon\r\nKey: v\r\n\r\n")
    assert messages[0].getall("Output") == ["this line has no colon"]
    assert messages[0]["Key"] == "v"
    assert decoder.problems[0].kind == "malformed-line"


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    decoder = AmiFrameDecoder()
    messages = decoder.feed(b"Event: Bad\r\nCallerIDName: \xff\xfe\r\n\r\nEvent: Good\r\n\r\n")
    assert [m.event for m in messages] == ["Bad", "Good"]
    assert "\ufffd" in (messages[0]["CallerIDName"])
    assert decoder.problems[0].kind == "undecodable"


def test_blank_messages_are_skipped_and_reset_forgets_the_buffer() -> None:
    decoder = AmiFrameDecoder()
    assert decoder.feed(b"Asterisk Call Manager/11.0.0\r\n\r\n\r\nEvent: Half") == []
    decoder.reset()
    assert decoder.feed(b"Asterisk Call Manager/11.0.0\r\nEvent: Whole\r\n\r\n")[0].event == "Whole"


def test_repeated_headers_and_case_insensitive_lookup() -> None:
    message = AmiFrameDecoder().feed(b"Event: X\r\nChanVariable: a=1\r\nChanVariable: b=2\r\n\r\n")[
        0
    ]
    assert message.getall("ChanVariable") == ["a=1", "b=2"]
    assert message.get("CHANVARIABLE") == "a=1"
    assert message.get("Missing") is None
    assert message.as_dict()["ChanVariable"] == ["a=1", "b=2"]


def test_encode_action_round_trips_and_strips_line_breaks() -> None:
    data = encode_action(
        {"Action": "Originate", "CallerID": '"Ирина\r\nX: y" <+7916>', "Variable": ["A=1", "B=2"]}
    )
    assert data.endswith(b"\r\n\r\n")
    message = AmiFrameDecoder().feed(data)[0]
    assert message["CallerID"] == '"Ирина  X: y" <+7916>'
    assert message.getall("Variable") == ["A=1", "B=2"]
    assert "X" not in message


def _captures() -> list[Path]:
    files = sorted(FIXTURES.glob("*.ami"))
    if SHARED.is_dir():
        files += sorted(SHARED.glob("*.ami"))
    return files


@pytest.mark.parametrize("path", _captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_capture_decodes_the_same_at_any_read_size(path: Path) -> None:
    data = path.read_bytes()
    whole = AmiFrameDecoder().feed(data)
    assert whole, "a capture holds messages"
    assert sum(m.event is not None for m in whole) > 0
    for size in (7, 1400, 65536):
        decoder, pieces = _feed_in_reads(data, size)
        assert pieces == whole
        assert decoder.problems == []


def test_message_lookups_fold_case_and_first_value_wins() -> None:
    message = AmiMessage.of({"Event": "Hangup", "Cause": "16", "Variable": ["A=1", "B=2"]})
    assert message.event == "Hangup"
    assert message["cause"] == "16"
    assert message.get("VARIABLE") == "A=1"
    assert "cAuSe" in message
    assert "Missing" not in message
    assert message.response is None
    assert message.action_id is None
    with pytest.raises(KeyError):
        message["Missing"]


def _var_set(variable: str, value: str) -> bytes:
    return (
        "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/101-00000001\r\n"
        f"Uniqueid: 1.1\r\nVariable: {variable}\r\nValue: {value}\r\n\r\n"
    ).encode()


SKIPPED_STREAM = (
    b"Asterisk Call Manager/11.0.0\r\n"
    + _var_set("SIPDOMAIN", "127.0.0.1")
    + _event("0", NAMES[0])
    + b"Event: Newexten\r\nPrivilege: dialplan,all\r\nApplication: Dial\r\n\r\n"
    + _var_set("MIXMONITOR_FILENAME", "/var/spool/asterisk/monitor/1.1.wav")
    + _event("1", NAMES[1])
    + b"Event: VarSetAndMore\r\nPrivilege: call,all\r\n\r\n"
    + _var_set("MONITOR_FILENAME", "/var/spool/asterisk/monitor/2.wav")
    + b"Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/101\r\n\r\n"
    + _event("2", NAMES[2])
)
DEFAULT_SKIP = EventSkip(PbxSettings.model_fields["filtered_events"].default)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 17, 64, 333, len(SKIPPED_STREAM)])
def test_skipped_events_are_dropped_unparsed_at_any_read_size(size: int) -> None:
    decoder = AmiFrameDecoder(skip=DEFAULT_SKIP)
    messages: list[AmiMessage] = []
    for start in range(0, len(SKIPPED_STREAM), size):
        messages.extend(decoder.feed(SKIPPED_STREAM[start : start + size]))
    kept = [(m.event, m.get("Variable") or m.get("CallerIDName")) for m in messages]
    assert kept == [
        ("Newchannel", NAMES[0]),
        ("VarSet", "MIXMONITOR_FILENAME"),  # a recording's file name is kept
        ("Newchannel", NAMES[1]),
        ("VarSetAndMore", None),  # only the exact event name is skipped
        ("VarSet", "MONITOR_FILENAME"),
        ("Newchannel", NAMES[2]),
    ]
    assert decoder.skipped == 3
    assert decoder.problems == []


def test_skip_applies_to_bare_newline_messages_only_when_spelled_as_asterisk_does() -> None:
    lf = b"Event: VarSet\nVariable: X\nValue: 1\n\n"
    crlf_lf_end = b"Event: VarSet\r\nVariable: X\r\nValue: 1\r\n\n"
    decoder = AmiFrameDecoder(skip=DEFAULT_SKIP)
    messages = decoder.feed(b"Asterisk Call Manager/11.0.0\r\n" + lf + crlf_lf_end)
    assert [m.event for m in messages] == ["VarSet"]  # the LF-only one is parsed as it came
    assert decoder.skipped == 1


def test_without_a_skip_every_event_is_parsed() -> None:
    decoder = AmiFrameDecoder()
    messages = decoder.feed(SKIPPED_STREAM)
    assert len(messages) == 9
    assert decoder.skipped == 0
    assert not EventSkip(())
    assert not EventSkip(()).drops("Event: VarSet\r\nVariable: X")


@pytest.mark.parametrize("path", _captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_skip_drops_exactly_the_events_the_call_model_never_reads(path: Path) -> None:
    data = path.read_bytes()
    every = AmiFrameDecoder().feed(data)
    decoder = AmiFrameDecoder(skip=DEFAULT_SKIP)
    kept = decoder.feed(data)
    listed = DEFAULT_SKIP.events
    expected = [
        m
        for m in every
        if m.event not in listed
        or (
            m.event == "VarSet" and m.get("Variable") in ("MIXMONITOR_FILENAME", "MONITOR_FILENAME")
        )
    ]
    assert kept == expected
    assert decoder.skipped == len(every) - len(expected)
