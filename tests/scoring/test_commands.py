import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leads.models import Lead, LeadRank
from scoring.models import ModelVersion
from tests.scoring.conftest import outcome_leads_create


@pytest.mark.django_db
def test_train_model_prints_contract_metrics_as_json():
    outcome_leads_create(300)
    out = StringIO()

    call_command("train_model", "--cv", "3", "--json", stdout=out)

    data = json.loads(out.getvalue())
    assert data["metrics"]["cv"]["folds"] == 3
    assert {"used", "excluded", "global_factors"} <= set(data["features"])


@pytest.mark.django_db
def test_train_model_says_when_it_learnt_from_a_sample(settings):
    settings.SCORING_TRAINING_MAX_ROWS = 200
    outcome_leads_create(300)
    out = StringIO()

    call_command("train_model", "--cv", "3", stdout=out)

    assert "Learnt from a sample: a seeded random sample (seed 0) of 200 of the 300 closed leads" in out.getvalue()


@pytest.mark.django_db
def test_train_model_refuses_at_cold_start():
    outcome_leads_create(10)

    with pytest.raises(CommandError, match="model not trained yet"):
        call_command("train_model", "--cv", "3", stdout=StringIO())


@pytest.mark.django_db
def test_bootstrap_trains_the_first_model_and_scores_every_lead():
    outcome_leads_create(300)
    out = StringIO()

    call_command("bootstrap_scoring", stdout=out)

    version = ModelVersion.objects.get(status="active")
    assert not LeadRank.objects.filter(model_version__isnull=True).exists()
    assert f"v{version.pk}" in out.getvalue()


@pytest.mark.django_db
def test_rescore_leads_stale_touches_only_changed_leads(trained):
    call_command("rescore_leads", "--all", stdout=StringIO())
    LeadRank.objects.filter(pk=Lead.objects.first().pk).update(scored_at=None)
    out = StringIO()

    call_command("rescore_leads", "--stale", stdout=out)

    assert "1 leads scored" in out.getvalue()


@pytest.mark.django_db
def test_train_model_json_says_which_gate_failed_in_words(settings):
    settings.SCORING_GATE_MIN_AUC = 0.999
    outcome_leads_create(300)
    out = StringIO()

    call_command("train_model", "--cv", "3", "--json", stdout=out)

    data = json.loads(out.getvalue())
    assert data["status"] == "candidate"
    assert data["gates"]["passed"] is False
    assert data["gates"]["failed"][0].startswith("holdout ROC AUC") and "below 1.00" in data["gates"]["failed"][0]
    assert data["activation"]["activate"] is False
    assert data["leak_warnings"] == {}
    assert data["metrics"]["holdout"]["roc_auc"] and data["metrics"]["cv"]["ece"] is not None
