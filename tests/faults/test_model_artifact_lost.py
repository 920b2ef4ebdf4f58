"""A corrupt or missing model artifact: scoring keeps using the last good version, and admins see
the error on the model pages. (tests/scoring/test_rescoring.py covers a corrupt artifact at the
service level; this goes through a missing file, a rescore and the pages.)"""

import os

import pytest
from django.urls import reverse

from leads.models import Lead, LeadRank
from scoring import registry, rescoring, training_runs
from scoring.models import ModelVersion, ScoringSettings
from tests.scoring.conftest import outcome_leads_create


@pytest.fixture
def trained(db):
    outcome_leads_create(300)
    return training_runs.model_train(folds=3)


@pytest.mark.django_db
@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_lost_artifact_falls_back_to_the_last_good_model_and_admins_see_why(trained, admin_client_crm, damage):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=5.0, margin_log_loss=5.0)  # the retrain replaces it
    second = training_runs.model_train(folds=3)
    second.refresh_from_db()
    assert second.status == ModelVersion.Status.ACTIVE
    if damage == "missing":
        os.remove(second.artifact_path)
    else:
        with open(second.artifact_path, "r+b") as handle:
            handle.seek(100)
            handle.write(b"\0garbage\0")
    registry.cache_clear()

    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    LeadRank.objects.filter(pk=lead.pk).update(score=None, model_version=None, scored_at=None)
    rescoring.leads_rescore(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.model_version_id == trained.pk and lead.score is not None  # the last good model scored it

    second.refresh_from_db()
    assert second.load_error
    listing = admin_client_crm.get(reverse("scoring:list"))
    assert listing.status_code == 200
    assert "Cannot load its artifact" in listing.content.decode()
    assert "the last good model is used" in listing.content.decode()
    detail = admin_client_crm.get(reverse("scoring:detail", args=[second.pk]))
    assert detail.status_code == 200 and "Artifact error" in detail.content.decode()
    assert ("cannot read artifact" if damage == "missing" else "sha256") in second.load_error

    # Scoring a lead through the lead page keeps working too.
    assert admin_client_crm.get(reverse("leads:detail", args=[lead.pk])).status_code == 200
