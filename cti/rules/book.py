"""The rules in force: from the database, the rule file or the defaults; replaced by admins."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.errors import InvalidInput
from crmlite.domain.phones import PhoneRules, normalize_phone
from crmlite.services.rule_sets import crm_names, latest_rules, latest_version, save_rules
from cti.rules.defaults import DEFAULT_RULES
from cti.rules.model import Catalog, Problem, RuleSet, RulesInvalid, check_references, parse_rules

log = structlog.get_logger(__name__)


def jsonable(value: Any) -> Any:
    """TOML dates and times as ISO strings, so a document read from TOML stores as JSON."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def read_rule_file(path: str | Path) -> dict[str, Any]:
    """Parse a TOML rule file; a file that is not TOML is refused like any invalid rule."""
    try:
        return jsonable(tomllib.loads(Path(path).read_text(encoding="utf-8")))  # type: ignore[no-any-return]
    except tomllib.TOMLDecodeError as err:
        raise RulesInvalid([Problem("", f"{path}: not valid TOML: {err}")]) from err


def did_normalizer(phone_rules: PhoneRules) -> Any:
    """Turn a DID as written into E.164; a bad one raises ValueError for the parser to report."""

    def normalize(raw: str) -> str:
        try:
            return normalize_phone(raw, phone_rules).normalized
        except InvalidInput as err:
            raise ValueError(err.message) from err

    return normalize


async def reference_problems(
    session: AsyncSession, ruleset: RuleSet, pbxs: Iterable[str] = ()
) -> list[Problem]:
    """Names in ``ruleset`` that the CRM (pipelines, stages, users) or the PBXs do not have."""
    names = await crm_names(session)
    catalog = Catalog(
        pipelines=names.pipelines,
        default_pipeline=names.default_pipeline,
        users=names.logins,
        unsorted=names.unsorted,
        pbxs=frozenset(pbxs),
    )
    return check_references(ruleset, catalog)


async def validate_document(
    session: AsyncSession,
    document: Mapping[str, Any],
    phone_rules: PhoneRules,
    pbxs: Iterable[str] = (),
) -> RuleSet:
    """Parse ``document`` and check every name in it against the CRM and the PBXs' names."""
    ruleset = parse_rules(document, normalize_number=did_normalizer(phone_rules))
    problems = await reference_problems(session, ruleset, pbxs)
    if problems:
        raise RulesInvalid(problems)
    return ruleset


class RuleBook:
    """The rule set in force and where it came from; swapped whole, never edited in place."""

    def __init__(
        self, phone_rules: PhoneRules, *, file: str | None = None, pbxs: Iterable[str] = ()
    ) -> None:
        self.phone_rules = phone_rules
        self.file = file
        self.pbxs = tuple(pbxs)  # the configured PBXs' names rules may use (empty: unchecked)
        self.document: dict[str, Any] = DEFAULT_RULES
        self.ruleset: RuleSet = parse_rules(
            DEFAULT_RULES, normalize_number=did_normalizer(phone_rules)
        )
        self.version: int | None = None  # id of the saved version; None: file or defaults
        self.source = "defaults"
        self.problems: tuple[Problem, ...] = ()  # names that did not resolve when loaded

    async def load(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Take the newest saved version, else the rule file, else the defaults.

        A document that does not parse stops the start (a configuration error). Names that no
        longer resolve (a user disabled, a pipeline renamed since the rules were saved) are logged
        and listed in ``problems``; those actions fall back (no owner, the default pipeline)
        rather than leaving the PBX's calls unrecorded.
        """
        normalize = did_normalizer(self.phone_rules)
        async with sessions() as session:
            saved = await latest_rules(session)
            if saved is not None:
                document, version, source = saved.document, saved.version, "api"
            elif self.file:
                document, version, source = read_rule_file(self.file), None, self.file
            else:
                document, version, source = DEFAULT_RULES, None, "defaults"
            ruleset = parse_rules(document, normalize_number=normalize)
            problems = await reference_problems(session, ruleset, self.pbxs)
        self.document, self.ruleset, self.version, self.source = document, ruleset, version, source
        self.problems = tuple(problems)
        if problems:
            log.error(
                "call rules name things the CRM does not have",
                source=source,
                problems=[f"{p.path}: {p.message}" for p in problems],
            )
        log.info("call rules loaded", source=source, rules=len(ruleset.rules))

    async def refresh(self, sessions: async_sessionmaker[AsyncSession]) -> bool:
        """Reload when another instance saved a newer version; True when the rules changed."""
        async with sessions() as session:
            newest = await latest_version(session)
        if newest is None or newest == self.version:
            return False
        await self.load(sessions)
        return True

    async def replace(
        self,
        sessions: async_sessionmaker[AsyncSession],
        document: Mapping[str, Any],
        *,
        by: int | None,
    ) -> RuleSet:
        """Validate and save ``document``; once committed, put it in force here."""
        clean: dict[str, Any] = jsonable(document)
        async with sessions() as session, session.begin():
            ruleset = await validate_document(session, clean, self.phone_rules, self.pbxs)
            saved = await save_rules(session, clean, by=by, now=dt.datetime.now(dt.UTC))
        self.document, self.ruleset, self.version, self.source = (
            clean,
            ruleset,
            saved.version,
            "api",
        )
        log.info("call rules replaced", version=saved.version, by=by, rules=len(ruleset.rules))
        return ruleset
