"""Admins read and replace the call-to-deal rules; a bad rule is refused field by field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field

from crmlite.domain.errors import InvalidInput, PermissionDenied
from crmlite.web.keys import SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, WireModel
from crmlite.web.security import principal
from cti.rules.book import RuleBook, validate_document
from cti.rules.model import RulesInvalid
from cti.web.call_crm import RULE_BOOK

routes = ApiRoutes("rules", "Call-to-deal rules (see config/rules.example.toml)")


class RulesDocument(WireModel):
    """The rule document, as in the TOML file (docs: config/rules.example.toml)."""

    model_config = ConfigDict(extra="allow")

    version: int = 1
    queues: list[str] = Field(default_factory=list, description="PBX queues rules may name")
    groups: dict[str, Any] = Field(default_factory=dict, description="name -> {users, queues}")
    hours: dict[str, Any] = Field(
        default_factory=dict, description="name -> {timezone, days, holidays}"
    )
    rules: list[dict[str, Any]] = Field(
        default_factory=list, description="in order: {id, name, continue, when, then}"
    )


class RulesOut(ApiModel):
    version: int | None = Field(description="saved version; null for the file or the defaults")
    source: str = Field(description="'api', the rule file's path, or 'defaults'")
    rules: int = Field(description="how many rules are in force")
    document: dict[str, Any]
    problems: dict[str, str] = Field(
        default_factory=dict,
        description="names that did not resolve when the rules were loaded (path -> what)",
    )
    checked_at: dt.datetime | None = None


def _refused(err: RulesInvalid) -> InvalidInput:
    fields: dict[str, str] = {}
    for problem in err.problems:
        key = problem.path or "document"
        fields[key] = f"{fields[key]}; {problem.message}" if key in fields else problem.message
    return InvalidInput(f"the rules are refused: {len(err.problems)} problem(s)", fields=fields)


def _out(book: RuleBook) -> RulesOut:
    return RulesOut(
        version=book.version,
        source=book.source,
        rules=len(book.ruleset.rules),
        document=book.document,
        problems={p.path: p.message for p in book.problems},
    )


@routes.get("/api/v1/rules", response=RulesOut, errors={403: "Heads and admins only"})
async def get_rules(request: web.Request) -> RulesOut:
    """The rules in force and where they came from."""
    if not principal(request).sees_everything:
        raise PermissionDenied("only heads and admins read the call rules")
    return _out(request.app[RULE_BOOK])


@routes.put(
    "/api/v1/rules",
    body=RulesDocument,
    response=RulesOut,
    errors={403: "Admins only", 422: "A rule is invalid or names something that does not exist"},
)
async def replace_rules(request: web.Request, *, body: RulesDocument) -> RulesOut:
    """Replace every rule at once; in force at once here and within seconds elsewhere."""
    actor = principal(request)
    if not actor.is_admin:
        raise PermissionDenied("only admins change the call rules")
    book = request.app[RULE_BOOK]
    try:
        await book.replace(request.app[SESSIONS], body.model_dump(), by=actor.user_id)
    except RulesInvalid as err:
        raise _refused(err) from err
    return _out(book)


@routes.post(
    "/api/v1/rules/check",
    body=RulesDocument,
    response=RulesOut,
    errors={422: "A rule is invalid or names something that does not exist"},
)
async def check_rules(request: web.Request, *, body: RulesDocument) -> RulesOut:
    """Validate a rule document without saving it."""
    if not principal(request).sees_everything:
        raise PermissionDenied("only heads and admins check call rules")
    book = request.app[RULE_BOOK]
    document = body.model_dump()
    try:
        async with request.app[SESSIONS]() as session:
            ruleset = await validate_document(session, document, book.phone_rules, book.pbxs)
    except RulesInvalid as err:
        raise _refused(err) from err
    return RulesOut(
        version=None,
        source="check",
        rules=len(ruleset.rules),
        document=document,
        checked_at=dt.datetime.now(dt.UTC),
    )
