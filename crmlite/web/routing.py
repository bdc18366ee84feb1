"""Declared API routes: pydantic models validate each request and also feed the OpenAPI document.

A route table groups routes by tag::

    routes = ApiRoutes("contacts")

    @routes.post("/api/v1/contacts", body=ContactCreate, response=ContactOut, status=201)
    async def create_contact(request: web.Request, *, body: ContactCreate) -> ContactOut: ...

The handler receives ``body=``, ``query=`` and ``path=`` keyword arguments for the models declared,
and returns an instance of ``response`` (serialized with it), ``None`` (204), or any aiohttp
response (passed through untouched).

The problem answers an operation can give by the way it is declared are documented for it
(``ApiRoute.problems``): a body may be malformed (400) or of another media type (415), any input
may fail its schema (422), a logged-in route answers 401, an unsafe one 403 to a browser session
without its CSRF token and 409 when it clashes with what is stored, a path with ids 404. A route's
``errors={status: "why"}`` adds its own statuses or says why for one of these.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from crmlite.domain.errors import InvalidInput
from crmlite.web.errors import (
    HttpProblem,
    RequestValidationError,
    invalid_input_problem,
    validation_field_errors,
)
from crmlite.web.keys import API_ROUTES
from crmlite.web.schemas import JSON_BODY
from crmlite.web.security import principal

ApiHandler = Callable[..., Awaitable[Any]]

ModelT = typing.TypeVar("ModelT", bound=BaseModel)
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One operation: what it accepts, what it answers, and who may call it."""

    method: str
    path: str
    handler: ApiHandler
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    path_model: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    summary: str = ""
    description: str = ""
    auth: bool = True
    operation_id: str = ""
    extra_responses: Mapping[int, str] = field(default_factory=dict)
    tag_description: str = ""
    # Media types of files the operation may answer instead of (or, without ``response``, as)
    # its JSON: a list exported as CSV or XLSX, a report downloaded.
    files: tuple[str, ...] = ()

    @property
    def openapi_path(self) -> str:
        """The path with aiohttp's ``{name:regex}`` reduced to OpenAPI's ``{name}``."""
        return _PATH_PARAM.sub(r"{\1}", self.path)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def problems(self) -> dict[int, str]:
        """Every problem status the operation can answer, and why: the declared ones win."""
        found: dict[int, str] = {}
        if self.body is not None:
            found[400] = "The body is not JSON (malformed-json)"
            found[415] = "The body is not sent as application/json (unsupported-media-type)"
        if self.auth:
            found[401] = "No valid session or API token (unauthenticated)"
        if self.auth and self.method in _UNSAFE_METHODS:
            found[403] = "A browser session without its X-CSRF-Token header (csrf-failed)"
        if self.path_params or _names_stored_things(self.body, self.query):
            found[404] = "No such thing, or not yours; or no route for this path"
        if self.auth and self.method in _UNSAFE_METHODS:
            found[409] = "Clashes with what is stored: a value already taken, a stale version"
        if self.body is not None or self.query is not None or self.path_params:
            found[422] = "The request does not match its schema (validation-failed) or a rule"
        found.update(self.extra_responses)
        return dict(sorted(found.items()))

    def field_location(self, field_name: str) -> str:
        """Where a field of this operation's input travels: path, query or body."""
        top = field_name.split(".", 1)[0]
        for location, model in (("path", self.path_model), ("query", self.query)):
            if model is not None and top in _wire_names(model):
                return location
        if self.body is None and self.query is not None:
            return "query"
        return "body"


class ApiRoutes:
    """A table of declared routes sharing one OpenAPI tag; install with ``add_api_routes``."""

    def __init__(self, tag: str, description: str = "") -> None:
        self.tag = tag
        self.description = description
        self._routes: list[ApiRoute] = []

    def __iter__(self) -> Iterator[ApiRoute]:
        return iter(self._routes)

    def route(
        self,
        method: str,
        path: str,
        *,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        path_model: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        summary: str = "",
        auth: bool = True,
        errors: Mapping[int, str] | None = None,
        files: Sequence[str] = (),
    ) -> Callable[[ApiHandler], ApiHandler]:
        """Declare ``method path``; ``errors`` documents the problem statuses it may answer.

        ``files`` names the media types of files it may answer with (documented beside the JSON).
        """

        def register(handler: ApiHandler) -> ApiHandler:
            doc = (handler.__doc__ or "").strip()
            self._routes.append(
                ApiRoute(
                    method=method.upper(),
                    path=path,
                    handler=handler,
                    tag=self.tag,
                    body=body,
                    query=query,
                    path_model=path_model,
                    response=response,
                    status=status,
                    summary=summary or doc.split("\n", 1)[0],
                    description=doc,
                    auth=auth,
                    operation_id=handler.__name__,
                    extra_responses=dict(errors or {}),
                    tag_description=self.description,
                    files=tuple(files),
                )
            )
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[ApiHandler], ApiHandler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[ApiHandler], ApiHandler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[ApiHandler], ApiHandler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[ApiHandler], ApiHandler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[ApiHandler], ApiHandler]:
        return self.route("DELETE", path, **options)


def add_api_routes(app: web.Application, *tables: ApiRoutes) -> None:
    """Register the tables' routes on ``app`` and list them in its OpenAPI document."""
    if API_ROUTES not in app:
        app[API_ROUTES] = []
    taken = {route.operation_id: route for route in app[API_ROUTES]}
    for table in tables:
        for route in table:
            if route.operation_id in taken:
                other = taken[route.operation_id]
                raise ValueError(
                    f"two API handlers are named {route.operation_id!r} "
                    f"({other.method} {other.path} and {route.method} {route.path}): "
                    "handler names are OpenAPI operationIds and must be unique"
                )
            _check_inputs(route)
            taken[route.operation_id] = route
            app.router.add_route(
                route.method, route.path, _endpoint(route), name=route.operation_id
            )
            app[API_ROUTES].append(route)


def _endpoint(route: ApiRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    adapter = TypeAdapter(route.response) if route.response is not None else None
    list_fields = _list_fields(route.query) if route.query is not None else frozenset()

    async def endpoint(request: web.Request) -> web.StreamResponse:
        if route.auth:
            principal(request)  # 401 (or 403 on a missing CSRF token) before any parsing
        kwargs: dict[str, Any] = {}
        if route.path_model is not None:
            kwargs["path"] = _validate(route.path_model, dict(request.match_info), "path")
        if route.query is not None:
            raw_query = {
                name: request.query.getall(name) if name in list_fields else request.query[name]
                for name in request.query
            }
            kwargs["query"] = _validate(route.query, raw_query, "query")
        if route.body is not None:
            kwargs["body"] = _validate(route.body, await read_json(request), "body")
        try:
            result = await route.handler(request, **kwargs)
        except InvalidInput as err:
            raise invalid_input_problem(err, route.field_location) from err
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204 if route.status in (200, 204) else route.status)
        payload = adapter.dump_json(result) if adapter else json.dumps(result).encode()
        return web.Response(body=payload, status=route.status, content_type="application/json")

    endpoint.__name__ = route.operation_id
    return endpoint


def model_response(value: BaseModel, *, status: int = 200) -> web.Response:
    """A JSON response from a model, for handlers that must touch the response (cookies)."""
    return web.Response(
        body=value.model_dump_json().encode(), status=status, content_type="application/json"
    )


async def read_json(request: web.Request) -> Any:
    """Parse the JSON body; a wrong media type is 415 and malformed JSON is 400."""
    if request.content_type != "application/json":
        raise HttpProblem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send the body as application/json, not {request.content_type or 'nothing'}",
        )
    raw = await request.read()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise HttpProblem(400, "malformed-json", "Malformed JSON", "the body is not UTF-8") from err
    except json.JSONDecodeError as err:
        raise HttpProblem(
            400,
            "malformed-json",
            "Malformed JSON",
            f"line {err.lineno} column {err.colno}: {err.msg}",
        ) from err


def _validate(model: type[ModelT], data: Any, location: str) -> ModelT:
    try:
        return model.model_validate(data, context=JSON_BODY if location == "body" else None)
    except ValidationError as err:
        errors = validation_field_errors(err, location)
        if all(error["type"] == "value_error" for error in errors):
            # Only the model's own validators objected: a rule the document cannot state (one
            # of two fields, a range across fields), answered like the services' InvalidInput.
            raise HttpProblem(
                422, InvalidInput.slug, "Invalid input", errors[0]["message"], errors=errors
            ) from err
        raise RequestValidationError(errors) from err


def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    """Query parameters that may repeat (``?stage=1&stage=2``): the list-typed fields."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        origins = {typing.get_origin(annotation)}
        origins |= {typing.get_origin(arg) for arg in typing.get_args(annotation)}
        if origins & {list, tuple, set, frozenset}:
            names.add(info.alias or name)
    return frozenset(names)


def _wire_names(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(info.alias or name for name, info in model.model_fields.items())


def _names_stored_things(*models: type[BaseModel] | None) -> bool:
    """True when an input names a stored thing by id (``contact_id``, ``deal_ids``...)."""
    return any(
        name == "id" or name.endswith(("_id", "_ids"))
        for model in models
        if model is not None
        for name in _wire_names(model)
    )


def _check_inputs(route: ApiRoute) -> None:
    """Refuse an input with an unbounded integer: build it from ``WireModel`` (schemas.py)."""
    for part, model in (("body", route.body), ("query", route.query), ("path", route.path_model)):
        if model is not None and _has_unbounded_integer(TypeAdapter(model).json_schema()):
            raise TypeError(
                f"{route.method} {route.path}: the {part} model {model.__name__} has an integer "
                "without bounds; derive it from crmlite.web.schemas.ApiModel, QueryModel or "
                "WireModel, which bound every integer to the database's range"
            )


def _has_unbounded_integer(schema: Any) -> bool:
    if isinstance(schema, list):
        return any(_has_unbounded_integer(item) for item in schema)
    if not isinstance(schema, dict):
        return False
    if schema.get("type") == "integer" and not (
        {"minimum", "exclusiveMinimum"} & schema.keys()
        and {"maximum", "exclusiveMaximum"} & schema.keys()
    ):
        return True
    return any(_has_unbounded_integer(value) for value in schema.values())
