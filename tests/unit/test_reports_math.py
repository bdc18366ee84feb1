"""Report math, table-driven, no event loop: the worked examples of docs/REPORTS.md."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crmlite.domain.errors import InvalidInput, PermissionDenied
from crmlite.domain.principal import Principal, Role
from crmlite.domain.reports import (
    CostPeriod,
    ReportScope,
    StageInfo,
    build_funnel,
    campaign_roi,
    cost_per_lead,
    furthest_rank,
    learned_probability,
    percentile,
    percentile_ranks,
    plan_campaign,
    prorated_cost,
    rate,
    require_head,
    sales_velocity,
    seller_scope,
    weighted_amount,
)

HOUR = 3600.0
LEAD = StageInfo(1, "Lead", 1, "open", 10)
DEMO = StageInfo(2, "Demo", 2, "open", 40)
PROPOSAL = StageInfo(3, "Proposal", 3, "open", 70)
WON = StageInfo(4, "Won", 4, "won", 100)
LOST = StageInfo(5, "Lost", 5, "lost", 0)
STAGES = [LOST, PROPOSAL, LEAD, WON, DEMO]  # any order: the funnel sorts by position


@pytest.mark.parametrize(
    ("count", "percent", "ranks"),
    [
        (1, 50, (1, 1, Decimal(0))),
        (2, 50, (1, 2, Decimal("0.5"))),
        (3, 50, (2, 2, Decimal(0))),
        (3, 90, (2, 3, Decimal("0.8"))),
        (4, 50, (2, 3, Decimal("0.5"))),
        (4, 90, (3, 4, Decimal("0.7"))),
        (5, 90, (4, 5, Decimal("0.6"))),
        (10, 90, (9, 10, Decimal("0.1"))),
        (11, 90, (10, 10, Decimal(0))),
        (5, 0, (1, 1, Decimal(0))),
        (5, 100, (5, 5, Decimal(0))),
    ],
)
def test_percentile_ranks(count: int, percent: int, ranks: tuple[int, int, Decimal]) -> None:
    assert percentile_ranks(count, percent) == ranks


@pytest.mark.parametrize(("count", "percent"), [(0, 50), (3, -1), (3, 101)])
def test_percentile_ranks_refuse_nonsense(count: int, percent: int) -> None:
    with pytest.raises(ValueError, match="count"):
        percentile_ranks(count, percent)


@pytest.mark.parametrize(
    ("values", "percent", "expected"),
    [
        ([], 50, None),
        ([7.0], 90, 7.0),
        # The January example's stays (docs/REPORTS.md), in hours.
        ([2, 4, 6, 8, 10], 50, 6.0),
        ([10, 2, 8, 4, 6], 90, 9.2),
        ([24, 24, 48], 50, 24.0),
        ([24, 48, 24], 90, 43.2),
        ([48, 120], 50, 84.0),
        ([120, 48], 90, 112.8),
        # Speed to lead, seconds.
        ([20, 310, 600, 1800], 50, 455.0),
        ([1800, 600, 310, 20], 90, 1440.0),
    ],
)
def test_percentile_interpolates_like_percentile_cont(
    values: list[float], percent: int, expected: float | None
) -> None:
    result = percentile(values, percent)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(2, 6, 0.3333), (4, 6, 0.6667), (2, 4, 0.5), (0, 3, 0.0), (1, 0, None), (5, 11, 0.4545)],
)
def test_rate(part: int, whole: int, expected: float | None) -> None:
    assert rate(part, whole) == expected


def test_furthest_rank_puts_won_past_every_stage() -> None:
    assert [furthest_rank(s.kind, s.position, 5) for s in (LEAD, DEMO, WON)] == [1, 2, 6]


def test_funnel_of_the_january_example() -> None:
    # Six deals: two won (ranks 6), two stopped at Demo (2), two at Lead (1); Demo was skipped
    # by one won deal, so Demo has 3 entries but 4 deals reached it.
    steps = build_funnel(STAGES, {1: 6, 2: 3, 3: 2}, {6: 2, 2: 2, 1: 2}, won=2)
    assert [(s.stage.name, s.entered, s.reached, s.to_next, s.to_won) for s in steps] == [
        ("Lead", 6, 6, 0.6667, 0.3333),
        ("Demo", 3, 4, 0.5, 0.5),
        ("Proposal", 2, 2, 1.0, 1.0),
    ]


def test_empty_funnel_has_no_rates() -> None:
    steps = build_funnel(STAGES, {}, {}, won=0)
    assert [(s.reached, s.to_next, s.to_won) for s in steps] == [(0, None, None)] * 3


@pytest.mark.parametrize(
    ("open_deals", "won", "closed", "average", "cycle_s", "expected"),
    [
        (2, 2, 5, Decimal("1000.00"), 100 * HOUR, Decimal("192.00")),  # the team
        (1, 1, 2, Decimal("1000.00"), 74 * HOUR, Decimal("162.16")),  # Anna
        (0, 1, 2, Decimal("500.00"), 126 * HOUR, Decimal("0.00")),
        (3, 0, 0, Decimal("500.00"), 10.0, None),  # nothing closed: no win rate
        (3, 1, 1, None, 10.0, None),  # nothing won: no deal size
        (3, 1, 1, Decimal("1.00"), None, None),
    ],
)
def test_sales_velocity(
    open_deals: int,
    won: int,
    closed: int,
    average: Decimal | None,
    cycle_s: float | None,
    expected: Decimal | None,
) -> None:
    assert sales_velocity(open_deals, won, closed, average, cycle_s) == expected


@pytest.mark.parametrize(
    ("amount", "probability", "expected"),
    [
        (Decimal("4000.00"), Decimal("0.1"), Decimal("400.00")),
        (Decimal("3000.00"), Decimal("0.4"), Decimal("1200.00")),
        (Decimal("4000.00"), learned_probability(2, 5), Decimal("1600.00")),
        (Decimal("3000.00"), learned_probability(1, 3), Decimal("1000.00")),
        (Decimal("3000.00"), learned_probability(0, 0), Decimal("0.00")),
        (Decimal("0.05"), Decimal("0.5"), Decimal("0.03")),  # half up
    ],
)
def test_weighted_amount(amount: Decimal, probability: Decimal | None, expected: Decimal) -> None:
    assert weighted_amount(amount, probability) == expected


def test_prorated_cost_counts_days_in_the_window() -> None:
    periods = [
        CostPeriod(dt.date(2025, 12, 15), dt.date(2026, 1, 15), Decimal("32000"), "RUB"),
        CostPeriod(dt.date(2026, 1, 16), dt.date(2026, 2, 14), Decimal("30000"), "RUB"),
        CostPeriod(dt.date(2026, 1, 1), dt.date(2026, 1, 31), Decimal("500"), "USD"),
        CostPeriod(dt.date(2026, 3, 1), dt.date(2026, 3, 31), Decimal("999"), "USD"),
    ]
    january = prorated_cost(periods, dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert january == {"RUB": Decimal("31000.00"), "USD": Decimal("500.00")}
    one_day = prorated_cost(periods, dt.date(2026, 1, 10), dt.date(2026, 1, 10))
    assert one_day == {"RUB": Decimal("1000.00"), "USD": Decimal("16.13")}


@pytest.mark.parametrize(
    ("revenue", "cost", "expected"),
    [
        ("1000.00", "31000.00", Decimal("-0.9677")),
        ("0.00", "500.00", Decimal("-1.0000")),
        ("16666.67", "10000.00", Decimal("0.6667")),
        ("100", "0", None),
    ],
)
def test_campaign_roi(revenue: str, cost: str, expected: Decimal | None) -> None:
    assert campaign_roi(Decimal(revenue), Decimal(cost)) == expected


def test_cost_per_lead() -> None:
    assert cost_per_lead(Decimal("31000.00"), 3) == Decimal("10333.33")
    assert cost_per_lead(Decimal("500.00"), 0) is None


def test_plan_a_campaign_at_todays_conversions() -> None:
    funnel = build_funnel(STAGES, {1: 6, 2: 3, 3: 2}, {6: 2, 2: 2, 1: 2}, won=2)
    won_amount = {"USD": Decimal("500.00"), "RUB": Decimal("1000.00")}
    plan = plan_campaign(100, LEAD.id, funnel, 2, won_amount, Decimal("10000"), "RUB")
    assert [(s.stage.name, s.expected) for s in plan.steps] == [
        ("Lead", Decimal("100.0")),
        ("Demo", Decimal("66.7")),
        ("Proposal", Decimal("33.3")),
    ]
    assert plan.won == Decimal("33.3")
    assert plan.revenue == {"RUB": Decimal("16666.67"), "USD": Decimal("8333.33")}
    assert plan.roi == Decimal("0.6667")
    from_demo = plan_campaign(100, DEMO.id, funnel, 2, won_amount)
    assert [s.expected for s in from_demo.steps] == [Decimal("100.0"), Decimal("50.0")]
    assert (from_demo.won, from_demo.roi) == (Decimal("50.0"), None)
    with pytest.raises(InvalidInput):
        plan_campaign(100, WON.id, funnel, 2, won_amount)
    with pytest.raises(InvalidInput):
        plan_campaign(-1, LEAD.id, funnel, 2, won_amount)


HEAD = Principal(user_id=1, login="head", role=Role.HEAD)
ADMIN = Principal(user_id=2, login="admin", role=Role.ADMIN)
ANNA = Principal(user_id=3, login="anna", role=Role.SELLER)


@pytest.mark.parametrize(
    ("who", "asked", "sees"),
    [(HEAD, None, None), (HEAD, 3, 3), (ADMIN, 4, 4), (ANNA, None, 3), (ANNA, 3, 3)],
)
def test_seller_scope(who: Principal, asked: int | None, sees: int | None) -> None:
    assert seller_scope(who, asked) == sees


def test_a_seller_asking_for_someone_else_is_refused() -> None:
    with pytest.raises(PermissionDenied):
        seller_scope(ANNA, 4)
    with pytest.raises(PermissionDenied):
        require_head(ANNA)
    require_head(HEAD)


def test_report_scope_needs_an_aware_non_empty_window() -> None:
    jan = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(InvalidInput):
        ReportScope(1, jan, jan)
    with pytest.raises(InvalidInput):
        ReportScope(1, jan.replace(tzinfo=None), jan + dt.timedelta(days=1))
