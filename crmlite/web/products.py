"""Product catalogue API: every user lists and reads it; admins add, edit, delete and import."""

from __future__ import annotations

import datetime as dt

from aiohttp import BodyPartReader, web
from pydantic import Field

from crmlite.db.quote_models import Product
from crmlite.domain.errors import InvalidInput
from crmlite.domain.products import check_product
from crmlite.services.products import ProductFilter, ProductService
from crmlite.web.crm_schemas import Currency
from crmlite.web.errors import HttpProblem
from crmlite.web.keys import SESSIONS
from crmlite.web.quote_schemas import NumberOut, PercentIn, PriceIn, PriceOut
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, IdPath, Page, PageQuery, QueryModel
from crmlite.web.security import principal

routes = ApiRoutes("products", "The product catalogue quotes are built from")

MAX_IMPORT_BYTES = 20 * 1024 * 1024
ADMINS_ONLY = {403: "Only admins change the catalogue (or a browser session without CSRF)"}
NOT_FOUND = {404: "No such product"}


class ProductOut(ApiModel):
    id: int
    name: str
    sku: str
    unit: str
    unit_price: PriceOut
    currency: str
    tax_rate: NumberOut
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductIn(ApiModel):
    name: str = Field(min_length=1, max_length=200)
    sku: str = Field(min_length=1, max_length=64, pattern=r"^[\w.\-/]+$")
    unit: str = Field("pcs", max_length=32)
    unit_price: PriceIn
    currency: Currency = "RUB"
    tax_rate: PercentIn = "0"
    active: bool = True


class ProductPatch(ApiModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    sku: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[\w.\-/]+$")
    unit: str | None = Field(None, max_length=32)
    unit_price: PriceIn | None = None
    currency: Currency | None = None
    tax_rate: PercentIn | None = None
    active: bool | None = None


class ProductQuery(PageQuery):
    q: str | None = Field(None, max_length=200, description="name or SKU contains")
    active: bool | None = Field(None, description="only active (true) or inactive (false)")


class ImportQuery(QueryModel):
    dry_run: bool = Field(False, description="check every row, change nothing")
    currency: Currency = Field("RUB", description="the currency of rows that name none")


class RowError(ApiModel):
    row: int
    message: str
    fields: dict[str, str]


class ProductImportOut(ApiModel):
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: int
    encoding: str
    delimiter: str
    dry_run: bool
    row_errors: list[RowError]


def product_out(product: Product) -> ProductOut:
    return ProductOut.model_validate(product)


@routes.get("/api/v1/products", query=ProductQuery, response=Page[ProductOut])
async def list_products(request: web.Request, *, query: ProductQuery) -> Page[ProductOut]:
    """Products by name, filtered by text and active, paginated."""
    criteria = ProductFilter(
        text=query.q, active=query.active, limit=query.limit, offset=query.offset
    )
    async with request.app[SESSIONS]() as session:
        page = await ProductService(session, principal(request)).find(criteria)
    return Page[ProductOut](
        items=[product_out(p) for p in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@routes.post(
    "/api/v1/products", body=ProductIn, response=ProductOut, status=201, errors=ADMINS_ONLY
)
async def create_product(request: web.Request, *, body: ProductIn) -> ProductOut:
    """Add a product (admins); the SKU is unique."""
    fields = check_product(**body.model_dump())
    async with request.app[SESSIONS].begin() as session:
        product = await ProductService(session, principal(request)).create(fields)
        return product_out(product)


@routes.get(r"/api/v1/products/{id:\d+}", path_model=IdPath, response=ProductOut, errors=NOT_FOUND)
async def get_product(request: web.Request, *, path: IdPath) -> ProductOut:
    """One product."""
    async with request.app[SESSIONS]() as session:
        return product_out(await ProductService(session, principal(request)).get(path.id))


@routes.patch(
    r"/api/v1/products/{id:\d+}",
    path_model=IdPath,
    body=ProductPatch,
    response=ProductOut,
    errors={**NOT_FOUND, **ADMINS_ONLY},
)
async def update_product(request: web.Request, *, path: IdPath, body: ProductPatch) -> ProductOut:
    """Change a product's fields (admins); quotes already made keep their prices."""
    changes = body.model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        empty = [name for name, value in changes.items() if value is None]
        raise InvalidInput("fields cannot be cleared", fields=dict.fromkeys(empty, "not null"))
    async with request.app[SESSIONS].begin() as session:
        product = await ProductService(session, principal(request)).update(path.id, changes)
        return product_out(product)


@routes.delete(
    r"/api/v1/products/{id:\d+}",
    path_model=IdPath,
    status=204,
    errors={**NOT_FOUND, **ADMINS_ONLY},
)
async def delete_product(request: web.Request, *, path: IdPath) -> None:
    """Remove a product (admins); quote lines keep their copy of it."""
    async with request.app[SESSIONS].begin() as session:
        await ProductService(session, principal(request)).delete(path.id)


@routes.post(
    "/api/v1/products/import",
    query=ImportQuery,
    response=ProductImportOut,
    errors={
        **ADMINS_ONLY,
        400: "A multipart form that cannot be read (malformed-form)",
        413: "The file is larger than 20 MB (too-large)",
        422: "Not a readable table, or required columns missing (nothing changed)",
    },
)
async def import_products(request: web.Request, *, query: ImportQuery) -> ProductImportOut:
    """Add or update products by SKU from a CSV (raw body, or multipart 'file'); admins."""
    actor = principal(request)
    if not actor.is_admin:
        raise HttpProblem(403, "forbidden", "Forbidden", "only admins change the catalogue")
    data = await _file_bytes(request)
    async with request.app[SESSIONS].begin() as session:
        result = await ProductService(session, actor).import_csv(
            data, default_currency=query.currency, dry_run=query.dry_run
        )
    return ProductImportOut.model_validate(
        {
            **result.as_json(),
            "dry_run": query.dry_run,
            "row_errors": result.row_errors,
        }
    )


async def _file_bytes(request: web.Request) -> bytes:
    """The uploaded file: a multipart ``file`` part or the raw body, at most 20 MB."""
    chunks: list[bytes] = []
    size = 0

    def add(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            raise HttpProblem(413, "too-large", "Too large", "the file is larger than 20 MB")
        chunks.append(chunk)

    if request.content_type.startswith("multipart/"):
        try:
            reader = await request.multipart()
        except ValueError as err:
            raise HttpProblem(400, "malformed-form", "Malformed form", str(err)) from err
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "file":
                while chunk := await part.read_chunk(256 * 1024):
                    add(chunk)
                break
        else:
            raise InvalidInput("no file in the form", fields={"file": "send the file as 'file'"})
    else:
        while chunk := await request.content.read(256 * 1024):
            add(chunk)
    if not chunks:
        raise InvalidInput("the file is empty", fields={"file": "needs a header row"})
    return b"".join(chunks)
