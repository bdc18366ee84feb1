"""The product catalogue: every user reads it to quote from; admins add, change and import it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.quote_models import Product
from crmlite.domain.clock import Clock
from crmlite.domain.errors import AlreadyTaken, InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal
from crmlite.domain.products import ProductFields, check_product, map_header, product_from_row
from crmlite.domain.tabular import read_table
from crmlite.services.common import Page, check_page, text_variants, utc_now

IMPORT_BATCH = 500
MAX_ROW_ERRORS = 1000


@dataclass(frozen=True, slots=True)
class ProductFilter:
    text: str | None = None
    active: bool | None = None
    limit: int = 50
    offset: int = 0


@dataclass(slots=True)
class ProductImportResult:
    rows_total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: int = 0
    encoding: str = ""
    delimiter: str = ""
    row_errors: list[dict[str, object]] = field(default_factory=list)

    @property
    def rows_done(self) -> int:
        return self.created + self.updated + self.unchanged + self.errors

    def as_json(self) -> dict[str, object]:
        return {
            "rows": self.rows_total,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": self.errors,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
        }


OnProgress = Callable[[ProductImportResult], Awaitable[None]]


def _check_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied("only admins change the product catalogue")


class ProductService:
    """Catalogue use cases for one principal inside one unit of work (the caller commits)."""

    def __init__(self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now):
        self.session = session
        self.principal = principal
        self.clock = clock

    async def find(self, criteria: ProductFilter) -> Page[Product]:
        check_page(criteria.limit, criteria.offset)
        query = select(Product)
        if criteria.active is not None:
            query = query.where(Product.active.is_(criteria.active))
        if criteria.text:
            patterns = text_variants(criteria.text.strip())
            query = query.where(
                or_(
                    *(Product.name.like(p, escape="\\") for p in patterns),
                    *(Product.sku.like(p, escape="\\") for p in patterns),
                )
            )
        total = await self.session.scalar(query.with_only_columns(func.count(Product.id)))
        rows = await self.session.scalars(
            query.order_by(Product.name, Product.id).limit(criteria.limit).offset(criteria.offset)
        )
        return Page(list(rows), total or 0, criteria.limit, criteria.offset)

    async def get(self, product_id: int) -> Product:
        product = await self.session.get(Product, product_id)
        if product is None:
            raise NotFound(f"no product {product_id}", details={"product_id": product_id})
        return product

    async def create(self, fields: ProductFields) -> Product:
        _check_admin(self.principal)
        await self._check_sku_free(fields.sku, None)
        now = self.clock()
        product = Product(created_at=now, updated_at=now)
        _assign(product, fields)
        self.session.add(product)
        await self.session.flush()
        return product

    async def update(self, product_id: int, changes: dict[str, object]) -> Product:
        """Change the given fields (checked together with the ones kept)."""
        _check_admin(self.principal)
        product = await self.get(product_id)
        merged = {
            "name": product.name,
            "sku": product.sku,
            "unit": product.unit,
            "unit_price": product.unit_price,
            "currency": product.currency,
            "tax_rate": product.tax_rate,
            "active": product.active,
            **changes,
        }
        fields = check_product(**merged)  # type: ignore[arg-type]
        if fields.sku != product.sku:
            await self._check_sku_free(fields.sku, product.id)
        if _assign(product, fields):
            product.updated_at = self.clock()
            await self.session.flush()
        return product

    async def delete(self, product_id: int) -> None:
        """Remove a product; quote lines keep their copy of its name, SKU and price."""
        _check_admin(self.principal)
        await self.session.delete(await self.get(product_id))
        await self.session.flush()

    async def import_csv(
        self,
        data: bytes,
        *,
        default_currency: str,
        dry_run: bool = False,
        delimiter: str | None = None,
        on_progress: OnProgress | None = None,
    ) -> ProductImportResult:
        """Add or update products by SKU from a CSV file; bad rows are reported, never half-kept.

        Rows are applied in batches; a row whose SKU repeats an earlier row of the same file is
        an error (which price is meant cannot be told).
        """
        _check_admin(self.principal)
        table = read_table(data, delimiter=delimiter)
        columns = map_header(table.header)
        result = ProductImportResult(
            rows_total=table.count_rows(), encoding=table.encoding, delimiter=table.delimiter
        )
        seen: set[str] = set()
        batch: list[tuple[int, ProductFields]] = []
        for row in table.rows():
            try:
                fields = product_from_row(row.cells, columns, default_currency=default_currency)
                _check_new_sku(fields.sku, seen)
            except InvalidInput as err:
                result.errors += 1
                if len(result.row_errors) < MAX_ROW_ERRORS:
                    result.row_errors.append(
                        {"row": row.number, "message": err.message, "fields": err.fields}
                    )
                continue
            seen.add(fields.sku.lower())
            batch.append((row.number, fields))
            if len(batch) >= IMPORT_BATCH:
                await self._apply(batch, result, dry_run=dry_run)
                batch = []
                if on_progress is not None:
                    await on_progress(result)
        await self._apply(batch, result, dry_run=dry_run)
        if on_progress is not None:
            await on_progress(result)
        return result

    async def _apply(
        self,
        batch: list[tuple[int, ProductFields]],
        result: ProductImportResult,
        *,
        dry_run: bool,
    ) -> None:
        if not batch:
            return
        skus = [fields.sku for _, fields in batch]
        existing = {
            product.sku: product
            for product in await self.session.scalars(select(Product).where(Product.sku.in_(skus)))
        }
        now = self.clock()
        for _, fields in batch:
            product = existing.get(fields.sku)
            if product is None:
                result.created += 1
                if not dry_run:
                    fresh = Product(created_at=now, updated_at=now)
                    _assign(fresh, fields)
                    self.session.add(fresh)
                continue
            if dry_run:
                changed = _differs(product, fields)
            else:
                changed = _assign(product, fields)
                if changed:
                    product.updated_at = now
            if changed:
                result.updated += 1
            else:
                result.unchanged += 1
        if not dry_run:
            await self.session.flush()

    async def _check_sku_free(self, sku: str, own_id: int | None) -> None:
        taken = await self.session.scalar(select(Product.id).where(Product.sku == sku))
        if taken is not None and taken != own_id:
            raise AlreadyTaken(
                f"SKU {sku} is already taken",
                fields=["sku"],
                details={"product_id": taken},
            )


def _check_new_sku(sku: str, seen: set[str]) -> None:
    if sku.lower() in seen:
        raise InvalidInput("repeated SKU", fields={"sku": "repeats an earlier row"})


def _differs(product: Product, fields: ProductFields) -> bool:
    return any(getattr(product, name) != value for name, value in _values(fields).items())


def _assign(product: Product, fields: ProductFields) -> bool:
    """Copy ``fields`` onto ``product``; True when anything changed."""
    changed = False
    for name, value in _values(fields).items():
        if getattr(product, name, None) != value:
            setattr(product, name, value)
            changed = True
    return changed


def _values(fields: ProductFields) -> dict[str, object]:
    return {
        "name": fields.name,
        "sku": fields.sku,
        "unit": fields.unit,
        "unit_price": Decimal(fields.unit_price),
        "currency": fields.currency,
        "tax_rate": Decimal(fields.tax_rate),
        "active": fields.active,
    }
