"""Model quality (scoring/quality.py) against the reports' ten hand-worked leads
(tests/reports/conftest.py) and the metrics contract training writes."""

from datetime import timedelta

import pytest

from leads.models import LeadRank
from scoring.models import ModelVersion
from scoring.quality import active_model_facts, dashboard_headline_rows, model_quality, observed_by_tier
from tests.factories import LeadFactory
from tests.reports.conftest import NOW, contract_metrics

pytestmark = pytest.mark.django_db


# --- Model quality -----------------------------------------------------------------------


def _scored_version(report_data, **fields) -> ModelVersion:
    version = ModelVersion.objects.create(
        status="active", metrics=contract_metrics(), activated_at=NOW - timedelta(days=15), **fields
    )
    LeadRank.objects.filter(score__isnull=False).update(model_version=version)
    return version


def test_model_quality_reads_the_metrics_contract(report_data):
    quality = model_quality(_scored_version(report_data))
    metrics = {m["key"]: m["value"] for m in quality.metrics_table}
    assert metrics["roc_auc"] == 0.83 and metrics["ece"] == 0.03 and metrics["base_rate"] == 0.4
    assert quality.confusion == {"tn": 50, "fp": 10, "fn": 15, "tp": 25}
    assert quality.threshold == 0.5
    assert [d["decile"] for d in quality.deciles] == list(range(1, 11))
    assert quality.roc == [(0.0, 0.0), (0.2, 0.7), (1.0, 1.0)]
    assert quality.pr[1] == (0.6, 0.7)  # (recall, precision)
    assert len(quality.calibration) == 2


def test_model_quality_says_when_the_model_learnt_from_a_sample(report_data):
    version = _scored_version(report_data)
    every_row = {m["key"] for m in model_quality(version).metrics_table}
    how = "a seeded random sample (seed 0) of 400 of the 1000 closed leads"
    version.metrics = {**version.metrics, "training_set": {"n": 400, "sample": {"n": 400, "of": 1000, "how": how}}}

    rows = {m["key"]: m for m in model_quality(version).metrics_table}

    assert "sample" not in every_row
    assert rows["sample"]["metric"] == "Sampled from" and rows["sample"]["value"] == 1000
    assert rows["sample"]["help"] == how


def test_observed_conversion_per_tier_since_live_and_overall(report_data):
    version = _scored_version(report_data)
    live = {r["tier"]: r for r in observed_by_tier(version, since_live=True)}
    # Created after NOW-15d and scored: 3, 4 (hot), 5, 6, 9.
    assert (live["hot"]["leads"], live["hot"]["closed"], live["hot"]["win_rate"]) == (1, 1, 1.0)
    assert (live["warm"]["leads"], live["warm"]["closed"], live["warm"]["converted"]) == (3, 1, 1)
    assert live["cold"]["win_rate"] is None  # lead 6 is still open
    overall = {r["tier"]: r for r in observed_by_tier(version, since_live=False)}
    assert (overall["hot"]["leads"], overall["hot"]["win_rate"]) == (4, 0.75)
    assert overall["hot"]["mean_probability"] == pytest.approx((0.95 + 0.85 + 0.91 + 0.99) / 4)
    assert "unscored" not in overall


def test_model_quality_tolerates_missing_metrics(db):
    version = ModelVersion.objects.create(status="candidate", metrics={})
    quality = model_quality(version)
    assert quality.metrics_table == [] and quality.confusion is None and quality.roc == []
    assert quality.observed_live == []  # never went live


# --- The active model on CRM pages ------------------------------------------------------


def test_active_model_facts_and_the_dashboard_headline_row(report_data):
    LeadFactory(status="new", tier="hot", created_at=NOW - timedelta(hours=2))
    model = ModelVersion.objects.create(status="active", metrics=contract_metrics())
    facts = active_model_facts()
    assert facts["model"] == model
    assert facts["model_auc"] == 0.83
    assert dashboard_headline_rows() == [
        {"metric": "Active model ROC AUC", "value": 0.83, "definition": f"Holdout AUC of model v{model.pk}"}
    ]


def test_active_model_facts_without_a_model(db):
    facts = active_model_facts()
    assert facts["model"] is None and facts["model_auc"] is None
    assert dashboard_headline_rows()[0]["definition"] == "No active model"
