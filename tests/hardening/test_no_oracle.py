"""No existence oracle: a rep's answer never depends on whether a lead they cannot see exists.

External ids are unique across every lead, so "already exists" would reveal another rep's lead.
Reps therefore cannot set an external id at all: taken or free, the answer is the same 400.
Emails are not unique, so a rep's lead with any email is created (no answer differs)."""

import pytest

from leads.api import REP_EXTERNAL_ID_MESSAGE
from leads.models import Lead
from tests.api.conftest import token_client
from tests.factories import LeadFactory

LIST = "/api/v1/leads/"


@pytest.fixture
def theirs(other_rep):
    return LeadFactory(owner=other_rep, external_id="crm-taken", email="taken@example.com")


def test_a_taken_and_a_free_external_id_get_the_same_answer(rep, theirs):
    api = token_client(rep)
    taken = api.post(LIST, {"name": "Ada", "external_id": "crm-taken"}, format="json")
    free = api.post(LIST, {"name": "Ada", "external_id": "crm-free"}, format="json")
    assert taken.status_code == free.status_code == 400
    assert taken.json() == free.json()
    assert taken.json()["error"]["fields"] == {"external_id": [REP_EXTERNAL_ID_MESSAGE]}
    assert not Lead.objects.filter(owner=rep).exists()


def test_a_rep_creating_with_another_reps_email_gets_201_like_any_email(rep, theirs):
    api = token_client(rep)
    taken = api.post(LIST, {"name": "Ada", "email": "taken@example.com"}, format="json")
    free = api.post(LIST, {"name": "Bea", "email": "free@example.com"}, format="json")
    assert taken.status_code == free.status_code == 201
    assert set(taken.json()) == set(free.json())
    assert theirs.owner != rep  # the other rep's lead is untouched
    theirs.refresh_from_db()
    assert theirs.name != "Ada"


def test_a_rep_updating_their_lead_cannot_reach_external_ids(rep, theirs):
    mine = LeadFactory(owner=rep, external_id=None)
    response = token_client(rep).patch(f"{LIST}{mine.pk}/", {"external_id": "crm-taken"}, format="json")
    assert response.status_code == 200  # external_id is not an editable field: ignored, like any unknown key
    mine.refresh_from_db()
    assert mine.external_id is None


def test_managers_see_every_lead_so_they_are_told_the_id_is_taken(manager, theirs):
    response = token_client(manager).post(LIST, {"name": "Ada", "external_id": "crm-taken"}, format="json")
    assert response.status_code == 400
    assert "external_id" in response.json()["error"]["fields"]
    assert token_client(manager).post(LIST, {"name": "Ada", "external_id": "crm-new"}, format="json").status_code == 201


def test_a_rep_without_an_external_id_still_creates(rep):
    assert token_client(rep).post(LIST, {"name": "Ada"}, format="json").status_code == 201
