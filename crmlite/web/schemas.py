"""Base classes and shared shapes of API schemas: bodies, queries, pages, path ids."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

ItemT = TypeVar("ItemT")


class ApiModel(BaseModel):
    """Base of request bodies and responses: unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


class QueryModel(BaseModel):
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


class IdPath(BaseModel):
    """Path of routes like ``/api/v1/things/{id}``."""

    id: int = Field(ge=1)


class Deleted(ApiModel):
    """Answer of a delete that reports what it removed."""

    id: int
    deleted: bool = True
