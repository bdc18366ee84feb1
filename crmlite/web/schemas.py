"""Base classes and shared shapes of API schemas: bodies, queries, pages, path ids.

Every model here derives from ``WireModel``, which holds what crosses the wire to the database's
limits, for every field of every route without the route's author doing anything:

- an ``int`` without bounds is bounded to the database's integer (SQLite's INTEGER, PostgreSQL's
  BIGINT: 64-bit signed), so ``?stage=243364357085665624064`` answers 422, not a driver's 500;
- a ``datetime`` is an RFC 3339 date-time with an offset, a ``date`` is ``YYYY-MM-DD``: pydantic
  would otherwise read ``0.5`` as a Unix time, which the document (format ``date-time``) refuses;
- in a JSON body (validated with ``JSON_BODY``) an integer or a boolean is a JSON number or
  boolean, never the string ``"5"`` or ``0`` for false (query strings stay text).

Both live in the model's core schema, so validation and ``/api/openapi.json`` agree by
construction. Fields stored in a narrower column say so themselves (``Field(le=INT32_MAX)``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

DB_INT_MIN = -(2**63)
DB_INT_MAX = 2**63 - 1
"""The range of the database's integer: SQLite's INTEGER and PostgreSQL's BIGINT (ids)."""
INT32_MAX = 2**31 - 1
"""The largest value of PostgreSQL's INTEGER (positions, versions, counts)."""

Id = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
"""The id of a stored thing."""

ItemT = TypeVar("ItemT")

# RFC 3339 as JSON Schema's ``date-time`` and ``date`` formats read it; pydantic checks the rest.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _wire_date_time(value: Any) -> Any:
    if isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        raise PydanticCustomError(
            "date_time_format", "Input should be an RFC 3339 date-time with an offset"
        )
    if isinstance(value, int | float):  # a number would be read as a Unix time
        raise PydanticCustomError("date_time_type", "Input should be a date-time string")
    return value


def _wire_date(value: Any) -> Any:
    if isinstance(value, str) and not _DATE.fullmatch(value):
        raise PydanticCustomError("date_format", "Input should be a date as YYYY-MM-DD")
    if isinstance(value, int | float):
        raise PydanticCustomError("date_type", "Input should be a date string")
    return value


JSON_BODY: Final = {"wire": "json"}
"""Validation context of a JSON body: numbers and booleans must be JSON's own (routing.py)."""


def _json_integer(value: Any, info: core_schema.ValidationInfo) -> Any:
    if info.context == JSON_BODY and isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a JSON integer")
    return value


def _json_boolean(value: Any, info: core_schema.ValidationInfo) -> Any:
    if info.context == JSON_BODY and not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be a JSON boolean")
    return value


_WIRE_CHECKS = {"datetime": _wire_date_time, "date": _wire_date}
_JSON_CHECKS = {"int": _json_integer, "bool": _json_boolean}
_GUARDS = frozenset({*_WIRE_CHECKS.values(), *_JSON_CHECKS.values()})


def _harden(schema: Any, *, json_keys: bool = False) -> Any:
    """Bound every integer and guard every date(-time) of a core schema; idempotent."""
    if isinstance(schema, list):
        return [_harden(item, json_keys=json_keys) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if (
        kind in {"function-before", "function-after"}
        and schema["function"].get("function") in _GUARDS
    ):
        return schema  # guarded already (a nested model's schema is walked again by its parent)
    if kind == "int":
        if "le" not in schema and "lt" not in schema:
            schema["le"] = DB_INT_MAX
        if "ge" not in schema and "gt" not in schema:
            schema["ge"] = DB_INT_MIN
    if kind == "dict" and schema.get("keys_schema", {}).get("type") == "int":
        # JSON keys are strings: say which ones read as integers (within the 64-bit range).
        metadata = schema.setdefault("metadata", {})
        metadata["pydantic_js_updates"] = {"propertyNames": {"pattern": r"^-?[0-9]{1,18}$"}}
    if kind in _JSON_CHECKS and not json_keys:
        return core_schema.with_info_before_validator_function(_JSON_CHECKS[kind], schema)
    if kind in _WIRE_CHECKS:
        return core_schema.no_info_before_validator_function(_WIRE_CHECKS[kind], schema)
    for key, value in schema.items():
        if isinstance(value, dict | list):
            # A JSON object's keys are strings, whatever type they are read as.
            schema[key] = _harden(value, json_keys=key == "keys_schema")
    return schema


class WireModel(BaseModel):
    """Base of every model the API reads or writes: integers bounded, dates strict (see above)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        hardened: CoreSchema = _harden(handler(source))
        return hardened


class ApiModel(WireModel):
    """Base of request bodies and responses: unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


class QueryModel(WireModel):
    """Base of query-string models: unknown parameters are ignored (cache busters, tracking)."""

    model_config = ConfigDict(extra="ignore")


class PageQuery(QueryModel):
    """Offset pagination; list endpoints subclass this and add their filters."""

    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="page size")
    offset: int = Field(0, ge=0, description="items to skip")


class Page(ApiModel, Generic[ItemT]):
    """One page of a list: ``items`` plus the ``total`` matching the filters."""

    items: list[ItemT]
    total: int = Field(ge=0)
    limit: int
    offset: int


class IdPath(WireModel):
    """Path of routes like ``/api/v1/things/{id}``."""

    id: Id


class Deleted(ApiModel):
    """Answer of a delete that reports what it removed."""

    id: int
    deleted: bool = True
