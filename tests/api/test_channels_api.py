"""The API's side of channels: a lead's campaign, and the value a converted lead was worth."""

import pytest
from django.urls import reverse

from leads.models import Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_the_api_closes_with_a_value_and_refuses_a_negative_one(api_manager):
    target = LeadFactory()
    url = reverse("api-lead-close", args=[target.pk])
    assert api_manager.post(url, {"outcome": "converted", "value": "-5"}, format="json").status_code == 400
    assert api_manager.post(url, {"outcome": "converted", "value": 0}, format="json").status_code == 400  # a string
    response = api_manager.post(url, {"outcome": "converted", "value": "1250.00"}, format="json")
    assert response.status_code == 200 and response.json()["converted_value"] == "1250.00"


def test_a_lead_is_created_with_its_campaign(api_manager):
    response = api_manager.post(reverse("api-lead-list"), {"name": "Ada", "campaign": " spring-sale "}, format="json")
    assert response.status_code == 201 and response.json()["campaign"] == "spring-sale"
    assert Lead.objects.get().campaign == "spring-sale"
