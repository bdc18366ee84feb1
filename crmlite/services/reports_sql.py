"""SQL building blocks the reports share: durations and percentiles computed inside the database.

Both work on SQLite and PostgreSQL with one query shape: durations are whole seconds, and a
percentile is the linear interpolation between two ranks found with ROW_NUMBER / COUNT windows
(integer rank math from crmlite.domain.reports.percentile_ranks), which is what PostgreSQL's
``percentile_cont`` returns, without needing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    func,
    null,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from crmlite.db.models import Deal, DealStageChange, Pipeline, Stage
from crmlite.domain.errors import InvalidInput, NotFound
from crmlite.domain.reports import (
    ReportScope,
    StageInfo,
    furthest_rank,
    interpolate,
    percentile_ranks,
)


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


class unindexed(FunctionElement[Any]):
    """``expr`` that the SQLite planner will not look up by index (``+expr``); plain elsewhere.

    A percentile walks the stays in length order; SQLite would rather range-scan the time column
    and sort every row of the window, which is far slower on a large window.
    """

    name = "unindexed"
    inherit_cache = True

    def __init__(self, expression: ColumnElement[Any] | QueryableAttribute[Any]) -> None:
        super().__init__(expression)
        self.type = expression.type


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(next(iter(element.clauses)), **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(next(iter(element.clauses)), **kw)


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


async def pipeline_stages(session: AsyncSession, pipeline_id: int | None) -> list[StageInfo]:
    """The live stages of the report's pipeline in order; NotFound for an unknown pipeline."""
    if pipeline_id is None:
        raise InvalidInput("pick a pipeline", fields={"pipeline_id": "required"})
    if await session.get(Pipeline, pipeline_id) is None:
        raise NotFound("no such pipeline", details={"pipeline_id": pipeline_id})
    rows = await session.execute(
        select(
            Stage.id, Stage.name, Stage.position, Stage.kind, Stage.probability, Stage.is_unsorted
        )
        # Archived (removed) stages keep their history but leave the reports.
        .where(Stage.pipeline_id == pipeline_id, Stage.archived_at.is_(None))
        .order_by(Stage.position, Stage.id)
    )
    return [StageInfo(*row) for row in rows]


def deal_filter(scope: ReportScope) -> list[ColumnElement[bool]]:
    """The deals of the scope's pipeline (and seller)."""
    conditions = [Deal.pipeline_id == scope.pipeline_id]
    if scope.seller_id is not None:
        conditions.append(Deal.owner_id == scope.seller_id)
    return conditions


def entered_column(stage: StageInfo) -> str:
    return f"entered_{stage.id}"


def deal_stage_flags(stages: Sequence[StageInfo], conditions: Sequence[ColumnElement[bool]]) -> Any:
    """One row per deal matching ``conditions``, in one pass over its first stage entries.

    Columns: ``final`` (kind of its current stage; ``other`` outside the pipeline), ``furthest``
    (:func:`crmlite.domain.reports.furthest_rank` of the furthest non-lost stage it was in, its
    current stage included) and, per open stage, ``entered_<id>`` (1 if it was ever there).
    Only the rows flagged ``first_visit`` by the trigger are read: one per deal and stage.
    """
    top = max((s.position for s in stages), default=0)
    ranks = {s.id: furthest_rank(s.kind, s.position, top) for s in stages if s.kind != "lost"}
    kinds = {s.id: s.kind for s in stages}
    tracked = [s for s in stages if s.kind == "open"]
    change = DealStageChange
    per_deal = (
        select(
            Deal.id.label("deal_id"),
            # One value per deal (grouped by its primary key): no CASE per change row.
            func.max(Deal.stage_id).label("stage_id"),
            func.max(case(ranks, value=change.to_stage_id) if ranks else null()).label("rank"),
            *(
                func.max(case((change.to_stage_id == s.id, 1), else_=0)).label(entered_column(s))
                for s in tracked
            ),
        )
        .select_from(Deal)
        .outerjoin(change, and_(change.deal_id == Deal.id, change.first_visit.is_(True)))
        .where(*conditions)
        .group_by(Deal.id)
        .subquery()
    )
    current_rank = case(ranks, value=per_deal.c.stage_id) if ranks else null()
    furthest = case(
        (per_deal.c.rank.is_(None), current_rank),
        (current_rank.is_(None), per_deal.c.rank),
        (per_deal.c.rank > current_rank, per_deal.c.rank),
        else_=current_rank,
    )
    return select(
        per_deal.c.deal_id,
        case(kinds, value=per_deal.c.stage_id, else_="other").label("final"),
        furthest.label("furthest"),
        *(
            case(
                (or_(per_deal.c[entered_column(s)] == 1, per_deal.c.stage_id == s.id), 1),
                else_=0,
            ).label(entered_column(s))
            for s in tracked
        ),
    ).subquery("flags")


async def ranked_percentile(
    session: AsyncSession,
    value: ColumnElement[Any] | QueryableAttribute[Any],
    conditions: Sequence[ColumnElement[bool]],
    count: int,
    percent: int,
) -> float | None:
    """The ``percent`` percentile of ``value`` over the ``count`` rows matching ``conditions``.

    The database sorts (or walks an index) and hands back only the one or two rows at the
    interpolation ranks; the interpolation between them is crmlite.domain.reports.interpolate.
    """
    if count == 0:
        return None
    lower, upper, weight = percentile_ranks(count, percent)
    values = (
        await session.scalars(
            select(value)
            .where(*conditions)
            .order_by(value)
            .offset(lower - 1)
            .limit(upper - lower + 1)
        )
    ).all()
    return round(interpolate(float(values[0]), float(values[-1]), weight), 1)


def materialized(query: Select[*tuple[Any, ...]], name: str) -> CTE:
    """``query`` as a CTE computed once (``AS MATERIALIZED``, SQLite 3.35+, PostgreSQL 12+).

    Without it the planners may inline the CTE and run its correlated subqueries once per use.
    """
    return query.cte(name).prefix_with("MATERIALIZED")


async def window_conditions(
    session: AsyncSession,
    column: QueryableAttribute[Any],
    scope: ReportScope,
    base: Sequence[ColumnElement[bool]],
) -> list[ColumnElement[bool]]:
    """``base`` and ``since <= column < until``, phrased for the planner.

    When the window holds most of the ``base`` rows (all time, a long range), walking the table
    in key order beats an index range plus a sort of every row by key, so on SQLite the column is
    hidden from the index; two index-only counts decide.
    """
    window = [column >= scope.since, column < scope.until]
    inside = await session.scalar(select(func.count()).where(*base, *window)) or 0
    total = await session.scalar(select(func.count()).where(*base)) or 0
    if inside * 2 <= total:
        return [*base, *window]
    hidden = unindexed(column)
    return [*base, hidden >= scope.since, hidden < scope.until]
