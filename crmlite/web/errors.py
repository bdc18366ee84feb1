"""Errors as ``application/problem+json`` (RFC 9457) with a stable ``slug`` and per-field details.

Handlers raise domain errors (``crmlite.domain.errors``) or, for HTTP-only problems,
``HttpProblem``; ``error_middleware`` turns each into one JSON body.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from crmlite.db.unique import unique_violation
from crmlite.domain.errors import (
    AlreadyTaken,
    Conflict,
    DomainError,
    Gone,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://cti.example/problems/"

log = structlog.get_logger(__name__)

FieldError = dict[str, Any]
"""An ``errors`` entry: ``{"field": "phones.0.raw", "in": "body", "message": .., "type": ..}``."""

_DOMAIN_STATUS: tuple[tuple[type[DomainError], int, str], ...] = (
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict"),
    (Gone, 410, "Gone"),
    (PermissionDenied, 403, "Forbidden"),
    (InvalidInput, 422, "Invalid input"),
    (Unauthenticated, 401, "Authentication required"),
)

# Slugs of problems raised by the web layer itself (domain errors bring their own).
_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "no-such-route",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "too-many-requests",
}


class HttpProblem(Exception):
    """A problem that exists only at the HTTP edge (malformed JSON, missing CSRF token)."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class RequestValidationError(HttpProblem):
    """The request body, query or path did not match its declared schema (422)."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(
            422,
            "validation-failed",
            "Request validation failed",
            "; ".join(f"{e['field'] or e['in']}: {e['message']}" for e in errors[:5]),
            errors=errors,
        )


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    *,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> web.Response:
    """Build the one error body every API answer uses."""
    body: dict[str, object] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "slug": slug,
    }
    if detail:
        body["detail"] = detail
    error_list = list(errors)
    if error_list:
        body["errors"] = error_list
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    response = web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False, default=str),
        content_type=PROBLEM_CONTENT_TYPE,
    )
    response.headers.update(headers or {})
    return response


def validation_field_errors(err: ValidationError, location: str) -> list[FieldError]:
    """Turn pydantic's errors into ``errors`` entries; ``location`` is body, query or path."""
    entries: list[FieldError] = []
    for problem in err.errors(include_url=False, include_context=False, include_input=False):
        field = ".".join(str(part) for part in problem["loc"])
        entries.append(
            {"field": field, "in": location, "message": problem["msg"], "type": problem["type"]}
        )
    return entries


def _body_field(_field: str) -> str:
    return "body"


def invalid_input_problem(
    err: InvalidInput, location_of: Callable[[str], str] = _body_field
) -> HttpProblem:
    """The 422 of a broken rule; ``location_of`` says where each field travels (query, body...)."""
    return HttpProblem(
        422,
        err.slug,
        "Invalid input",
        err.message,
        errors=[
            {"field": field, "in": location_of(field), "message": message, "type": err.slug}
            for field, message in err.fields.items()
        ],
        extra={"details": err.details} if err.details else None,
    )


def domain_problem(err: DomainError) -> web.Response:
    """Map a domain error to its status; the slug and message are the error's own."""
    if isinstance(err, InvalidInput):
        return _problem_of(invalid_input_problem(err))
    status, title = 400, "Bad request"
    for kind, kind_status, kind_title in _DOMAIN_STATUS:
        if isinstance(err, kind):
            status, title = kind_status, kind_title
            break
    headers = {"WWW-Authenticate": 'Bearer realm="cti"'} if status == 401 else None
    return problem_response(
        status,
        err.slug,
        title,
        err.message,
        errors=[
            {"field": field, "in": "body", "message": "already taken", "type": err.slug}
            for field in _conflicting_fields(err)
        ],
        headers=headers,
        extra={"details": err.details} if err.details else None,
    )


def _conflicting_fields(err: DomainError) -> tuple[str, ...]:
    return err.fields if isinstance(err, AlreadyTaken) else ()


def _problem_of(problem: HttpProblem) -> web.Response:
    return problem_response(
        problem.status,
        problem.slug,
        problem.title,
        problem.detail,
        errors=problem.errors,
        headers=problem.headers,
        extra=problem.extra,
    )


def _http_exception_problem(exc: web.HTTPException) -> web.Response:
    slug = _HTTP_SLUGS.get(exc.status, f"http-{exc.status}")
    detail = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else None
    headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
    return problem_response(exc.status, slug, exc.reason, detail, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure as problem+json; unexpected ones are logged with their traceback."""
    try:
        return await handler(request)
    except HttpProblem as problem:
        return _problem_of(problem)
    except DomainError as err:
        return domain_problem(err)
    except IntegrityError as err:
        taken = unique_violation(err)
        if taken is None:
            log.exception("integrity_error", path=request.path, method=request.method)
            return problem_response(500, "internal-error", "Internal server error")
        return domain_problem(taken)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_exception_problem(exc)
    except Exception:
        # The client gets a bland 500; the log gets the traceback under the request id.
        log.exception("unhandled_error", path=request.path, method=request.method)
        return problem_response(500, "internal-error", "Internal server error")
