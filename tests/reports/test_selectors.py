"""Report numbers against the ten hand-worked leads in conftest.py (read its table first)."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from leads.models import Lead
from leads.reports import selectors
from leads.reports.selectors import ReportFilters
from scoring.models import ModelVersion
from tests.factories import ActivityFactory, LeadFactory
from tests.reports.conftest import NOW, contract_metrics

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
    ModelVersion.objects.create(status="active", metrics=contract_metrics())
    numbers = selectors.dashboard_numbers(now=NOW)
    assert numbers["open_leads"] == 5  # 5, 6, 8, 9 and the new hot lead
    assert (numbers["created_90d"], numbers["converted_90d"]) == (11, 4)
    assert numbers["conversion_rate_90d"] == pytest.approx(4 / 11)
    assert numbers["overdue_follow_ups"] == 1
    assert numbers["hot_untouched"] == 1
    assert numbers["model_auc"] == 0.83


def test_dashboard_without_model_or_leads(db):
    numbers = selectors.dashboard_numbers(now=NOW)
    assert numbers["open_leads"] == 0 and numbers["conversion_rate_90d"] is None and numbers["model"] is None


# --- Model quality -----------------------------------------------------------------------


def _scored_version(report_data, **fields) -> ModelVersion:
    version = ModelVersion.objects.create(
        status="active", metrics=contract_metrics(), activated_at=NOW - timedelta(days=15), **fields
    )
    Lead.objects.filter(score__isnull=False).update(model_version=version)
    return version


def test_model_quality_reads_the_metrics_contract(report_data):
    quality = selectors.model_quality(_scored_version(report_data))
    metrics = {m["key"]: m["value"] for m in quality.metrics_table}
    assert metrics["roc_auc"] == 0.83 and metrics["ece"] == 0.03 and metrics["base_rate"] == 0.4
    assert quality.confusion == {"tn": 50, "fp": 10, "fn": 15, "tp": 25}
    assert quality.threshold == 0.5
    assert [d["decile"] for d in quality.deciles] == list(range(1, 11))
    assert quality.roc == [(0.0, 0.0), (0.2, 0.7), (1.0, 1.0)]
    assert quality.pr[1] == (0.6, 0.7)  # (recall, precision)
    assert len(quality.calibration) == 2


def test_observed_conversion_per_tier_since_live_and_overall(report_data):
    version = _scored_version(report_data)
    live = {r["tier"]: r for r in selectors.observed_by_tier(version, since_live=True)}
    # Created after NOW-15d and scored: 3, 4 (hot), 5, 6, 9.
    assert (live["hot"]["leads"], live["hot"]["closed"], live["hot"]["win_rate"]) == (1, 1, 1.0)
    assert (live["warm"]["leads"], live["warm"]["closed"], live["warm"]["converted"]) == (3, 1, 1)
    assert live["cold"]["win_rate"] is None  # lead 6 is still open
    overall = {r["tier"]: r for r in selectors.observed_by_tier(version, since_live=False)}
    assert (overall["hot"]["leads"], overall["hot"]["win_rate"]) == (4, 0.75)
    assert overall["hot"]["mean_probability"] == pytest.approx((0.95 + 0.85 + 0.91 + 0.99) / 4)
    assert "unscored" not in overall


def test_model_quality_tolerates_missing_metrics(db):
    version = ModelVersion.objects.create(status="candidate", metrics={})
    quality = selectors.model_quality(version)
    assert quality.metrics_table == [] and quality.confusion is None and quality.roc == []
    assert quality.observed_live == []  # never went live


# --- Drift -------------------------------------------------------------------------------


def _eps_psi(expected, actual):
    eps = 1e-4
    return sum(
        (max(a, eps) - max(e, eps)) * math.log(max(a, eps) / max(e, eps)) for e, a in zip(expected, actual, strict=True)
    )


def test_psi_of_identical_distributions_is_zero():
    assert selectors.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    # Textbook case: (0.6 - 0.5) ln(0.6 / 0.5) + (0.4 - 0.5) ln(0.4 / 0.5)
    assert selectors.psi([0.5, 0.5], [0.6, 0.4]) == pytest.approx(0.1 * math.log(1.2) - 0.1 * math.log(0.8))


@pytest.fixture
def drift_leads(db):
    def lead(status="new", probability=None, **attributes):
        return LeadFactory(status=status, source="Google", attributes=attributes, probability=probability)

    lead(total_visits=0, occupation="Student", do_not_email=True, probability=0.1)
    lead(total_visits=0, occupation="Student", do_not_email=False)
    lead(total_visits=2, occupation="Student", do_not_email=False, probability=0.7)
    lead(total_visits=10, occupation="Business Owner", do_not_email=False)
    lead(occupation=None)  # no visits recorded, occupation null, flag missing
    lead(status="lost", total_visits=3, occupation="Unemployed")  # closed: not part of "now"


REFERENCE = {
    "total_visits": {"kind": "numeric", "edges": [0, 1, 3, 6, 100], "fractions": [0.25, 0.25, 0.25, 0.25]},
    "occupation": {"kind": "categorical", "fractions": {"Student": 0.5, "Unemployed": 0.5}},
    "do_not_email": {"kind": "categorical", "fractions": {"True": 0.5, "False": 0.5}},
    "source": {"kind": "categorical", "fractions": {"Google": 1.0}},
    "n_activities": {"kind": "numeric", "edges": [0, 5, 10], "fractions": [0.5, 0.5]},
    "__score__": {"kind": "numeric", "edges": [0.0, 0.5, 1.0], "fractions": [0.5, 0.5]},
}


def test_drift_psi_per_feature_from_sql_bins(drift_leads):
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=REFERENCE))
    report = selectors.drift_for(version)
    assert report.n_open == 5
    by_name = {d.feature: d for d in report.features}

    visits = by_name["total_visits"]
    # Open leads' visits 0, 0, 2, 10 (one missing): bins <1, 1-<3, 3-<6, >=6 hold 2, 1, 0, 1.
    assert [b["count"] for b in visits.bins] == [2, 1, 0, 1]
    assert visits.psi == pytest.approx(_eps_psi([0.25] * 4, [0.5, 0.25, 0.0, 0.25]))
    assert visits.flagged

    occupation = by_name["occupation"]
    # Student 3, Business Owner (never seen in training) 1, missing 1.
    assert [(b["label"], b["count"]) for b in occupation.bins] == [
        ("Student", 3), ("Unemployed", 0), ("(other)", 1), ("(missing)", 1)
    ]  # fmt: skip
    assert occupation.psi == pytest.approx(_eps_psi([0.5, 0.5, 0, 0], [0.6, 0, 0.2, 0.2]))

    flag = by_name["do_not_email"]  # JSON true/false match the reference's "True"/"False"
    assert [(b["label"], b["count"]) for b in flag.bins] == [("false", 3), ("true", 1), ("(missing)", 1)]

    assert by_name["source"].psi == pytest.approx(0.0)
    assert by_name["n_activities"].psi is None and "not stored" in by_name["n_activities"].note

    # Score: probabilities 0.1 and 0.7, three unscored leads are left out.
    assert [b["count"] for b in report.score.bins] == [1, 1]
    assert report.score.psi == pytest.approx(0.0)


def test_drift_notice_names_drifted_features_or_is_none(drift_leads):
    drifted = ModelVersion.objects.create(metrics=contract_metrics(reference=REFERENCE))
    notice = selectors.drift_notice(drifted)
    assert notice.startswith("Consider retraining")
    assert "total_visits" in notice and "occupation" in notice and "source" not in notice

    stable = ModelVersion.objects.create(
        metrics=contract_metrics(reference={"source": {"kind": "categorical", "fractions": {"Google": 1.0}}})
    )
    assert selectors.drift_notice(stable) is None
    assert selectors.drift_notice(ModelVersion.objects.create(metrics={})) is None
    assert selectors.drift_notice(None) is None


def test_drift_is_cached_until_refreshed(drift_leads, django_assert_num_queries):
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=REFERENCE))
    first = selectors.drift_for(version)
    with django_assert_num_queries(0):
        assert selectors.drift_for(version).n_open == first.n_open == 5
    LeadFactory(status="new")
    assert selectors.drift_for(version).n_open == 5
    assert selectors.drift_for(version, refresh=True).n_open == 6


def test_drift_with_score_edges_above_one_uses_the_0_to_100_score(db):
    LeadFactory(status="new", score=80, probability=0.8)
    LeadFactory(status="new", score=20, probability=0.2)
    version = ModelVersion.objects.create(
        metrics=contract_metrics(reference={"__score__": {"kind": "numeric", "edges": [0, 50, 100],
                                                           "fractions": [0.5, 0.5]}})
    )  # fmt: skip
    report = selectors.drift_for(version)
    assert [b["count"] for b in report.score.bins] == [1, 1]


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


def test_drift_reads_the_scoring_engines_column_names(db):
    """Reference keys as scoring.training writes them: model fields under their labels,
    activity-derived features, yes/no levels, "(other)" and "(missing)" levels."""
    now = timezone.now()
    contacted = LeadFactory(status="contacted", source="Google", created_at=now - timedelta(hours=10),
                            first_contacted_at=now - timedelta(hours=8), last_activity_at=now - timedelta(days=3),
                            attributes={"newsletter": True, "city": "Pune"})  # fmt: skip
    LeadFactory(status="new", source="Fax", created_at=now - timedelta(hours=1), attributes={"city": None})
    # One call in the last 7 days (the older call and the email do not count toward it).
    ActivityFactory(lead=contacted, kind="call", occurred_at=now - timedelta(days=3))
    ActivityFactory(lead=contacted, kind="call", occurred_at=now - timedelta(days=9))
    ActivityFactory(lead=contacted, kind="email", occurred_at=now - timedelta(days=1))
    reference = {
        "Source": {"kind": "categorical", "fractions": {"Google": 0.5, "(other)": 0.5}},
        "Lead Origin": {"kind": "categorical", "fractions": {"Landing Page": 1.0}},  # the X Education label
        "Contacted": {"kind": "numeric", "edges": [0.0, 0.5, 1.0], "fractions": [0.5, 0.5]},
        "Hours to first contact": {"kind": "numeric", "edges": [0.0, 1.0, 24.0], "fractions": [0.5, 0.5]},
        "Days since last activity": {"kind": "numeric", "edges": [0.0, 7.0, 30.0], "fractions": [1.0, 0.0]},
        "Call in last 7 days": {"kind": "numeric", "edges": [0.0, 1.0, 3.0], "fractions": [0.5, 0.5]},
        "newsletter": {"kind": "categorical", "fractions": {"yes": 0.5, "no": 0.5}},
        "city": {"kind": "categorical", "fractions": {"Pune": 0.5, "(missing)": 0.5}},
        "Do Not Call": {"kind": "numeric", "edges": [0.0, 1.0], "fractions": [1.0]},
    }
    report = selectors.drift_for(ModelVersion.objects.create(metrics=contract_metrics(reference=reference)))
    found = {d.feature: d for d in report.features}
    assert [(b["label"], b["count"]) for b in found["Source"].bins] == [("(other)", 1), ("Google", 1)]
    assert found["Source"].psi == pytest.approx(0.0)
    assert found["Lead Origin"].psi == pytest.approx(0.0)
    assert [b["count"] for b in found["Contacted"].bins] == [1, 1]  # one 0.0, one 1.0
    assert [b["count"] for b in found["Hours to first contact"].bins] == [0, 1]  # 2 h; the other not contacted
    assert [b["count"] for b in found["Days since last activity"].bins] == [1, 0]  # 3 days
    calls = found["Call in last 7 days"]  # counted per lead in SQL, shown but age-dependent
    assert [(b["label"], b["count"]) for b in calls.bins] == [("< 1", 1), (">= 1", 1)]
    assert calls.psi == pytest.approx(0.0) and calls.age_dependent
    assert [(b["label"], b["count"]) for b in found["newsletter"].bins] == [("false", 0), ("true", 1), ("(missing)", 1)]
    assert [(b["label"], b["count"]) for b in found["city"].bins] == [("(missing)", 1), ("Pune", 1)]
    assert found["city"].psi == pytest.approx(0.0)
    assert found["Do Not Call"].psi is None and "one bin" in found["Do Not Call"].note
    assert contacted.pk


def test_drift_samples_every_kth_open_lead_above_the_sample_size(db, monkeypatch):
    monkeypatch.setattr(selectors, "DRIFT_SAMPLE_ROWS", 2)
    leads = [LeadFactory(status="new", source="Google") for _ in range(5)]
    reference = {"source": {"kind": "categorical", "fractions": {"Google": 1.0}}}
    report = selectors.drift_for(ModelVersion.objects.create(metrics=contract_metrics(reference=reference)))
    # Five open leads, at most two per sample: every third id.
    assert report.n_open == 5
    assert report.n_sampled == sum(1 for lead in leads if lead.pk % 3 == 0)
    assert report.features[0].n_current == report.n_sampled


def test_age_dependent_features_are_shown_but_do_not_ask_for_retraining(db):
    now = timezone.now()
    LeadFactory(status="contacted", created_at=now - timedelta(days=2), first_contacted_at=now - timedelta(days=1),
                last_activity_at=now - timedelta(days=1))  # fmt: skip
    # Training (closed leads, read at close) saw long gaps since the last activity; open leads are young.
    reference = {"Days since last activity": {"kind": "numeric", "edges": [0, 7, 400], "fractions": [0.1, 0.9]}}
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=reference))
    drift = selectors.drift_for(version).features[0]
    assert drift.flagged and drift.age_dependent
    assert selectors.drift_notice(version) is None


# --- Drift of yes/no features ------------------------------------------------------------


@pytest.fixture
def yes_no_leads(db):
    """Seven open leads whose `newsletter` flag is stored every way a yes/no attribute arrives.
    Read as the model reads it: yes 3 (true, "Yes", 1), no 2 (false, " no "), missing 2 (no
    key, "maybe"). The closed lead is not part of "now"."""
    for value in (True, "Yes", 1, False, " no "):
        LeadFactory(status="new", attributes={"newsletter": value})
    LeadFactory(status="contacted", attributes={})
    LeadFactory(status="qualified", attributes={"newsletter": "maybe"})
    LeadFactory(status="lost", attributes={"newsletter": True})


def test_psi_of_a_yes_no_feature_worked_by_hand(yes_no_leads):
    reference = {"newsletter": {"kind": "boolean", "fractions": {"true": 0.25, "false": 0.75}}}
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=reference))
    flag = selectors.drift_for(version).features[0]

    # Training saw no missing flag, so the two open leads without one are left out: now 3 of 5
    # say yes (0.6) against 0.25 in training, 2 of 5 no (0.4) against 0.75.
    # PSI = (0.6 - 0.25) ln(0.6 / 0.25) + (0.4 - 0.75) ln(0.4 / 0.75)
    #     = 0.35 ln 2.4 + 0.35 ln(15 / 8) = 0.35 ln 4.5 = 0.5264
    assert flag.kind == "boolean"
    assert [(b["label"], b["count"]) for b in flag.bins] == [("true", 3), ("false", 2)]
    assert flag.n_current == 5
    assert flag.psi == pytest.approx(0.35 * math.log(4.5)) == pytest.approx(0.5264, abs=1e-4)
    assert flag.flagged and not flag.age_dependent
    assert "newsletter (0.53)" in selectors.drift_notice(version)


def test_yes_no_feature_with_missing_in_training_bins_missing_on_its_own(yes_no_leads):
    reference = {"newsletter": {"kind": "boolean", "fractions": {"true": 0.4, "false": 0.3, "(missing)": 0.3}}}
    flag = selectors.drift_for(ModelVersion.objects.create(metrics=contract_metrics(reference=reference))).features[0]

    # Now 3/7 yes, 2/7 no, 2/7 missing.
    assert [(b["label"], b["count"]) for b in flag.bins] == [("true", 3), ("false", 2), ("(missing)", 2)]
    expected, actual = [0.4, 0.3, 0.3], [3 / 7, 2 / 7, 2 / 7]
    assert flag.psi == pytest.approx(sum((a - e) * math.log(a / e) for e, a in zip(expected, actual, strict=True)))
    assert not flag.flagged  # 0.0043: the same population


def test_yes_no_feature_of_a_model_trained_before_yes_no_references_is_skipped(yes_no_leads):
    # Before, training binned a 0/1 column by quantiles: usually one bin holding everything.
    reference = {
        "newsletter": {"kind": "numeric", "edges": [0.0, 1.0], "fractions": [1.0]},
        "source": {"kind": "categorical", "fractions": {"Google": 1.0}},
    }
    version = ModelVersion.objects.create(
        metrics=contract_metrics(reference=reference),
        features={"used": ["newsletter", "source", "opted_out"], "types": {"newsletter": "boolean",
                  "source": "category", "opted_out": "boolean"}},
    )  # fmt: skip
    report = selectors.drift_for(version)
    found = {d.feature: d for d in report.features}
    assert found["newsletter"].psi is None and "retraining adds them" in found["newsletter"].note
    assert "opted_out" not in found  # no reference at all: nothing to compare, not an error
    assert selectors.drift_notice(version) is None


def test_yes_no_words_are_the_scoring_engines():
    from scoring import features

    assert set(selectors._TRUE_WORDS) == features._TRUE
    assert set(selectors._FALSE_WORDS) == features._FALSE


def test_yes_no_flags_share_the_numbers_scan_and_activity_counts_take_one_more(yes_no_leads, django_assert_num_queries):
    reference = {
        "newsletter": {"kind": "boolean", "fractions": {"true": 0.5, "false": 0.5}},
        "visits": {"kind": "numeric", "edges": [0, 1, 5], "fractions": [0.5, 0.5]},
        "Call in last 7 days": {"kind": "numeric", "edges": [0, 1, 3], "fractions": [0.5, 0.5]},
        "Email in last 30 days": {"kind": "numeric", "edges": [0, 1, 3], "fractions": [0.5, 0.5]},
    }
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=reference))
    # The import profiles (the scoring engine's column labels), the open-lead count, ONE scan
    # for the numbers and flags, then ONE grouped query for every activity count.
    with django_assert_num_queries(4) as captured:
        report = selectors.drift_for(version)
    assert {d.feature for d in report.features} == set(reference)
    scan, grouped = (q["sql"] for q in captured.captured_queries[-2:])
    assert "leads_activity" not in scan and "newsletter" in scan and "visits" in scan
    assert grouped.count('JOIN "leads_activity"') == 1  # one pass over the activities for both counts


def test_drift_notice_from_the_cache_only_never_computes(drift_leads, django_assert_num_queries):
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=REFERENCE))
    with django_assert_num_queries(0):
        assert selectors.drift_notice(version, cached_only=True) is None  # nothing cached yet
    selectors.drift_for(version, refresh=True)  # what the beat task does for the active model
    with django_assert_num_queries(0):
        assert selectors.drift_notice(version, cached_only=True) == selectors.drift_notice(version)
