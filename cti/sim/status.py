"""What QueueStatus answers: the configured queues, their members and the callers waiting."""

from __future__ import annotations

from collections.abc import Mapping

from cti.sim.channels import ChannelRegistry


def queue_status(
    queues: Mapping[str, tuple[str, tuple[str, ...]]],
    registry: ChannelRegistry,
    epoch: int,
    now: float,
    action_id: str,
    only: str | None,
) -> list[dict[str, str]]:
    """QueueParams, QueueMember and QueueEntry events as Asterisk 22 lists them."""
    out: list[dict[str, str]] = []
    waiting = _queue_callers(registry, now)
    for queue, (strategy, members) in queues.items():
        if only and only != queue:
            continue
        callers = waiting.get(queue, [])
        out.append(
            {
                "Event": "QueueParams",
                "Queue": queue,
                "Max": "0",
                "Strategy": strategy,
                "Calls": str(len(callers)),
                "Holdtime": "0",
                "TalkTime": "0",
                "Completed": "0",
                "Abandoned": "0",
                "ServiceLevel": "0",
                "ServicelevelPerf": "0.0",
                "ServicelevelPerf2": "0.0",
                "Weight": "0",
                "ActionID": action_id,
            }
        )
        busy = _busy_devices(registry)
        for ext in members:
            device = f"PJSIP/{ext}"
            out.append(
                {
                    "Event": "QueueMember",
                    "Queue": queue,
                    "Name": f"Agent {ext}",
                    "Location": device,
                    "StateInterface": device,
                    "Membership": "static",
                    "Penalty": "0",
                    "CallsTaken": "0",
                    "LastCall": "0",
                    "LastPause": "0",
                    "LoginTime": str(epoch),
                    "InCall": "1" if device in busy else "0",
                    "Status": "2" if device in busy else "1",
                    "Paused": "0",
                    "PausedReason": "",
                    "Wrapuptime": "0",
                    "ActionID": action_id,
                }
            )
        for position, entry in enumerate(callers, start=1):
            out.append(
                {
                    "Event": "QueueEntry",
                    "Queue": queue,
                    "Position": str(position),
                    **entry,
                    "ActionID": action_id,
                }
            )
    return out


def _queue_callers(registry: ChannelRegistry, now: float) -> dict[str, list[dict[str, str]]]:
    waiting: dict[str, list[dict[str, str]]] = {}
    for live in registry.channels.values():
        if live.application == "Queue" and not live.bridge_id:
            queue = live.application_data.split(",", 1)[0]
            waiting.setdefault(queue, []).append(
                {
                    "Channel": live.fields.get("Channel", ""),
                    "Uniqueid": live.fields.get("Uniqueid", ""),
                    "CallerIDNum": live.fields.get("CallerIDNum", ""),
                    "CallerIDName": live.fields.get("CallerIDName", ""),
                    "ConnectedLineNum": live.fields.get("ConnectedLineNum", ""),
                    "ConnectedLineName": live.fields.get("ConnectedLineName", ""),
                    "Wait": str(int(now - live.started)),
                    "Priority": "0",
                }
            )
    return waiting


def _busy_devices(registry: ChannelRegistry) -> set[str]:
    return {
        live.fields.get("Channel", "").rsplit("-", 1)[0]
        for live in registry.channels.values()
        if live.bridge_id
    }
