"""Check the names a rule set uses against what exists in the CRM (pipelines, stages, users)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cti.rules.model.types import FixedUser, Problem, RuleSet


@dataclass(frozen=True, slots=True)
class Catalog:
    """What exists: pipelines with their stage names, the default pipeline, active user logins."""

    pipelines: Mapping[str, frozenset[str]]
    default_pipeline: str | None
    users: frozenset[str]
    # Unsorted stage per pipeline, where it has one.
    unsorted: Mapping[str, str] = field(default_factory=dict)
    # The configured PBXs' names (``when.pbx``, ``east/sales`` queues); empty: not checked.
    pbxs: frozenset[str] = frozenset()


def check_references(ruleset: RuleSet, catalog: Catalog) -> list[Problem]:
    """Every pipeline, stage and user a rule names must exist; one problem per missing name."""
    problems: list[Problem] = []
    for group in ruleset.groups:
        for login in group.users:
            if login not in catalog.users:
                problems.append(Problem(f"groups.{group.name}.users", f"no user {login!r}"))
    if catalog.pbxs:
        problems.extend(_unknown_pbxs(ruleset, catalog.pbxs))
    for index, rule in enumerate(ruleset.rules):
        path = f"rules[{index}].then"
        deal = rule.then.deal
        if deal is not None:
            pipeline = deal.pipeline or catalog.default_pipeline
            if pipeline is None:
                problems.append(Problem(f"{path}.deal.pipeline", "there is no default pipeline"))
            elif pipeline not in catalog.pipelines:
                problems.append(Problem(f"{path}.deal.pipeline", f"no pipeline {pipeline!r}"))
            elif deal.stage is not None and deal.stage not in catalog.pipelines[pipeline]:
                problems.append(
                    Problem(
                        f"{path}.deal.stage", f"pipeline {pipeline!r} has no stage {deal.stage!r}"
                    )
                )
            elif deal.stage is None and pipeline not in catalog.unsorted:
                problems.append(
                    Problem(f"{path}.deal.stage", f"pipeline {pipeline!r} has no Unsorted stage")
                )
        policies = {
            "owner": rule.then.owner,
            "task.assignee": rule.then.task.assignee if rule.then.task else None,
        }
        for key, policy in policies.items():
            if isinstance(policy, FixedUser) and policy.login not in catalog.users:
                problems.append(Problem(f"{path}.{key}", f"no user {policy.login!r}"))
    return problems


def _unknown_pbxs(ruleset: RuleSet, pbxs: frozenset[str]) -> list[Problem]:
    """A rule's ``when.pbx``, and a queue named ``pbx/queue``, must name a configured PBX."""
    known = ", ".join(sorted(pbxs))
    problems = [
        Problem(f"rules[{index}].when.pbx", f"no PBX called {name!r} (configured: {known})")
        for index, rule in enumerate(ruleset.rules)
        for name in sorted(rule.when.pbxs - pbxs)
    ]
    for queue in sorted(ruleset.known_queues()):
        pbx, slash, _ = queue.partition("/")
        if slash and pbx not in pbxs:
            problems.append(Problem("queues", f"{queue!r}: no PBX called {pbx!r} ({known})"))
    return problems
