"""The seam between the CRM and the model: leads send signals, scoring's receivers act on them."""

from unittest import mock

import pytest
from django.urls import reverse

from leads import services as lead_services
from leads.signals import leads_changed, outcomes_imported
from tests.scoring.conftest import outcome_leads_create


@pytest.mark.django_db
def test_leads_changed_asks_scoring_for_a_rescore():
    with mock.patch("scoring.rescoring.lead_rescore_request") as rescore:
        leads_changed.send(sender=None, lead_ids=[3, 4])
    rescore.assert_called_once_with([3, 4])


@pytest.mark.django_db(transaction=True)
def test_a_lead_created_through_the_crm_is_scored_through_the_signal(trained):
    lead = lead_services.lead_create(name="Ada", source="Web", attributes={"plan": "pro", "visits": 3})

    lead.refresh_from_db()
    assert lead.model_version_id == trained.pk and lead.score is not None


@pytest.mark.django_db
def test_outcomes_imported_asks_scoring_to_rescore_and_maybe_retrain():
    with mock.patch("scoring.rescoring.import_completed") as completed:
        outcomes_imported.send(sender=None, lead_ids=[1, 2], new_outcomes=7)
    completed.assert_called_once_with(lead_ids=[1, 2], new_outcomes=7)


@pytest.mark.django_db
def test_queue_shows_the_cold_start_banner_from_scoring(rep_client):
    outcome_leads_create(20)

    body = rep_client.get(reverse("leads:queue")).content.decode()

    assert 'class="banner"' in body and "model not trained yet:" in body


@pytest.mark.django_db
def test_queue_has_no_banner_with_an_active_model(rep_client, trained):
    body = rep_client.get(reverse("leads:queue")).content.decode()

    assert 'class="banner"' not in body
