"""SQL building blocks the reports share: durations and percentiles computed inside the database.

Both work on SQLite and PostgreSQL with one query shape: durations are whole seconds, and a
percentile is the linear interpolation between two ranks found with ROW_NUMBER / COUNT windows
(integer rank math from crmlite.domain.reports.percentile_ranks), which is what PostgreSQL's
``percentile_cont`` returns, without needing it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Float, and_, case, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class seconds_between(FunctionElement[int]):
    """Whole seconds from ``earlier`` to ``later`` (two UTC datetime columns)."""

    type = BigInteger()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    # julianday() parses the ISO text SQLite stores; round away its float noise.
    return f"CAST(ROUND((julianday({later}) - julianday({earlier})) * 86400.0) AS INTEGER)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(ROUND(EXTRACT(EPOCH FROM ({later} - {earlier}))) AS BIGINT)"


def percentile_of(
    value: ColumnElement[Any],
    rank: ColumnElement[Any],
    count: ColumnElement[Any],
    percent: int,
    *,
    include: ColumnElement[bool] | None = None,
) -> ColumnElement[float]:
    """Aggregate: the ``percent`` percentile of ``value`` in a group of ranked rows.

    ``rank`` is ROW_NUMBER() and ``count`` COUNT(*) over the group ordered by ``value``; only the
    one or two rows at the interpolation ranks get a weight, so a SUM picks the result out.
    """
    scaled = (count - 1) * percent
    lower = scaled // 100 + 1
    remainder = scaled % 100
    upper_weight = remainder / 100.0
    weight = case((rank == lower, 1.0 - upper_weight), else_=0.0) + case(
        (and_(rank == lower + 1, remainder > 0), upper_weight), else_=0.0
    )
    if include is not None:
        weight = case((include, weight), else_=0.0)
    return func.sum(value * weight, type_=Float())
