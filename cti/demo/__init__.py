"""The demo: six months of a car dealer's sales history, seeded once, and its people."""

from __future__ import annotations

from cti.demo.seed import DemoSummary, demo_people, seed_demo
from cti.demo.users import DEMO_PASSWORD, DEMO_USERS, DemoUser


def demo_caller_numbers(seed: int = 7, count: int = 40) -> tuple[str, ...]:
    """Numbers of seeded contacts: the simulator calls from them so known callers pop too."""
    people, _pairs = demo_people(seed)
    return tuple(person.phones[0] for person in people[:count])


__all__ = [
    "DEMO_PASSWORD",
    "DEMO_USERS",
    "DemoSummary",
    "DemoUser",
    "demo_caller_numbers",
    "seed_demo",
]
