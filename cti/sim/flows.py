"""Call scenarios as event steps, shaped like the captures in tests/fixtures/ami.

Each function returns the steps of one call (``list[Step]``) with fresh Uniqueids; the simulator
plays them on its clock. Durations are seconds of simulated time (a speed factor compresses them).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from cti.sim.builder import IdSource, Step
from cti.sim.call_flows import (
    OriginateRequest,
    click_to_call,
    direct_call,
    internal_call,
    originate_failure,
    outbound_call,
)
from cti.sim.legs import AGENTS, CALLER_NAMES, DIRECT_DID, SALES_DID, SERVICE_DID, TRUNK
from cti.sim.queue_flows import queue_call

__all__ = [
    "AGENTS",
    "CALLER_NAMES",
    "DIRECT_DID",
    "SALES_DID",
    "SERVICE_DID",
    "TRUNK",
    "OriginateRequest",
    "Step",
    "click_to_call",
    "direct_call",
    "internal_call",
    "originate_failure",
    "outbound_call",
    "queue_call",
    "random_call",
    "random_caller",
]


def random_caller(rng: random.Random) -> tuple[str, str]:
    """A Russian mobile number and, sometimes, a name in Latin, Chinese, Cyrillic or Persian."""
    return f"+7916{rng.randrange(10**7):07d}", rng.choice(CALLER_NAMES)


def random_call(ids: IdSource, rng: random.Random, known_callers: Sequence[str] = ()) -> list[Step]:
    """One call of a mix like a sales line's day: mostly queue calls, some direct, out, internal."""
    caller, name = random_caller(rng)
    if known_callers and rng.random() < 0.5:
        # A returning customer: the CRM knows the number, so the card shows who it is.
        caller, name = rng.choice(known_callers), "<unknown>"
    roll = rng.random()
    ring = rng.uniform(1.0, 8.0)
    talk = rng.uniform(5.0, 60.0)
    if roll < 0.45:
        answer = rng.choice(("101", "102", "103", None))
        return queue_call(
            ids, caller=caller, caller_name=name, answer_by=answer, ring_s=ring, talk_s=talk
        )
    if roll < 0.55:
        return queue_call(
            ids,
            caller=caller,
            caller_name=name,
            did=SERVICE_DID,
            queue="service",
            strategy="linear",
            answer_by=rng.choice(("101", "102", "103")),
            ring_s=ring,
            talk_s=talk,
        )
    if roll < 0.65:
        outcome = rng.choice(("answer", "answer", "busy", "noanswer"))
        return direct_call(
            ids, caller=caller, caller_name=name, outcome=outcome, ring_s=ring, talk_s=talk
        )
    if roll < 0.72:
        return queue_call(
            ids,
            caller=caller,
            caller_name=name,
            answer_by="101",
            ring_s=ring,
            talk_s=talk,
            transfer_to="103",
        )
    if roll < 0.77:
        return direct_call(
            ids, caller=caller, caller_name=name, ring_s=ring, talk_s=talk, attended_to="105"
        )
    if roll < 0.92:
        return outbound_call(
            ids,
            agent=rng.choice(AGENTS),
            number=caller,
            ring_s=ring,
            talk_s=talk,
            answered=rng.random() < 0.7,
        )
    agent, callee = rng.sample(AGENTS, 2)
    return internal_call(ids, agent=agent, callee=callee, ring_s=ring, talk_s=talk)
