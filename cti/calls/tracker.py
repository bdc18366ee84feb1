"""CallTracker: the live call model's front door. Feed it link items; it returns call events."""

from __future__ import annotations

from collections.abc import Mapping

from cti.calls.config import CallModelConfig
from cti.calls.events import AgentActivity, AgentState, CallEvent, CallSnapshot
from cti.calls.handlers import HANDLERS
from cti.calls.model import PbxCalls
from cti.calls.resync import link_down, link_up
from cti.protocol import AmiMessage, LinkDown, LinkItem, LinkUp, PbxEvent


def event_time(msg: AmiMessage, read_at: float) -> float:
    """The event's own ``Timestamp`` header when present (fast replays keep durations), else
    when the adapter read it."""
    # Asterisk (timestampevents) and the simulator write it right after Event and Privilege;
    # looking only there keeps a missing header from costing a case-folded lookup per event.
    for key, value in msg.headers[1:4]:
        if key == "Timestamp":
            try:
                return float(value)
            except ValueError:
                return read_at
    return read_at


class CallTracker:
    """The live calls of one or more PBXs, built from their AMI events; pure and synchronous."""

    def __init__(
        self,
        config: CallModelConfig | None = None,
        *,
        per_pbx: Mapping[str, CallModelConfig] | None = None,
        memory: int = 50_000,
    ) -> None:
        self._default = config or CallModelConfig()
        self._per_pbx = dict(per_pbx or {})
        self._memory = memory
        self._pbxs: dict[str, PbxCalls] = {}

    def _model(self, pbx: str) -> PbxCalls:
        model = self._pbxs.get(pbx)
        if model is None:
            config = self._per_pbx.get(pbx, self._default)
            model = self._pbxs[pbx] = PbxCalls(pbx, config, memory=self._memory)
        return model

    def feed(self, item: LinkItem) -> list[CallEvent]:
        """Apply one link item; return the call events it causes, in order."""
        out: list[CallEvent] = []
        if isinstance(item, PbxEvent):
            event = item.message.event
            handler = HANDLERS.get(event) if event is not None else None
            if handler is not None:
                handler(self._model(item.pbx), item.message, event_time(item.message, item.at), out)
        elif isinstance(item, LinkUp):
            link_up(self._model(item.pbx), item.snapshot, item.at, out)
        elif isinstance(item, LinkDown):
            link_down(self._model(item.pbx))
        return out

    def forget(self, pbx: str) -> None:
        """Drop everything known of ``pbx``'s calls (another instance consumes it now)."""
        self._pbxs.pop(pbx, None)

    def feed_message(self, pbx: str, message: AmiMessage, at: float) -> list[CallEvent]:
        """Apply one AMI event read from ``pbx`` at ``at``."""
        return self.feed(PbxEvent(pbx, message, at))

    def live_calls(self, pbx: str | None = None) -> list[CallSnapshot]:
        """Snapshots of the calls in progress (for a browser tab that reconnects), oldest first."""
        snapshots = [
            call.snapshot(model.config)
            for model in self._models(pbx)
            for call in model.calls.values()
        ]
        snapshots.sort(key=lambda s: (s.started_at or 0.0, s.linkedid))
        return snapshots

    def call(self, linkedid: str, pbx: str | None = None) -> CallSnapshot | None:
        """The live call with this Linkedid (or one merged into it), if any."""
        for model in self._models(pbx):
            call = model.resolve(linkedid)
            if call is not None:
                return call.snapshot(model.config)
        return None

    def agent_states(self, pbx: str | None = None) -> dict[str, AgentState]:
        """What each busy agent extension is doing; extensions not listed are idle."""
        activity: dict[str, AgentActivity] = {}
        calls: dict[str, list[str]] = {}
        for model in self._models(pbx):
            for call in model.calls.values():
                busy: list[tuple[str, AgentActivity]] = []
                for ext, leg in call.legs.items():
                    if leg.state == "ringing":
                        busy.append((ext, "ringing"))
                    elif leg.state == "answered" and leg.channels:
                        busy.append((ext, "in-call"))
                if call.caller_ext is not None and call.first_uid in call.channels:
                    busy.append((call.caller_ext, "in-call"))
                for ext, what in busy:
                    if activity.get(ext) != "in-call":
                        activity[ext] = what
                    calls.setdefault(ext, [])
                    if call.linkedid not in calls[ext]:
                        calls[ext].append(call.linkedid)
        return {ext: AgentState(ext, activity[ext], tuple(calls[ext])) for ext in sorted(activity)}

    def agent_state(self, extension: str, pbx: str | None = None) -> AgentState:
        """What one agent extension is doing (idle when no call involves it)."""
        return self.agent_states(pbx).get(extension) or AgentState(extension, "idle")

    def is_stale(self, pbx: str) -> bool:
        """True while the link to ``pbx`` is down (its calls may be out of date)."""
        model = self._pbxs.get(pbx)
        return model is not None and not model.link_up

    def _models(self, pbx: str | None) -> list[PbxCalls]:
        if pbx is None:
            return list(self._pbxs.values())
        model = self._pbxs.get(pbx)
        return [] if model is None else [model]
