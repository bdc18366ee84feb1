"""The OpenAPI 3.1 document, built from the very models the declared routes validate with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode

from crmlite.web.keys import API_ROUTES
from crmlite.web.routing import ApiRoute
from crmlite.web.security import CSRF_HEADER, SESSION_COOKIE

REF_TEMPLATE = "#/components/schemas/{model}"
OPENAPI_PATH = "/api/openapi.json"

_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details, served as application/problem+json.",
    "required": ["type", "title", "status", "slug"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "slug": {"type": "string", "description": "stable machine-readable error code"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "in": {"type": "string", "enum": ["body", "query", "path"]},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "details": {"type": "object"},
    },
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _PROBLEM_REF}},
    }


def _parameters(
    model: type[BaseModel], where: str, schema: dict[str, Any], defs: Mapping[str, Any]
) -> list[dict[str, Any]]:
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": prop,
        }
        if "description" in prop:
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters


def build_openapi(
    routes: Sequence[ApiRoute], *, title: str = "CTI CRM API", version: str = "1"
) -> dict[str, Any]:
    """Render the document for ``routes``; schemas land in ``components.schemas``."""
    inputs: list[tuple[tuple[int, str], JsonSchemaMode, Any]] = []
    for index, route in enumerate(routes):
        parts: tuple[tuple[str, Any, JsonSchemaMode], ...] = (
            ("body", route.body, "validation"),
            ("query", route.query, "validation"),
            ("path", route.path_model, "validation"),
            ("response", route.response, "serialization"),
        )
        for part, model, mode in parts:
            if model is not None:
                inputs.append(((index, part), mode, TypeAdapter(model).core_schema))
    generator = GenerateJsonSchema(ref_template=REF_TEMPLATE)
    schemas, raw_defs = generator.generate_definitions(inputs)
    defs: dict[str, Any] = {str(name): schema for name, schema in raw_defs.items()}
    by_part = {key: schema for (key, _mode), schema in schemas.items()}

    paths: dict[str, dict[str, Any]] = {}
    for index, route in enumerate(routes):
        operation: dict[str, Any] = {
            "operationId": route.operation_id,
            "tags": [route.tag],
            "summary": route.summary,
        }
        if route.description and route.description != route.summary:
            operation["description"] = route.description
        parameters: list[dict[str, Any]] = []
        if route.path_model is not None:
            parameters += _parameters(route.path_model, "path", by_part[(index, "path")], defs)
        else:
            parameters += [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in route.path_params
            ]
        if route.query is not None:
            parameters += _parameters(route.query, "query", by_part[(index, "query")], defs)
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": by_part[(index, "body")]}},
            }
        responses: dict[str, Any] = {}
        files = {media: {"schema": {"type": "string", "format": "binary"}} for media in route.files}
        if route.response is not None:
            responses[str(route.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": by_part[(index, "response")]}, **files},
            }
        elif files:
            responses[str(route.status)] = {"description": "A file", "content": files}
        else:
            responses[str(204 if route.status == 200 else route.status)] = {
                "description": "No content"
            }
        operation["security"] = [{"bearer": []}, {"session": []}] if route.auth else []
        for status, description in route.problems.items():
            responses[str(status)] = _problem(description)
        operation["responses"] = responses
        paths.setdefault(route.openapi_path, {})[route.method.lower()] = operation

    components_schemas: dict[str, Any] = {"Problem": _PROBLEM_SCHEMA, **defs}
    tags: dict[str, str] = {}
    for route in routes:
        if route.tag_description or route.tag not in tags:
            tags[route.tag] = route.tag_description or tags.get(route.tag, "")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Errors are application/problem+json with a stable `slug`. Browser sessions "
                f"(cookie {SESSION_COOKIE}) send the CSRF token in {CSRF_HEADER} on unsafe methods."
            ),
        },
        "tags": [
            {"name": name, "description": text} if text else {"name": name}
            for name, text in sorted(tags.items())
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components_schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
            },
        },
    }


async def openapi_document(request: web.Request) -> web.Response:
    """Serve the document; it is rebuilt per call (rare, and always matches the routes)."""
    routes: list[ApiRoute] = request.app[API_ROUTES]
    return web.json_response(build_openapi(routes))


def openapi_routes() -> list[web.RouteDef]:
    return [web.get(OPENAPI_PATH, openapi_document)]
