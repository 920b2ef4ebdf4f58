"""Report numbers against the ten hand-worked leads in conftest.py (read its table first)."""

from datetime import UTC, datetime, timedelta

import pytest

from leads.reports import selectors
from leads.reports.selectors import ReportFilters
from tests.factories import LeadFactory
from tests.reports.conftest import NOW

pytestmark = pytest.mark.django_db


def _by_key(rows):
    return {r["key"]: r for r in rows}


def _counts(row):
    return (row["leads"], row["converted"], row["lost"], row["open"])


# --- Conversion --------------------------------------------------------------------------


def test_conversion_by_source_counts_and_rates(report_data):
    rows = _by_key(selectors.conversion_by(selectors.conversion_cube(ReportFilters()), "source"))
    # Google: 1, 2, 3, 9 -> converted 1 and 3, lost 2, open 9.
    assert _counts(rows["Google"]) == (4, 2, 1, 1)
    assert rows["Google"]["conversion_rate"] == pytest.approx(2 / 4)
    assert rows["Google"]["win_rate"] == pytest.approx(2 / 3)
    # Referral: 4, 10 converted; 5 open.
    assert _counts(rows["Referral"]) == (3, 2, 0, 1)
    assert rows["Referral"]["win_rate"] == 1.0
    # Chat: 7 lost; 6 and 8 open.
    assert _counts(rows["Chat"]) == (3, 0, 1, 2)
    assert rows["Chat"]["conversion_rate"] == 0.0


def test_conversion_total_is_four_of_ten(report_data):
    total = selectors.conversion_total(selectors.conversion_cube(ReportFilters()))
    assert _counts(total) == (10, 4, 2, 4)
    assert total["conversion_rate"] == pytest.approx(0.4)
    assert total["win_rate"] == pytest.approx(4 / 6)


def test_conversion_by_origin_tier_band_and_owner(report_data):
    cube = selectors.conversion_cube(ReportFilters())
    origin = _by_key(selectors.conversion_by(cube, "origin"))
    assert _counts(origin["Landing Page"]) == (7, 3, 1, 3)  # 1, 4, 10 converted; 2 lost; 6, 8, 9 open
    assert _counts(origin["Web Form"]) == (3, 1, 1, 1)  # 3 converted; 7 lost; 5 open

    tiers = selectors.conversion_by(cube, "tier")
    assert [r["key"] for r in tiers] == ["hot", "warm", "cold", "unscored"]
    tier = _by_key(tiers)
    assert _counts(tier["hot"]) == (4, 3, 1, 0)
    assert _counts(tier["warm"]) == (3, 1, 0, 2)
    assert _counts(tier["cold"]) == (2, 0, 1, 1)
    assert _counts(tier["unscored"]) == (1, 0, 0, 1)

    bands = selectors.conversion_by(cube, "band")
    assert bands[0]["key"] == 9 and bands[0]["label"] == "90-100"
    assert _counts(bands[0]) == (3, 3, 0, 0)  # 95, 91, 99: all converted
    band = _by_key(bands)
    assert _counts(band[8]) == (1, 0, 1, 0)  # 85 lost
    assert band[0]["label"] == "0-9" and band[0]["leads"] == 1  # score 8
    assert band[-1]["label"] == "Unscored" and band[-1]["leads"] == 1

    owners = selectors.conversion_by(cube, "owner_id")
    owner = {r["label"]: r for r in owners}
    assert _counts(owner["Alice"]) == (4, 1, 1, 2)
    assert _counts(owner["Bob"]) == (4, 3, 1, 0)
    assert _counts(owner["Unassigned"]) == (2, 0, 0, 2)


def test_conversion_filters_by_source_owner_pool_origin_and_dates(report_data):
    def total(**kwargs):
        return _counts(selectors.conversion_total(selectors.conversion_cube(ReportFilters(**kwargs))))

    assert total(source="Google") == (4, 2, 1, 1)
    assert total(owner=str(report_data.bob.pk)) == (4, 3, 1, 0)
    assert total(owner="pool") == (2, 0, 0, 2)
    assert total(origin="Web Form") == (3, 1, 1, 1)
    # Created 2026-06-08 or later: leads 5, 6, 8, 9 (3, 4, 1 and 5 days before NOW).
    assert total(date_from=(NOW - timedelta(days=7)).date()) == (4, 0, 0, 4)
    # Created up to and including 2026-05-26 (NOW-20d): leads 1, 2, 7, 10.
    assert total(date_to=(NOW - timedelta(days=20)).date()) == (4, 2, 2, 0)
    assert total(source="Google", owner=str(report_data.alice.pk)) == (3, 1, 1, 1)


def test_weekly_cohorts_convert_within_horizons_and_leave_young_ones_blank(report_data):
    cohorts = selectors.conversion_cohorts(ReportFilters(), now=NOW)
    weeks = {r["week"].date().isoformat(): r for r in cohorts}
    assert list(weeks) == ["2026-05-04", "2026-05-25", "2026-06-01", "2026-06-08"]
    # Week of 4 May: leads 7 (lost) and 10 (converted after 20 days).
    may4 = weeks["2026-05-04"]
    assert (may4["leads"], may4["rate_7d"], may4["rate_30d"], may4["rate_90d"]) == (2, 0.0, 0.5, None)
    assert may4["conversion_rate"] == 0.5
    # Week of 25 May: leads 1 (converted after 5 days) and 2; 30 days not yet lived through.
    may25 = weeks["2026-05-25"]
    assert (may25["leads"], may25["rate_7d"], may25["rate_30d"]) == (2, 0.5, None)
    # Week of 1 June: 4 converted after 2 days, 3 after 8: one of two within 7 days, both to date.
    june1 = weeks["2026-06-01"]
    assert (june1["rate_7d"], june1["conversion_rate"]) == (0.5, 1.0)
    # Week of 8 June: 5, 6, 8, 9, still too young for any horizon.
    june8 = weeks["2026-06-08"]
    assert (june8["leads"], june8["rate_7d"], june8["open"]) == (4, None, 4)


# --- Funnel ------------------------------------------------------------------------------


def test_funnel_reach_drop_off_and_losses(report_data):
    data = selectors.funnel(ReportFilters())
    stages = {s["stage"]: s for s in data["stages"]}
    # Furthest stage: new 6, 8; contacted 5, 7; qualified 9 and 2 (history); converted 1, 3, 4, 10.
    assert [stages[s]["reached"] for s in selectors.FUNNEL_STAGES] == [10, 8, 6, 4]
    assert stages["new"]["dropped"] == 2 and stages["new"]["drop_rate"] == pytest.approx(0.2)
    assert stages["contacted"]["drop_rate"] == pytest.approx(2 / 8)
    assert stages["qualified"]["drop_rate"] == pytest.approx(2 / 6)
    assert stages["converted"]["dropped"] is None
    assert [stages[s]["lost_here"] for s in selectors.FUNNEL_STAGES] == [0, 1, 1, 0]  # 7 contacted, 2 qualified
    assert [stages[s]["open_here"] for s in selectors.FUNNEL_STAGES[:3]] == [2, 1, 1]


def test_funnel_per_source(report_data):
    sources = {s["source"]: [st["reached"] for st in s["stages"]] for s in selectors.funnel(ReportFilters())["sources"]}
    assert sources == {"Google": [4, 4, 4, 2], "Referral": [3, 3, 2, 2], "Chat": [3, 1, 0, 0]}


def test_funnel_ignores_assignment_history(report_data):
    """Lead 8's "assigned" status-change activity is not a stage."""
    data = selectors.funnel(ReportFilters(source="Chat", owner="pool"))
    assert [s["reached"] for s in data["stages"]] == [2, 0, 0, 0]


# --- Rep discipline ----------------------------------------------------------------------


def test_rep_discipline_per_rep(report_data):
    data = selectors.rep_discipline(ReportFilters(), now=NOW)
    reps = {r["name"]: r for r in data["reps"]}
    alice, bob = reps["Alice"], reps["Bob"]
    assert (alice["owned"], alice["contacted"], alice["converted"]) == (4, 4, 1)
    assert alice["conversion_rate"] == pytest.approx(0.25)
    # Alice's first contacts: 0.5, 2, 10, 30 hours -> median (2 + 10) / 2.
    assert alice["median_hours_to_contact"] == pytest.approx(6.0)
    # Bob's: 1/3, 1, 3, 50 hours -> median 2.
    assert bob["median_hours_to_contact"] == pytest.approx(2.0)
    assert (alice["fu_on_time"], alice["fu_late"], alice["fu_overdue"], alice["fu_upcoming"]) == (1, 1, 1, 1)
    assert (bob["fu_on_time"], bob["fu_late"], bob["fu_overdue"]) == (1, 0, 0)
    assert alice["fu_on_time_rate"] == 0.5
    # Breaches: alice 2 (hot, 2 h) and 5 (warm, 30 h); bob 10 (hot, 50 h).
    assert (alice["sla_breaches"], bob["sla_breaches"]) == (2, 1)


def test_sla_per_tier_counts_late_and_never_contacted_leads(report_data):
    data = selectors.rep_discipline(ReportFilters(), now=NOW)
    sla = {row["tier"]: row for row in data["sla"]}
    assert (sla["Hot"]["leads"], sla["Hot"]["breached"], sla["Hot"]["sla_hours"]) == (4, 2, 1)
    assert (sla["Warm"]["leads"], sla["Warm"]["breached"]) == (3, 1)
    # Lead 6 (cold, unassigned) waited 96 h uncontacted against a 72 h SLA.
    assert (sla["Cold"]["leads"], sla["Cold"]["breached"]) == (2, 1)
    assert data["breaches_total"] == 4


def test_sla_hours_are_configurable(report_data):
    data = selectors.rep_discipline(ReportFilters(), now=NOW, sla={"hot": 3, "warm": 48, "cold": 100})
    sla = {row["tier"]: row["breached"] for row in data["sla"]}
    assert sla == {"Hot": 1, "Warm": 0, "Cold": 0}  # only lead 10 (50 h) misses 3 h


def test_sla_breaches_list_newest_first_with_links_data(report_data):
    rows = selectors.sla_breaches(ReportFilters(), now=NOW)
    assert [r["lead_id"] for r in rows] == [report_data.leads[n].pk for n in (5, 6, 2, 10)]
    waiting = rows[1]
    assert waiting["state"] == "not contacted yet" and waiting["hours_to_contact"] == pytest.approx(96)
    assert waiting["owner"] == "Unassigned" and waiting["sla_hours"] == 72
    assert rows[0]["hours_to_contact"] == pytest.approx(30)


def test_rep_discipline_median_is_none_without_contacts(db, rep):
    LeadFactory(owner=rep, created_at=NOW - timedelta(days=1))
    reps = selectors.rep_discipline(ReportFilters(), now=NOW)["reps"]
    assert reps[0]["median_hours_to_contact"] is None and reps[0]["contacted"] == 0


# --- Dashboard ---------------------------------------------------------------------------


def test_dashboard_headline_numbers(report_data):
    LeadFactory(status="converted", created_at=NOW - timedelta(days=100))  # outside 90 days
    LeadFactory(status="new", tier="hot", created_at=NOW - timedelta(hours=2))  # hot, nobody called yet
    numbers = selectors.dashboard_numbers(now=NOW)
    assert numbers["open_leads"] == 5  # 5, 6, 8, 9 and the new hot lead
    assert (numbers["created_90d"], numbers["converted_90d"]) == (11, 4)
    assert numbers["conversion_rate_90d"] == pytest.approx(4 / 11)
    assert numbers["overdue_follow_ups"] == 1
    assert numbers["hot_untouched"] == 1
    # The active model's AUC comes from scoring: tests/scoring/test_quality.py


def test_dashboard_without_model_or_leads(db):
    numbers = selectors.dashboard_numbers(now=NOW)
    assert numbers["open_leads"] == 0 and numbers["conversion_rate_90d"] is None


# --- Query counts ------------------------------------------------------------------------


def test_each_report_is_a_fixed_number_of_queries(report_data, django_assert_max_num_queries):
    for n in range(30):
        LeadFactory(source=f"Src{n % 7}", owner=report_data.alice if n % 2 else report_data.bob, score=n * 3)
    filters = ReportFilters()
    # The cube and the funnel run in their own transaction with a larger work_mem on PostgreSQL:
    # SAVEPOINT, SET LOCAL and RELEASE around the one aggregate query.
    with django_assert_max_num_queries(5):  # (savepoint, set) cube (release) + owner names
        cube = selectors.conversion_cube(filters)
        selectors.conversion_by(cube, "owner_id")
    with django_assert_max_num_queries(1):
        selectors.conversion_cohorts(filters, now=datetime.now(UTC))
    with django_assert_max_num_queries(4):
        selectors.funnel(filters)
    with django_assert_max_num_queries(4):  # leads, follow-ups, names (+ median on SQLite)
        selectors.rep_discipline(filters)
    with django_assert_max_num_queries(1):
        selectors.sla_breaches(filters)
    with django_assert_max_num_queries(3):
        selectors.dashboard_numbers()
