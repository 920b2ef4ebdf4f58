"""Drift (scoring/drift.py): PSI per feature between the training reference stored with a
model version and the open leads, measured in SQL."""

import math
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scoring import drift
from scoring.models import ModelVersion
from tests.factories import ActivityFactory, LeadFactory, RepFactory
from tests.reports.conftest import contract_metrics

pytestmark = pytest.mark.django_db


# --- Drift -------------------------------------------------------------------------------


def _eps_psi(expected, actual):
    eps = 1e-4
    return sum(
        (max(a, eps) - max(e, eps)) * math.log(max(a, eps) / max(e, eps)) for e, a in zip(expected, actual, strict=True)
    )


def test_psi_of_identical_distributions_is_zero():
    assert drift.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    # Textbook case: (0.6 - 0.5) ln(0.6 / 0.5) + (0.4 - 0.5) ln(0.4 / 0.5)
    assert drift.psi([0.5, 0.5], [0.6, 0.4]) == pytest.approx(0.1 * math.log(1.2) - 0.1 * math.log(0.8))


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
    report = drift.drift_for(version)
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
    notice = drift.drift_notice(drifted)
    assert notice.startswith("Consider retraining")
    assert "total_visits" in notice and "occupation" in notice and "source" not in notice

    stable = ModelVersion.objects.create(
        metrics=contract_metrics(reference={"source": {"kind": "categorical", "fractions": {"Google": 1.0}}})
    )
    assert drift.drift_notice(stable) is None
    assert drift.drift_notice(ModelVersion.objects.create(metrics={})) is None
    assert drift.drift_notice(None) is None


def test_drift_is_cached_until_refreshed(drift_leads, django_assert_num_queries):
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=REFERENCE))
    first = drift.drift_for(version)
    with django_assert_num_queries(0):
        assert drift.drift_for(version).n_open == first.n_open == 5
    LeadFactory(status="new")
    assert drift.drift_for(version).n_open == 5
    assert drift.drift_for(version, refresh=True).n_open == 6


def test_drift_with_score_edges_above_one_uses_the_0_to_100_score(db):
    LeadFactory(status="new", score=80, probability=0.8)
    LeadFactory(status="new", score=20, probability=0.2)
    version = ModelVersion.objects.create(
        metrics=contract_metrics(reference={"__score__": {"kind": "numeric", "edges": [0, 50, 100],
                                                           "fractions": [0.5, 0.5]}})
    )  # fmt: skip
    report = drift.drift_for(version)
    assert [b["count"] for b in report.score.bins] == [1, 1]


@pytest.mark.parametrize("edges", [[0, 0.5, 1], [0, 50, 100]])
def test_the_score_is_read_for_each_sampled_lead_by_its_key_not_by_joining_the_rank_table(db, edges):
    """A join let PostgreSQL hash every rank row (1M) for a sample of 20k leads; a lookup per
    sampled lead reads only theirs, and bins the probability or the 0-100 score the same way."""
    LeadFactory(status="new", score=80, probability=0.8)
    LeadFactory(status="contacted", score=20, probability=0.2)
    LeadFactory(status="lost", score=90, probability=0.9)  # closed: not in the sample
    reference = {"__score__": {"kind": "numeric", "edges": edges, "fractions": [0.5, 0.5]}}
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=reference))
    with CaptureQueriesContext(connection) as captured:
        report = drift.drift_for(version)
    assert [b["count"] for b in report.score.bins] == [1, 1]
    statement = next(q["sql"] for q in reversed(captured.captured_queries) if "drift_sample" in q["sql"])
    assert 'JOIN "leads_leadrank"' not in statement
    assert statement.count('FROM "leads_leadrank"') == 1


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
    report = drift.drift_for(ModelVersion.objects.create(metrics=contract_metrics(reference=reference)))
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


@pytest.mark.parametrize("run", [1, 2])
def test_drift_samples_runs_of_ids_one_lead_in_step_above_the_sample_size(db, settings, monkeypatch, run):
    """The sample is the open leads with id % (step * run) < run: runs of `run` consecutive ids,
    one lead in `step` (a run of 1 is every step-th id), and the bins count exactly those."""
    settings.REPORT_DRIFT_SAMPLE_ROWS = 4
    monkeypatch.setattr(drift, "SAMPLE_RUN_IDS", run)
    leads = [LeadFactory(status="new", source=("Google", "Fax", "Olark")[i % 3]) for i in range(12)]
    LeadFactory(status="lost", source="Google")  # closed: never sampled, even in a run
    reference = {"source": {"kind": "categorical", "fractions": {"Google": 0.5, "Fax": 0.5}}}
    report = drift.drift_for(ModelVersion.objects.create(metrics=contract_metrics(reference=reference)))

    # Twelve open leads, at most four per sample: step 3.
    sampled = [lead for lead in leads if lead.pk % (3 * run) < run]
    assert report.n_open == 12
    assert report.n_sampled == len(sampled) > 0
    by_level = {b["label"]: b["count"] for b in report.features[0].bins}
    assert by_level == {
        "Google": sum(lead.source == "Google" for lead in sampled),
        "Fax": sum(lead.source == "Fax" for lead in sampled),
        **({"(other)": n} if (n := sum(lead.source == "Olark" for lead in sampled)) else {}),
    }


def test_drift_with_nothing_to_bin_still_counts_the_sample(db):
    LeadFactory(status="new")
    reference = {"visits": {"kind": "numeric", "edges": [0, 1], "fractions": [1.0]}}  # one bin: no PSI
    report = drift.drift_for(ModelVersion.objects.create(metrics=contract_metrics(reference=reference)))
    assert report.n_open == report.n_sampled == 1
    assert report.features[0].psi is None and "one bin" in report.features[0].note


def test_a_value_on_a_related_row_is_read_through_its_join(db):
    """A feature's expression may name a related field (the lead's owner here): the sample joins it."""
    rep = RepFactory(username="ana")
    LeadFactory(status="new", owner=rep)
    LeadFactory(status="new", owner=None)
    LeadFactory(status="lost", owner=rep)
    n_sampled, (levels,) = drift.histograms_sample(
        [drift.Histogram(F("owner__username"))], step=1, last_id=None, open_leads=2, now=timezone.now()
    )
    assert n_sampled == 2
    assert levels == {"ana": 1, None: 1}


def test_age_dependent_features_are_shown_but_do_not_ask_for_retraining(db):
    now = timezone.now()
    LeadFactory(status="contacted", created_at=now - timedelta(days=2), first_contacted_at=now - timedelta(days=1),
                last_activity_at=now - timedelta(days=1))  # fmt: skip
    # Training (closed leads, read at close) saw long gaps since the last activity; open leads are young.
    reference = {"Days since last activity": {"kind": "numeric", "edges": [0, 7, 400], "fractions": [0.1, 0.9]}}
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=reference))
    feature_drift = drift.drift_for(version).features[0]
    assert feature_drift.flagged and feature_drift.age_dependent
    assert drift.drift_notice(version) is None


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
    flag = drift.drift_for(version).features[0]

    # Training saw no missing flag, so the two open leads without one are left out: now 3 of 5
    # say yes (0.6) against 0.25 in training, 2 of 5 no (0.4) against 0.75.
    # PSI = (0.6 - 0.25) ln(0.6 / 0.25) + (0.4 - 0.75) ln(0.4 / 0.75)
    #     = 0.35 ln 2.4 + 0.35 ln(15 / 8) = 0.35 ln 4.5 = 0.5264
    assert flag.kind == "boolean"
    assert [(b["label"], b["count"]) for b in flag.bins] == [("true", 3), ("false", 2)]
    assert flag.n_current == 5
    assert flag.psi == pytest.approx(0.35 * math.log(4.5)) == pytest.approx(0.5264, abs=1e-4)
    assert flag.flagged and not flag.age_dependent
    assert "newsletter (0.53)" in drift.drift_notice(version)


def test_yes_no_feature_with_missing_in_training_bins_missing_on_its_own(yes_no_leads):
    reference = {"newsletter": {"kind": "boolean", "fractions": {"true": 0.4, "false": 0.3, "(missing)": 0.3}}}
    flag = drift.drift_for(ModelVersion.objects.create(metrics=contract_metrics(reference=reference))).features[0]

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
    report = drift.drift_for(version)
    found = {d.feature: d for d in report.features}
    assert found["newsletter"].psi is None and "retraining adds them" in found["newsletter"].note
    assert "opted_out" not in found  # no reference at all: nothing to compare, not an error
    assert drift.drift_notice(version) is None


def test_yes_no_words_are_the_scoring_engines():
    from scoring import features

    assert set(drift.TRUE_WORDS) == features._TRUE
    assert set(drift.FALSE_WORDS) == features._FALSE


def test_every_feature_is_binned_in_one_statement_with_one_pass_over_the_activities(
    yes_no_leads, django_assert_max_num_queries
):
    reference = {
        "newsletter": {"kind": "boolean", "fractions": {"true": 0.5, "false": 0.5}},
        "visits": {"kind": "numeric", "edges": [0, 1, 5], "fractions": [0.5, 0.5]},
        "Call in last 7 days": {"kind": "numeric", "edges": [0, 1, 3], "fractions": [0.5, 0.5]},
        "Email in last 30 days": {"kind": "numeric", "edges": [0, 1, 3], "fractions": [0.5, 0.5]},
        "city": {"kind": "categorical", "fractions": {"Pune": 1.0}},
        "source": {"kind": "categorical", "fractions": {"Google": 1.0}},
    }
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=reference))
    # The import profiles (the scoring engine's column labels), the open-lead count, then ONE
    # statement for every feature (a large sample's in a transaction that raises work_mem).
    with django_assert_max_num_queries(6) as captured:
        report = drift.drift_for(version)
    assert {d.feature for d in report.features} == set(reference)
    reads = [q["sql"] for q in captured.captured_queries if '"leads_' in q["sql"]]
    assert len(reads) == 3
    statement = reads[-1]
    assert statement.count('FROM "leads_lead"') == 1  # the leads are read once for every feature
    assert statement.count('FROM "leads_activity"') == 1  # one pass over the activities for both counts
    assert all(name in statement for name in ("newsletter", "visits", "city", '"source"'))


def test_only_a_large_sample_raises_work_mem_for_its_statement(yes_no_leads, monkeypatch, requires_postgres):
    reference = {"source": {"kind": "categorical", "fractions": {"Google": 1.0}}}
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=reference))
    # A high id does not make a sample large: its size follows the open leads (CI failed on this
    # when the suite's earlier tests had moved the id sequence past 10,000).
    LeadFactory(id=drift.WORK_MEM_ABOVE_ROWS * 50, status="new")
    with CaptureQueriesContext(connection) as small:
        drift.drift_for(version, refresh=True)
    monkeypatch.setattr(drift, "WORK_MEM_ABOVE_ROWS", 0)
    with CaptureQueriesContext(connection) as large:
        drift.drift_for(version, refresh=True)

    assert not any("work_mem" in q["sql"] for q in small.captured_queries)
    assert any("SET LOCAL work_mem" in q["sql"] for q in large.captured_queries)


def test_drift_notice_from_the_cache_only_never_computes(drift_leads, django_assert_num_queries):
    version = ModelVersion.objects.create(metrics=contract_metrics(reference=REFERENCE))
    with django_assert_num_queries(0):
        assert drift.drift_notice(version, cached_only=True) is None  # nothing cached yet
    drift.drift_for(version, refresh=True)  # what the beat task does for the active model
    with django_assert_num_queries(0):
        assert drift.drift_notice(version, cached_only=True) == drift.drift_notice(version)
