"""Reading rule documents: what is accepted, and every problem named with its path."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest

from cti.rules.model import (
    AnsweringAgent,
    Catalog,
    DealAction,
    FixedUser,
    LastAgentRung,
    QueueGroup,
    RoundRobin,
    RulesInvalid,
    check_references,
    parse_rules,
)

EXAMPLE = Path(__file__).parents[2] / "config" / "rules.example.toml"


def _problems(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(RulesInvalid) as caught:
        parse_rules(document)
    return {p.path: p.message for p in caught.value.problems}


def test_full_rule_reads_into_values() -> None:
    ruleset = parse_rules(
        {
            "queues": ["sales"],
            "groups": {"sellers": {"users": ["ivan", "olga"], "queues": ["sales"]}},
            "hours": {
                "office": {
                    "timezone": "Europe/Moscow",
                    "days": {"mon-fri": ["09:00-13:00", "14:00-18:00"], "sat": "10:00-14:00"},
                    "holidays": [dt.date(2026, 1, 1), "2026-01-02"],
                }
            },
            "rules": [
                {
                    "id": "sales-line",
                    "continue": True,
                    "when": {"direction": "inbound", "queue": ["sales"], "moment": "ringing"},
                    "then": {
                        "deal": {"pipeline": "Sales", "stage": "Unsorted"},
                        "owner": "answering-agent",
                        "task": {"assignee": "queue-group", "due_in_minutes": 5},
                    },
                },
                {"id": "rr", "then": {"owner": "round-robin:sellers", "task": True}},
            ],
        }
    )
    first, second = ruleset.rules
    assert first.continue_after is True
    assert first.when.directions == {"inbound"}
    assert first.then.deal == DealAction("Sales", "Unsorted", reuse_open=True)
    assert first.then.owner == AnsweringAgent()
    assert first.then.task is not None
    assert first.then.task.assignee == QueueGroup()
    assert first.then.task.due_in_minutes == 5
    assert second.then.owner == RoundRobin("sellers")
    assert second.then.task is not None
    assert second.then.task.assignee == LastAgentRung()
    hours = ruleset.hours[0]
    assert hours.weekly[0] == ((540, 780), (840, 1080))
    assert hours.weekly[5] == ((600, 840),)
    assert hours.weekly[6] == ()
    assert hours.holidays == {dt.date(2026, 1, 1), dt.date(2026, 1, 2)}
    assert ruleset.group_of_queue("sales") is not None


def _when(**when: Any) -> dict[str, Any]:
    return {"rules": [{"id": "a", "when": when}]}


def _then(**then: Any) -> dict[str, Any]:
    return {"rules": [{"id": "a", "then": then}]}


def _hours(**hours: Any) -> dict[str, Any]:
    return {"hours": {"h": {"timezone": "UTC", **hours}}}


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    [
        ({"rules": [{"when": {}}]}, "rules[0].id", "required"),
        ({"rules": [{"id": "Bad Id"}]}, "rules[0].id", "lowercase"),
        ({"rules": [{"id": "a"}, {"id": "a"}]}, "rules[1].id", "earlier rule"),
        ({"rules": [{"id": "a", "continue": 1}]}, "rules[0].continue", "true or false"),
        (_when(moment="sleeping"), "rules[0].when.moment", "one of"),
        (_when(direction=5), "rules[0].when.direction", "string"),
        (_when(caller="maybe"), "rules[0].when.caller", "known"),
        (_when(caller_pattern="(+"), "rules[0].when.caller_pattern", "regular"),
        (_when(queue="nope"), "rules[0].when.queue", "unknown queue"),
        (_when(within_hours="x"), "rules[0].when.within_hours", "no hours"),
        (_when(colour="red"), "rules[0].when.colour", "unknown key"),
        (_then(owner="boss"), "rules[0].then.owner", "must be one of"),
        (_then(owner="round-robin:ghosts"), "rules[0].then.owner", "no group"),
        (_then(owner="last-agent-rung"), "rules[0].then.owner", "must be one of"),
        (_then(task={"due_in_minutes": -1}), "rules[0].then.task.due_in_minutes", "whole"),
        (_then(task={"assignee": "x"}), "rules[0].then.task.assignee", "must be one of"),
        (_then(contact="none", deal=True), "rules[0].then.deal", "needs a contact"),
        (_then(log_call="yes"), "rules[0].then.log_call", "true or false"),
        ({"hours": {"h": {"timezone": "Mars/Base"}}}, "hours.h.timezone", "unknown timezone"),
        ({"hours": {"h": {}}}, "hours.h.timezone", "required"),
        (_hours(days={"funday": "09:00-10:00"}), "hours.h.days.funday", "mon..sun"),
        (_hours(days={"mon": "18:00-09:00"}), "hours.h.days.mon", "window"),
        (_hours(holidays=["soon"]), "hours.h.holidays[0]", "date"),
        ({"groups": {"g": {"queues": ["q"]}}}, "groups.g.users", "required"),
        ({"rules": {"id": "a"}}, "rules", "list"),
        ({"version": 2}, "version", "version 1"),
        ({"colour": 1}, "colour", "unknown key"),
    ],
)
def test_problems_are_named_with_their_path(
    document: dict[str, Any], path: str, fragment: str
) -> None:
    problems = _problems(document)
    assert path in problems, problems
    assert fragment in problems[path]


def test_every_problem_is_reported_at_once() -> None:
    problems = _problems(
        {"rules": [{"id": "a", "when": {"moment": "x"}}, {"id": "b", "then": {"owner": "?"}}]}
    )
    assert set(problems) == {"rules[0].when.moment", "rules[1].then.owner"}


def test_dids_are_normalized_with_the_given_function() -> None:
    ruleset = parse_rules(
        {"rules": [{"id": "a", "when": {"did": ["8 (495) 123-45-67"]}}]},
        normalize_number=lambda raw: "+7" + "".join(ch for ch in raw if ch.isdigit())[1:],
    )
    assert ruleset.rules[0].when.dids == {"+74951234567"}


def test_a_did_that_is_not_a_number_is_refused() -> None:
    def refuse(raw: str) -> str:
        raise ValueError("not a number")

    with pytest.raises(RulesInvalid) as caught:
        parse_rules(_when(did="x"), normalize_number=refuse)
    assert [p.path for p in caught.value.problems] == ["rules[0].when.did"]


CATALOG = Catalog(
    pipelines={"Sales": frozenset({"Unsorted", "New", "Won"}), "Service": frozenset({"Open"})},
    default_pipeline="Sales",
    users=frozenset({"ivan", "olga"}),
    unsorted={"Sales": "Unsorted"},
)


@pytest.mark.parametrize(
    ("then", "path", "fragment"),
    [
        ({"deal": {"pipeline": "Nope"}}, "rules[0].then.deal.pipeline", "no pipeline"),
        ({"deal": {"pipeline": "Sales", "stage": "Gone"}}, "rules[0].then.deal.stage", "no stage"),
        ({"deal": {"pipeline": "Service"}}, "rules[0].then.deal.stage", "no Unsorted"),
        ({"owner": "user:nobody"}, "rules[0].then.owner", "no user"),
        ({"task": {"assignee": "user:ghost"}}, "rules[0].then.task.assignee", "no user"),
    ],
)
def test_references_to_missing_things_are_refused(
    then: dict[str, Any], path: str, fragment: str
) -> None:
    ruleset = parse_rules({"rules": [{"id": "a", "then": then}]})
    problems = {p.path: p.message for p in check_references(ruleset, CATALOG)}
    assert path in problems, problems
    assert fragment in problems[path]


def test_existing_references_pass() -> None:
    ruleset = parse_rules(
        {
            "groups": {"g": {"users": ["ivan"]}},
            "rules": [
                {"id": "a", "then": {"deal": True, "owner": FixedUser("olga").kind + ":olga"}}
            ],
        }
    )
    assert check_references(ruleset, CATALOG) == []


def test_group_member_must_exist() -> None:
    ruleset = parse_rules({"groups": {"g": {"users": ["ivan", "zed"]}}})
    assert [p.path for p in check_references(ruleset, CATALOG)] == ["groups.g.users"]


def test_example_file_parses() -> None:
    ruleset = parse_rules(tomllib.loads(EXAMPLE.read_text(encoding="utf-8")))
    assert ruleset.rules
