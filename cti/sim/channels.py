"""The simulator's live channels, kept from the events it sends, so CoreShowChannels is truthful."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

_CHANNEL_FIELDS = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)
_TRACKED = frozenset(
    {
        "Newchannel",
        "Newstate",
        "NewConnectedLine",
        "NewCallerid",
        "Newexten",
        "BridgeEnter",
        "BridgeLeave",
        "Hangup",
    }
)


@dataclass
class LiveChannel:
    fields: dict[str, str]
    started: float
    application: str = ""
    application_data: str = ""
    bridge_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class ChannelRegistry:
    """Channels up right now, by Uniqueid, updated from every event the simulator sends."""

    def __init__(self) -> None:
        self.channels: dict[str, LiveChannel] = {}

    def __len__(self) -> int:
        return len(self.channels)

    def observe(self, event: Mapping[str, object], now: float) -> None:
        """Update the registry from one outgoing event."""
        name = event.get("Event")
        if name not in _TRACKED:
            return
        uniqueid = event.get("Uniqueid")
        if not isinstance(uniqueid, str):
            return
        if name == "Hangup":
            self.channels.pop(uniqueid, None)
            return
        live = self.channels.get(uniqueid)
        if live is None:
            live = LiveChannel(fields={}, started=now)
            self.channels[uniqueid] = live
        for key in _CHANNEL_FIELDS:
            value = event.get(key)
            if isinstance(value, str):
                live.fields[key] = value
        if name == "Newexten":
            live.application = str(event.get("Application", ""))
            live.application_data = str(event.get("AppData", ""))
        elif name == "BridgeEnter":
            live.bridge_id = str(event.get("BridgeUniqueid", ""))
        elif name == "BridgeLeave":
            live.bridge_id = ""

    def clear(self) -> list[LiveChannel]:
        """Forget every channel (a restart that ended all calls); return what was up."""
        gone = list(self.channels.values())
        self.channels.clear()
        return gone

    def core_show_channels(self, action_id: str, now: float) -> list[dict[str, str]]:
        """The CoreShowChannel list events, as Asterisk 22 writes them."""
        out: list[dict[str, str]] = []
        for live in self.channels.values():
            seconds = max(0, int(now - live.started))
            duration = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            event = {"Event": "CoreShowChannel", "ActionID": action_id}
            event.update({k: live.fields.get(k, "") for k in _CHANNEL_FIELDS})
            event.update(
                {
                    "Application": live.application,
                    "ApplicationData": live.application_data,
                    "Duration": duration,
                    "BridgeId": live.bridge_id,
                }
            )
            out.append(event)
        return out
