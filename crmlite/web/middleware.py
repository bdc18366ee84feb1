"""Request id, access log and Prometheus metrics for every HTTP request."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import Counter, Histogram

from crmlite.web.keys import CREDENTIALS, REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"
# A client-sent id is kept only when it is short and plain: it ends up in every log line.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = structlog.get_logger("crmlite.web.access")

HTTP_REQUESTS = Counter(
    "cti_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "cti_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_id(request: web.Request) -> str:
    """The id of this request, as logged and echoed in X-Request-ID."""
    rid: str = request.get(REQUEST_ID, "")
    return rid


def _route_label(request: web.Request) -> str:
    # The template, not the path: /api/v1/deals/{id} is one series, not one per deal.
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    return resource.canonical


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Take or make the request id, bind it into the log context and echo it on the response."""
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    rid = sent if _ACCEPTABLE_REQUEST_ID.match(sent) else uuid.uuid4().hex
    request[REQUEST_ID] = rid
    with structlog.contextvars.bound_contextvars(request_id=rid):
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            # Redirects and the like raised past the error middleware still carry the id.
            exc.headers[REQUEST_ID_HEADER] = rid
            raise
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = rid
            # No content sniffing: a JSON answer is never run as a script or rendered as HTML.
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log one line per request and count it, with its status and duration."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        status = exc.status
        raise
    else:
        status = response.status
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = _route_label(request)
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        HTTP_LATENCY.labels(request.method, route).observe(elapsed)
        found = request.get(CREDENTIALS)
        log.info(
            "http_request",
            method=request.method,
            path=request.path,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            user=found.principal.login if found else None,
        )
