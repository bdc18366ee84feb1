"""Matching call events against rules: moments, conditions, order and ``continue``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cti.calls.events import (
    AgentRinging,
    AgentStoppedRinging,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallSnapshot,
    CallStarted,
    CallTransferred,
)
from cti.rules.model import (
    AddTask,
    AnsweringAgent,
    CallFacts,
    EnsureContact,
    LogCall,
    PlaceDeal,
    SetOwner,
    evaluate,
    facts_of,
    moments_of,
    parse_rules,
)
from cti.rules.model.catalog import Catalog, check_references

# 2026-11-23 was a Monday; 10:00 in Moscow is 07:00 UTC.
MONDAY_10_MSK = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)
MONDAY_21_MSK = dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC)
SUNDAY_10_MSK = dt.datetime(2026, 11, 22, 7, 0, tzinfo=dt.UTC)
HOLIDAY_10_MSK = dt.datetime(2026, 12, 31, 7, 0, tzinfo=dt.UTC)

HOURS = {
    "office": {
        "timezone": "Europe/Moscow",
        "days": {"mon-fri": "09:00-18:00"},
        "holidays": ["2026-12-31"],
    }
}


def _call(**changes: Any) -> CallSnapshot:
    base: dict[str, Any] = {
        "pbx": "pbx",
        "linkedid": "1700000000.1",
        "direction": "inbound",
        "state": "ringing",
        "caller": "+79161234567",
        "called": "+74951234567",
        "queue": "sales",
    }
    return CallSnapshot(**(base | changes))


def _facts(moments: set[str], **changes: Any) -> CallFacts:
    base: dict[str, Any] = {
        "moments": frozenset(moments),
        "direction": "inbound",
        "at": MONDAY_10_MSK,
        "did": "+74951234567",
        "queue": "sales",
        "caller": "+79161234567",
        "caller_known": False,
    }
    return CallFacts(**(base | changes))


AT = 1_700_000_000.0


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (CallStarted("pbx", AT, _call(state="dialing")), {"started"}),
        (AgentRinging("pbx", AT, _call(), "101", "PJSIP/101"), {"ringing"}),
        (AgentStoppedRinging("pbx", AT, _call(), "101", "PJSIP/101", "no-answer"), set()),
        (CallAnswered("pbx", AT, _call(state="answered"), "102", "PJSIP/102"), {"answered"}),
        (CallTransferred("pbx", AT, _call(), "101", "103", "blind"), {"transferred"}),
        (
            CallEnded("pbx", AT, _call(state="ended", answered_agents=("102",)), "answered"),
            {"ended"},
        ),
        (CallEnded("pbx", AT, _call(state="ended"), "abandoned"), {"ended", "missed"}),
        (CallEnded("pbx", AT, _call(state="ended"), "missed"), {"ended", "missed"}),
        (CallEnded("pbx", AT, _call(state="ended"), "busy"), {"ended", "missed"}),
        (CallEnded("pbx", AT, _call(state="ended"), "no-answer"), {"ended", "missed"}),
    ],
)
def test_moments_of_events(event: CallEvent, expected: set[str]) -> None:
    assert moments_of(event) == expected


def test_facts_carry_time_and_call_fields() -> None:
    event = AgentRinging("pbx", AT, _call(), "101", "PJSIP/101")
    facts = facts_of(event, caller="+79161234567", did="+74951234567", caller_known=True)
    assert facts.at == dt.datetime.fromtimestamp(AT, dt.UTC)
    assert facts.queue == "sales"
    assert facts.caller_known is True
    assert facts.direction == "inbound"


@pytest.mark.parametrize(
    ("when", "facts", "matched"),
    [
        ({}, _facts({"ringing"}), True),
        ({"direction": "outbound"}, _facts({"ringing"}), False),
        ({"direction": ["outbound", "inbound"]}, _facts({"ringing"}), True),
        ({"moment": "answered"}, _facts({"ringing"}), False),
        ({"moment": ["missed", "answered"]}, _facts({"ended", "missed"}), True),
        ({"moment": "missed"}, _facts({"ended"}), False),
        ({"did": "+74951234567"}, _facts({"ringing"}), True),
        ({"did": "+74951234568"}, _facts({"ringing"}), False),
        ({"did": "+74951234567"}, _facts({"ringing"}, did=None), False),
        ({"queue": "sales"}, _facts({"ringing"}), True),
        ({"queue": "service"}, _facts({"ringing"}), False),
        ({"queue": "sales"}, _facts({"ringing"}, queue=None), False),
        ({"caller": "unknown"}, _facts({"ringing"}), True),
        ({"caller": "known"}, _facts({"ringing"}), False),
        ({"caller": "known"}, _facts({"ringing"}, caller_known=True), True),
        ({"caller_prefix": "+7916"}, _facts({"ringing"}), True),
        ({"caller_prefix": ["7926", "7916"]}, _facts({"ringing"}), True),
        ({"caller_prefix": "+7926"}, _facts({"ringing"}), False),
        ({"caller_prefix": "+7916"}, _facts({"ringing"}, caller=None), False),
        ({"caller_pattern": r"^\+79(16|26)"}, _facts({"ringing"}), True),
        ({"caller_pattern": r"^\+1"}, _facts({"ringing"}), False),
        ({"within_hours": "office"}, _facts({"ringing"}), True),
        ({"within_hours": "office"}, _facts({"ringing"}, at=MONDAY_21_MSK), False),
        ({"within_hours": "office"}, _facts({"ringing"}, at=SUNDAY_10_MSK), False),
        ({"within_hours": "office"}, _facts({"ringing"}, at=HOLIDAY_10_MSK), False),
        ({"outside_hours": "office"}, _facts({"ringing"}, at=MONDAY_21_MSK), True),
        ({"outside_hours": "office"}, _facts({"ringing"}), False),
        ({"moment": "ringing", "caller": "unknown", "queue": "sales"}, _facts({"ringing"}), 1),
        ({"direction": "inbound", "moment": "ringing", "caller": "known"}, _facts({"ringing"}), 0),
    ],
)  # fmt: skip
def test_conditions(when: dict[str, Any], facts: CallFacts, matched: bool | int) -> None:
    ruleset = parse_rules(
        {"queues": ["sales", "service"], "hours": HOURS, "rules": [{"id": "r", "when": when}]}
    )
    assert (evaluate(ruleset, facts).rule_ids == ("r",)) is bool(matched)


RULES = parse_rules(
    {
        "rules": [
            {
                "id": "missed",
                "when": {"moment": "missed"},
                "then": {"deal": True, "task": True},
            },
            {
                "id": "tag",
                "continue": True,
                "when": {"caller_prefix": "+7916"},
                "then": {"contact": "find", "log_call": False},
            },
            {
                "id": "inbound",
                "when": {"direction": "inbound"},
                "then": {"deal": True, "owner": "answering-agent"},
            },
            {"id": "never", "then": {"contact": "none"}},
        ]
    }
)  # fmt: skip


@pytest.mark.parametrize(
    ("facts", "rule_ids"),
    [
        (_facts({"ended", "missed"}), ("missed",)),
        (_facts({"ringing"}), ("tag", "inbound")),
        (_facts({"ringing"}, caller="+74950000000"), ("inbound",)),
        (_facts({"ringing"}, direction="internal", caller="+74950000000"), ("never",)),
        (_facts(set()), ()),
    ],
)
def test_first_match_wins_unless_continue(facts: CallFacts, rule_ids: tuple[str, ...]) -> None:
    assert evaluate(RULES, facts).rule_ids == rule_ids


def test_planned_actions_follow_rule_order() -> None:
    plan = evaluate(RULES, _facts({"ringing"}))
    assert plan.actions == (
        EnsureContact("tag", create=False),
        EnsureContact("inbound", create=True),
        PlaceDeal("inbound", RULES.rules[2].then.deal),  # type: ignore[arg-type]
        SetOwner("inbound", AnsweringAgent()),
        LogCall("inbound"),
    )


def test_missed_plan_has_a_task() -> None:
    plan = evaluate(RULES, _facts({"ended", "missed"}))
    assert [type(a) for a in plan.actions] == [EnsureContact, PlaceDeal, AddTask, LogCall]


def test_rule_with_contact_none_plans_nothing_but_stops() -> None:
    plan = evaluate(RULES, _facts({"ringing"}, direction="internal", caller=None))
    assert plan.rule_ids == ("never",)
    assert plan.actions == (LogCall("never"),)


@pytest.mark.parametrize(
    ("when", "pbx", "matched"),
    [
        ({"pbx": "east"}, "east", True),
        ({"pbx": "east"}, "west", False),
        ({"pbx": "east"}, None, False),
        ({"pbx": ["east", "north"]}, "north", True),
        ({"pbx": ["east", "north"]}, "west", False),
        ({"queue": "sales"}, "west", True),  # a bare queue name: that queue on every PBX
        ({"queue": "east/sales"}, "east", True),
        ({"queue": "east/sales"}, "west", False),
        ({"queue": "east/sales", "pbx": "west"}, "west", False),
    ],
)  # fmt: skip
def test_a_rule_naming_a_pbx_applies_to_that_pbx_alone(
    when: dict[str, Any], pbx: str | None, matched: bool
) -> None:
    ruleset = parse_rules({"queues": ["sales", "east/sales"], "rules": [{"id": "r", "when": when}]})
    assert (evaluate(ruleset, _facts({"ringing"}, pbx=pbx)).rule_ids == ("r",)) is matched


def test_facts_carry_the_pbx_and_groups_serve_their_pbxs_queue() -> None:
    event = AgentRinging("west", AT, _call(pbx="west"), "101", "PJSIP/101")
    assert facts_of(event, caller=None, did=None, caller_known=False).pbx == "west"
    ruleset = parse_rules(
        {
            "groups": {
                "east-sales": {"users": ["anna"], "queues": ["east/sales"]},
                "sales": {"users": ["boris"], "queues": ["sales"]},
            },
            "rules": [],
        }
    )
    assert [
        (group.name if (group := ruleset.group_of_queue("sales", pbx)) else None)
        for pbx in ("east", "west", None)
    ] == ["east-sales", "sales", "sales"]


def test_a_rule_naming_an_unknown_pbx_is_a_problem() -> None:
    ruleset = parse_rules(
        {
            "queues": ["east/sales", "north/sales", "sales"],
            "rules": [{"id": "r", "when": {"pbx": ["east", "west", "south"]}}],
        }
    )
    catalog = Catalog(pipelines={}, default_pipeline=None, users=frozenset())
    assert check_references(ruleset, catalog) == []  # no PBX names known: nothing to check
    known = Catalog(
        pipelines={}, default_pipeline=None, users=frozenset(), pbxs=frozenset({"east", "west"})
    )
    assert [(p.path, p.message) for p in check_references(ruleset, known)] == [
        ("rules[0].when.pbx", "no PBX called 'south' (configured: east, west)"),
        ("queues", "'north/sales': no PBX called 'north' (east, west)"),
    ]
