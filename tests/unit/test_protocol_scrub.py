"""The decoder drops what the dialplan ran (it may hold a token) and variables nobody reads."""

from __future__ import annotations

from cti.protocol import AmiFrameDecoder

TOKEN = "cti_Zx9-secret-route-lookup-token-123456"


def _wire(*messages: dict[str, str]) -> bytes:
    return b"".join(
        "".join(f"{key}: {value}\r\n" for key, value in message.items()).encode() + b"\r\n"
        for message in messages
    )


NEWEXTEN = {
    "Event": "Newexten",
    "Channel": "PJSIP/trunk-00000001",
    "Uniqueid": "1700000000.1",
    "Linkedid": "1700000000.1",
    "Context": "from-trunk",
    "Extension": "+74951234567",
    "Priority": "3",
    "Application": "Set",
    "AppData": f"CURLOPT(httpheader)=Authorization: Bearer {TOKEN}",
}
SNAPSHOT_ROW = {
    "Event": "CoreShowChannel",
    "ActionID": "7",
    "Channel": "PJSIP/trunk-00000001",
    "Application": "Set",
    "ApplicationData": f"CURLOPT(httpheader)=Authorization: Bearer {TOKEN}",
    "Linkedid": "1700000000.1",
}
VARSET_TOKEN = {
    "Event": "VarSet",
    "Channel": "PJSIP/trunk-00000001",
    "Variable": "CTI_TOKEN",
    "Value": TOKEN,
    "Uniqueid": "1700000000.1",
}
VARSET_RECORDING = {
    "Event": "VarSet",
    "Channel": "PJSIP/trunk-00000001",
    "Variable": "MIXMONITOR_FILENAME",
    "Value": "/var/spool/asterisk/monitor/1700000000.1.wav",
    "Uniqueid": "1700000000.1",
}


def test_application_data_and_unread_values_never_leave_the_decoder() -> None:
    raw = b"Asterisk Call Manager/11.0.0\r\n" + _wire(
        NEWEXTEN, SNAPSHOT_ROW, VARSET_TOKEN, VARSET_RECORDING
    )
    # Fed whole and one byte at a time: the same messages, none holding the token.
    for reads in ([raw], [raw[i : i + 1] for i in range(len(raw))]):
        decoder = AmiFrameDecoder()
        messages = [m for chunk in reads for m in decoder.feed(chunk)]
        assert [m.get("Event") for m in messages] == [
            "Newexten",
            "CoreShowChannel",
            "VarSet",
            "VarSet",
        ]
        newexten, row, token_var, recording = messages
        assert TOKEN not in repr(messages)
        assert (newexten.get("AppData"), newexten.get("Application")) == (None, "Set")
        assert (row.get("ApplicationData"), row.get("Application")) == (None, "Set")
        assert (token_var.get("Value"), token_var.get("Variable")) == (None, "CTI_TOKEN")
        assert recording.get("Value") == VARSET_RECORDING["Value"]


def test_of_a_queue_only_its_name_is_kept() -> None:
    row = {**SNAPSHOT_ROW, "Application": "Queue", "ApplicationData": f"sales,rt,{TOKEN},,60"}
    (message,) = AmiFrameDecoder().feed(b"Asterisk Call Manager/11.0.0\r\n" + _wire(row))
    assert message.get("ApplicationData") == "sales"


def test_any_spelling_of_the_key_is_dropped() -> None:
    odd = {"Event": "Newexten", "appdata": f"Bearer {TOKEN}", "APPDATA": TOKEN, "Channel": "x"}
    decoder = AmiFrameDecoder()
    (message,) = decoder.feed(b"Asterisk Call Manager/11.0.0\r\n" + _wire(odd))
    assert TOKEN not in repr(message)
    assert message.get("Channel") == "x"


def test_the_simulator_keeps_everything_to_replay_asterisk_faithfully() -> None:
    decoder = AmiFrameDecoder(keep_everything=True)
    (message,) = decoder.feed(b"Asterisk Call Manager/11.0.0\r\n" + _wire(NEWEXTEN))
    assert message.get("AppData") == NEWEXTEN["AppData"]
