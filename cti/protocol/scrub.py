"""Headers never kept: the data of the dialplan's applications, and variables nobody reads.

Asterisk reports the arguments of every dialplan application a channel runs, with variables
already substituted: ``AppData`` in Newexten, ``ApplicationData`` in CoreShowChannel. A dialplan
that sends a token with ``Set(CURLOPT(httpheader)=Authorization: Bearer ...)`` puts the token
there; VarSet shows the value of any variable set (``Set(TOKEN=...)``). The product reads none of
it but the queue a ``Queue()`` serves (its first argument, read by resync) and VarSet's recording
file names, so the decoder drops the rest while it parses: no log line, snapshot, capture replay or
stored call can hold them.
"""

from __future__ import annotations

from cti.protocol.skip import RECORDING_VARIABLES

# Lower-cased: AMI keys are case-insensitive when read (AmiMessage.get), so they are dropped so.
DROPPED_HEADERS = frozenset({"appdata", "applicationdata"})


def scrub(headers: list[tuple[str, str]], text: str) -> list[tuple[str, str]]:
    """``headers`` (parsed from ``text``) without the application data and unread variables."""
    # Both checks are substring searches in C: most messages carry neither and pass untouched.
    if "ata" in text or "ATA" in text:
        headers = _without_application_data(headers)
    if headers and headers[0][1] == "VarSet" and headers[0][0].lower() == "event":
        variable = next((v for k, v in headers if k.lower() == "variable"), None)
        if variable not in RECORDING_VARIABLES:
            headers = [pair for pair in headers if pair[0].lower() != "value"]
    return headers


def _without_application_data(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop application data; of ``Queue(name,options,...)`` keep only the queue's name."""
    application = next((v for k, v in headers if k.lower() == "application"), "")
    if application.lower() != "queue":
        return [pair for pair in headers if pair[0].lower() not in DROPPED_HEADERS]
    return [
        (key, value.split(",", 1)[0]) if key.lower() in DROPPED_HEADERS else (key, value)
        for key, value in headers
    ]
