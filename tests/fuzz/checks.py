"""Schemathesis checks of this API's own contract, loaded by tests/fuzz/schemathesis.toml.

A schema-valid request may still break a rule JSON Schema cannot say (a phone number that does
not parse, ``until`` before ``since``): that is a 422 ``invalid-input``, which the configuration
accepts. What it must never meet is ``validation-failed``: that would mean the document promised
more than the models accept, the drift this suite exists to catch.
"""

from __future__ import annotations

import json

import schemathesis
from schemathesis import Case, CheckContext, Response


@schemathesis.check
def schema_valid_input_passes_validation(
    ctx: CheckContext, response: Response, case: Case
) -> bool | None:
    """A request drawn from the document never fails the server's schema validation."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code != 422:
        return None
    try:
        slug = json.loads(response.text).get("slug")
    except (ValueError, AttributeError):
        return None
    if slug == "validation-failed":
        raise AssertionError(
            "a request valid by the document failed the server's schema validation: "
            + response.text[:500]
        )
    return None


@schemathesis.check
def errors_are_problems(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every error answer is application/problem+json with a slug."""
    if response.status_code < 400:
        return None
    found = response.headers.get("content-type") or [""]
    header = found if isinstance(found, str) else found[0]
    media_type = header.split(";")[0].strip()
    if media_type != "application/problem+json":
        raise AssertionError(f"a {response.status_code} answered as {media_type!r}")
    return None
