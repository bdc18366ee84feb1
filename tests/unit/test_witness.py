"""The witness remembers the calls of its window, every event of each, and forgets older ones."""

from __future__ import annotations

from pydantic import SecretStr

from cti.calls import CallModelConfig
from cti.calls.events import CallEvent, CallSnapshot, CallStarted
from cti.settings import PbxSettings
from cti.witness import CallWitness


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _event(linkedid: str, at: float) -> CallEvent:
    call = CallSnapshot(pbx="pbx", linkedid=linkedid, direction="inbound", state="dialing")
    return CallStarted(pbx="pbx", at=at, call=call)


def _witness(clock: Clock, *, max_calls: int = 100) -> CallWitness:
    settings = PbxSettings(username="cti", secret=SecretStr("secret"))
    return CallWitness(settings, CallModelConfig(), window_s=30.0, clock=clock, max_calls=max_calls)


def test_a_call_is_kept_whole_while_any_of_its_events_is_in_the_window() -> None:
    clock = Clock()
    witness = _witness(clock)
    witness.remember(_event("long", 1.0))
    clock.now += 20
    witness.remember(_event("short", 2.0))
    clock.now += 20  # "long" started 40 s ago but is still talking: its next event keeps it
    witness.remember(_event("long", 3.0))
    assert [(e.linkedid, e.at) for e in witness.recent()] == [
        ("short", 2.0),
        ("long", 1.0),
        ("long", 3.0),
    ]
    clock.now += 15  # "short" last seen 35 s ago: forgotten
    assert [e.linkedid for e in witness.recent()] == ["long", "long"]
    clock.now += 20
    assert witness.recent() == []


def test_the_oldest_calls_go_first_past_the_bound() -> None:
    witness = _witness(Clock(), max_calls=2)
    for linkedid in ("a", "b", "c"):
        witness.remember(_event(linkedid, 1.0))
    assert [e.linkedid for e in witness.recent()] == ["b", "c"]
