"""Every route of the app is authenticated and role-checked, except a short, explicit public list.

The test walks the aiohttp router itself (the CRM's and the telephony side's API, the websocket,
the probes, the browser app and its static files), so a route added without a decision here fails:
put it in PUBLIC (with why), ANY_USER, HEADS or ADMINS (with a request that passes validation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from crmlite.services import auth as auth_service
from tests.support.api import ApiClient, ApiHarness

PUBLIC = {
    "POST /api/v1/auth/login": "logging in is how credentials are made",
    "GET /api/openapi.json": "the API's description, no data",
    "GET /healthz": "liveness probe",
    "GET /readyz": "readiness probe (database reachable and migrated)",
    "GET /metrics": "Prometheus scrape: counters by route template, no data",
    "GET /": "the browser app's shell; it reads everything through the API",
    "GET /login": "the browser app's shell",
    "GET /board": "the browser app's shell",
    "GET /board/{pipeline_id}": "the browser app's shell",
    "GET /deals/{deal_id}": "the browser app's shell",
    "GET /contacts": "the browser app's shell",
    "GET /contacts/{contact_id}": "the browser app's shell",
    "GET /tasks": "the browser app's shell",
    "GET /pool": "the browser app's shell",
    "GET /import": "the browser app's shell",
    "GET /unsorted": "the browser app's shell",
    "GET /reports": "the browser app's shell",
    "GET /stuck": "the browser app's shell",
    "GET /admin": "the browser app's shell",
    "GET /admin/{section}": "the browser app's shell",
    "GET /static/{path}": "the browser app's scripts and styles",
    "GET /vendor/{name}": "the browser app's third-party scripts",
}
# Authenticates itself after the upgrade (cookie, bearer header or first message): closes 4401.
SELF_AUTHENTICATED = {"GET /ws"}
LOOKUP = "GET /api/v1/route"


@dataclass(frozen=True)
class Example:
    """A request that passes validation, so the answer is the role check's."""

    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    path: dict[str, str] = field(default_factory=dict)


# Any logged-in user; the services still narrow what a seller sees to their own records.
ANY_USER = frozenset(
    {
        "POST /api/v1/auth/logout",
        "POST /api/v1/auth/password",
        "GET /api/v1/auth/me",
        "GET /api/v1/auth/tokens",
        "POST /api/v1/auth/tokens",
        "DELETE /api/v1/auth/tokens/{id}",
        "GET /api/v1/users",
        "GET /api/v1/users/{id}",
        "GET /api/v1/users/{id}/tokens",
        "GET /api/v1/contacts",
        "GET /api/v1/contacts/by-phone",
        "POST /api/v1/contacts",
        "GET /api/v1/contacts/{id}",
        "PATCH /api/v1/contacts/{id}",
        "DELETE /api/v1/contacts/{id}",
        "POST /api/v1/contacts/{id}/phones",
        "DELETE /api/v1/contacts/{id}/phones/{phone_id}",
        "GET /api/v1/contacts/{id}/duplicates",
        "POST /api/v1/contacts/{id}/merge",
        "GET /api/v1/pool",
        "POST /api/v1/contacts/{id}/claim",
        "POST /api/v1/contacts/{id}/release",
        "GET /api/v1/contacts/{id}/pool-events",
        "GET /api/v1/contacts/{id}/score",
        "GET /api/v1/deals/{id}/score",
        "POST /api/v1/imports/uploads",
        "POST /api/v1/imports/uploads/{upload_id}/preview",
        "POST /api/v1/imports",
        "GET /api/v1/imports/{id}",
        "GET /api/v1/imports/{id}/rows",
        "GET /api/v1/imports/{id}/report",
        "GET /api/v1/pipelines",
        "GET /api/v1/pipelines/{id}",
        "GET /api/v1/pipelines/{id}/stages/{stage_id}/robots",
        "GET /api/v1/stuck-deals",
        "GET /api/v1/deals",
        "POST /api/v1/deals",
        "POST /api/v1/deals/bulk",
        "GET /api/v1/deals/{id}",
        "PATCH /api/v1/deals/{id}",
        "DELETE /api/v1/deals/{id}",
        "POST /api/v1/deals/{id}/move",
        "POST /api/v1/deals/{id}/claim",
        "GET /api/v1/deals/{id}/history",
        "GET /api/v1/board/{pipeline_id}",
        "GET /api/v1/board/{pipeline_id}/columns/{stage_id}",
        "GET /api/v1/activities",
        "POST /api/v1/activities",
        "GET /api/v1/activities/{id}",
        "DELETE /api/v1/activities/{id}",
        "GET /api/v1/tasks",
        "POST /api/v1/tasks",
        "GET /api/v1/tasks/{id}",
        "PATCH /api/v1/tasks/{id}",
        "DELETE /api/v1/tasks/{id}",
        "GET /api/v1/inbox",
        "POST /api/v1/inbox/{id}/accept",
        "POST /api/v1/inbox/{id}/decline",
        "POST /api/v1/inbox/{id}/merge",
        "GET /api/v1/reports/funnel",
        "GET /api/v1/reports/time-in-stage",
        "GET /api/v1/reports/sales",
        "GET /api/v1/reports/forecast",
        "GET /api/v1/reports/loss-reasons",
        "GET /api/v1/reports/calls",
        "GET /api/v1/reports/speed-to-lead",
        "GET /api/v1/reports/missed-calls",
        "POST /api/v1/calls",
        "POST /api/v1/wrapups",
        "GET /api/v1/products",
        "GET /api/v1/products/{id}",
        "GET /api/v1/deals/{id}/quotes",
        "POST /api/v1/deals/{id}/quotes",
        "POST /api/v1/quotes/preview",
        "GET /api/v1/quotes/{id}",
        "PUT /api/v1/quotes/{id}",
        "DELETE /api/v1/quotes/{id}",
        "POST /api/v1/quotes/{id}/send",
        "POST /api/v1/quotes/{id}/accept",
        "POST /api/v1/quotes/{id}/reject",
        "POST /api/v1/quotes/{id}/revise",
        "GET /api/v1/quotes/{id}/print",
        "GET /api/v1/quotes/{id}/pdf",
        "GET /api/v1/pipelines/{id}/quote-settings",
        LOOKUP,
    }
)
_PERIOD = {"since": "2026-01-01T00:00:00+00:00", "until": "2026-02-01T00:00:00+00:00"}
HEADS = {
    "POST /api/v1/pipelines": Example(json={"name": "Wholesale"}),
    "PATCH /api/v1/pipelines/{id}": Example(json={}),
    "DELETE /api/v1/pipelines/{id}": Example(),
    "POST /api/v1/pipelines/{id}/stages": Example(json={"name": "Demo"}),
    "PUT /api/v1/pipelines/{id}/stages/order": Example(json={"stage_ids": [1]}),
    "PATCH /api/v1/pipelines/{id}/stages/{stage_id}": Example(json={}),
    "DELETE /api/v1/pipelines/{id}/stages/{stage_id}": Example(),
    "POST /api/v1/pipelines/{id}/stages/{stage_id}/robots": Example(
        json={"trigger": "enter", "action": "notify_owner"}
    ),
    "PATCH /api/v1/pipelines/{id}/stages/{stage_id}/robots/{robot_id}": Example(json={}),
    "DELETE /api/v1/pipelines/{id}/stages/{stage_id}/robots/{robot_id}": Example(),
    "GET /api/v1/inbox/blocked-numbers": Example(),
    "DELETE /api/v1/inbox/blocked-numbers": Example(params={"number": "+79161234567"}),
    "GET /api/v1/reports/sla-escalations": Example(),
    "GET /api/v1/campaigns": Example(),
    "POST /api/v1/campaigns": Example(json={"name": "Spring"}),
    "GET /api/v1/campaigns/{id}": Example(),
    "PATCH /api/v1/campaigns/{id}": Example(json={}),
    "DELETE /api/v1/campaigns/{id}": Example(),
    "POST /api/v1/campaigns/{id}/sources": Example(json={"kind": "did", "value": "+74951234567"}),
    "DELETE /api/v1/campaigns/{id}/sources/{source_id}": Example(),
    "POST /api/v1/campaigns/{id}/costs": Example(
        json={
            "period_start": "2026-01-01",
            "period_end": "2026-01-31",
            "amount": "10.00",
            "currency": "RUB",
        }
    ),
    "DELETE /api/v1/campaigns/{id}/costs/{cost_id}": Example(),
    "GET /api/v1/reports/campaigns": Example(params=_PERIOD),
    "GET /api/v1/reports/campaign-plan": Example(
        params={**_PERIOD, "pipeline_id": "1", "leads": "10"}
    ),
    "GET /api/v1/rules": Example(),
    "POST /api/v1/rules/check": Example(json={}),
    "GET /api/v1/pbx": Example(),
    "POST /api/v1/contacts/{id}/assign": Example(json={"user_id": 1}),
    "PUT /api/v1/pipelines/{id}/quote-settings": Example(json={}),
    "GET /api/v1/scoring": Example(),
    "POST /api/v1/scoring/train": Example(),
}
ADMINS = {
    "POST /api/v1/users": Example(json={"login": "newcomer", "role": "seller"}),
    "PATCH /api/v1/users/{id}": Example(json={}),
    "PUT /api/v1/users/{id}/identities": Example(json={"identities": []}),
    "POST /api/v1/users/{id}/tokens": Example(json={}),
    "PUT /api/v1/rules": Example(json={}),
    "GET /api/v1/webhooks/deliveries": Example(),
    "POST /api/v1/webhooks/deliveries/{id}/retry": Example(),
    "POST /api/v1/products": Example(json={"name": "Tyre", "sku": "T-1", "unit_price": "10"}),
    "PATCH /api/v1/products/{id}": Example(json={}),
    "DELETE /api/v1/products/{id}": Example(),
    "POST /api/v1/products/import": Example(json={}),
    "PUT /api/v1/scoring/rules": Example(json={"base": 40, "rules": []}),
}
_PARAM = re.compile(r"\{(\w+)\}")
_SAMPLE = {"path": "js/app.js", "name": "missing.js", "section": "users"}


def _operations(api: ApiHarness) -> set[str]:
    """Every ``METHOD /template`` the app serves (HEAD answers as GET does)."""
    found = set()
    for route in api.app.router.routes():
        resource = route.resource
        assert resource is not None
        method = "GET" if route.method == "HEAD" else route.method
        found.add(f"{method} {resource.canonical}")
    return found


def _url(operation: str, path: dict[str, str] | None = None) -> tuple[str, str]:
    method, template = operation.split(" ", 1)
    values = {**_SAMPLE, **(path or {})}
    return method, _PARAM.sub(lambda m: values.get(m.group(1), "1"), template)


async def _request(client: ApiClient, operation: str, example: Example | None = None) -> int:
    """The status of ``operation`` sent with ``example``; a schema refusal reads as 400."""
    example = example or Example()
    method, url = _url(operation, example.path)
    body = example.json if example.json is not None else ({} if method != "GET" else None)
    if method == "DELETE" and example.json is None:
        body = None
    answer = await client.request(method, url, params=example.params, json=body)
    if answer.status == 422 and answer.json().get("slug") == "validation-failed":
        return 400  # the example itself is wrong: never mistaken for a role check's answer
    return answer.status


def test_every_route_is_classified(api: ApiHarness) -> None:
    classified = set(PUBLIC) | SELF_AUTHENTICATED | ANY_USER | set(HEADS) | set(ADMINS)
    served = _operations(api)
    assert served - classified == set(), "new routes: decide who may call them"
    assert classified - served == set(), "routes listed here that the app no longer serves"
    groups = [set(PUBLIC), SELF_AUTHENTICATED, ANY_USER, set(HEADS), set(ADMINS)]
    assert sum(len(g) for g in groups) == len(classified), "a route is in two groups"


async def test_nobody_gets_past_any_route_but_the_public_ones(api: ApiHarness) -> None:
    anonymous = api.anonymous()
    for operation in sorted(_operations(api) - set(PUBLIC) - SELF_AUTHENTICATED):
        method, url = _url(operation)
        answer = await anonymous.request(method, url, json={} if method != "GET" else None)
        assert answer.status == 401, f"{operation}: {answer.status} {answer.text[:200]}"
        assert answer.content_type in ("application/problem+json", "text/plain"), operation
    for operation in sorted(PUBLIC):
        method, url = _url(operation)
        answer = await anonymous.request(method, url)
        assert answer.status not in (401, 403), operation
        assert answer.status < 500, f"{operation}: {answer.status}"


async def test_the_pop_socket_closes_on_anonymous_clients(api: ApiHarness) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(api.url("/ws"))
        await ws.send_json({"type": "ping"})
        await ws.receive(timeout=5)
        assert ws.close_code == 4401
        await ws.close()


async def test_heads_and_admins_only_routes_refuse_lower_roles(api: ApiHarness) -> None:
    for operation, example in sorted({**HEADS, **ADMINS}.items()):
        seller = await api.client("seller")
        assert await _request(seller, operation, example) == 403, f"seller on {operation}"
    for operation, example in sorted(ADMINS.items()):
        head = await api.client("head")
        assert await _request(head, operation, example) == 403, f"head on {operation}"
    # The examples pass validation: the roles allowed get past the role check.
    for operation, example in sorted(HEADS.items()):
        head = await api.client("head")
        assert await _request(head, operation, example) not in (400, 401, 403), operation
    for operation, example in sorted(ADMINS.items()):
        admin = await api.client("admin")
        assert await _request(admin, operation, example) not in (400, 401, 403), operation


async def test_a_route_lookup_token_opens_only_the_lookup(api: ApiHarness) -> None:
    pbx_user = await api.create_user("admin", login="pbx")
    async with api.sessions.begin() as db:
        issued = await auth_service.create_api_token(db, pbx_user.id, "pbx", scope="route-lookup")
    pbx = api.anonymous()
    pbx.default_headers["Authorization"] = f"Bearer {issued.token}"
    for operation in sorted(_operations(api) - {LOOKUP}):
        method, url = _url(operation)
        if url.startswith(("/static/", "/vendor/", "/healthz", "/readyz", "/metrics")):
            continue  # never look at credentials (AuthConfig.skip_prefixes): no data there
        answer = await pbx.request(method, url, json={} if method != "GET" else None)
        assert answer.status == 403, f"{operation}: {answer.status}"
    lookup = await pbx.get("/api/v1/route", params={"caller": "+79990000000"})
    assert lookup.status == 404
