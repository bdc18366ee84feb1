"""The demo's deal walks and calls, planned without a database: in time order, never after now."""

from __future__ import annotations

import datetime as dt
import random

from crmlite.domain.product_text import product_text
from cti.demo.calls import CallPlanner
from cti.demo.deals import ContactRef, DealPlan, PipelinePlan, StageSlot, plan_deals
from cti.demo.people import NumberPlan, draw_people
from cti.demo.vocabulary import demo_words

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
PIPELINE = PipelinePlan(
    1,
    (StageSlot(10, "open", True), StageSlot(11, "open", False), StageSlot(12, "open", False),
     StageSlot(13, "open", False), StageSlot(14, "won", False), StageSlot(15, "lost", False)),
    weight=1,
    amounts=(10_000, 100_000),
)  # fmt: skip


def _contacts(rng: random.Random) -> list[ContactRef]:
    people = draw_people(rng, 60, NumberPlan(rng))
    return [
        ContactRef(
            i + 1,
            p.name,
            p.company,
            100 + i % 3,
            NOW - dt.timedelta(days=rng.uniform(1, 180)),
            p.phones[0],
            None,
        )
        for i, p in enumerate(people)
    ]


def _plans(seed: int) -> tuple[list[ContactRef], list[DealPlan]]:
    rng = random.Random(seed)
    contacts = _contacts(rng)
    words, text = demo_words("ru"), product_text("ru")
    return contacts, plan_deals(rng, NOW, contacts, [PIPELINE], words, text, 120)


def test_deals_walk_forward_in_time_and_stop_before_now() -> None:
    _, plans = _plans(3)
    kinds = {plan.stage.kind for plan in plans}
    assert kinds == {"open", "won", "lost"}
    for plan in plans:
        times = [at for _, at in plan.path]
        assert times == sorted(times)
        assert times[0] == plan.created_at >= plan.contact.created_at - dt.timedelta(days=2)
        assert times[-1] < NOW
        assert [s.kind for s, _ in plan.path[:-1]] == ["open"] * (len(plan.path) - 1)
        assert (plan.closed_at is None) == (plan.stage.kind == "open")
        assert plan.lost_reason is None or plan.stage.kind == "lost"
        if plan.source == "call":
            assert plan.title.startswith("Звонок от ")
    unsorted = [p for p in plans if p.stage.is_unsorted]
    assert any(p.owner_id is None for p in unsorted), "some call deals wait for anyone to claim"


def test_the_same_seed_plans_the_same_deals() -> None:
    first, second, other = _plans(5)[1], _plans(5)[1], _plans(6)[1]
    assert [p.row() for p in first] == [p.row() for p in second]
    assert [p.row() for p in first] != [p.row() for p in other]


def test_calls_and_tasks_follow_the_deals() -> None:
    rng = random.Random(9)
    contacts, plans = _plans(9)
    planner = CallPlanner(rng, NOW, {}, {100: "101", 101: "102", 102: "103"},
                          demo_words("en"), product_text("en"))  # fmt: skip
    for index, plan in enumerate(plans):
        planner.deal_history(plan, index + 1)
    rows = planner.ordered()
    calls = [r for r in rows if r["kind"] == "call"]
    tasks = [r for r in rows if r["kind"] == "task"]
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    for call in calls:
        if call["outcome"] == "missed":
            assert call["agent_id"] is None
            assert call["answered_at"] is None
        if call["direction"] == "outbound":
            assert call["from_number"] in {"101", "102", "103"}
        assert call["ended_at"] >= call["started_at"]
    assert {c["outcome"] for c in calls} >= {"answered", "missed", "no-answer"}
    assert all(t["done_at"] is None or t["done_at"] <= NOW for t in tasks)
    assert any(t["done_at"] is None and t["due_at"] < NOW for t in tasks)
    assert any(str(t["title"]).startswith("Missed call from ") for t in tasks)
    assert len(contacts) == 60
