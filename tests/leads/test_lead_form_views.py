"""Lead create/edit pages: ownership by role, possible duplicates shown before saving (with a
merge for managers), and text that hides what it says (control characters, bidi overrides) refused."""

import pytest

from leads.models import Activity, Lead, LostReason
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_rep_creates_a_lead_they_own(rep_client, rep, other_rep):
    response = rep_client.post(
        "/leads/new/", {"name": "Ada", "email": "ADA@Example.com", "phone": "+44 1", "owner": other_rep.pk}
    )
    lead = Lead.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    assert lead.owner == rep  # a rep cannot create for someone else
    assert lead.email == "ada@example.com"


def test_manager_creates_a_lead_for_anyone_or_the_pool(manager_client, rep):
    manager_client.post("/leads/new/", {"name": "For rep", "owner": rep.pk})
    manager_client.post("/leads/new/", {"name": "For the pool", "owner": ""})
    assert Lead.objects.get(name="For rep").owner == rep
    assert Lead.objects.get(name="For the pool").owner is None


def test_an_empty_lead_is_refused(rep_client):
    response = rep_client.post("/leads/new/", {"source": "Google"})
    assert response.status_code == 400 and not Lead.objects.exists()


@pytest.mark.parametrize("bad", ["Ada\u202egnp.exe", "Ada\x00", "Ada\x1b[31m", "Ada\u2066x"])
def test_control_and_bidi_characters_are_refused_per_field(rep_client, bad):
    response = rep_client.post("/leads/new/", {"name": bad, "email": "a@example.com"})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_name_error"' in body and "Remove the" in body and not Lead.objects.exists()  # beside the name


def test_a_duplicate_email_is_shown_before_saving_then_saved_anyway(rep_client, rep):
    existing = LeadFactory(owner=rep, email="ada@example.com", name="Ada Old")
    response = rep_client.post("/leads/new/", {"name": "Ada", "email": " Ada@EXAMPLE.com "})
    body = response.content.decode()
    assert response.status_code == 200 and 'id="duplicates"' in body
    assert f"/leads/{existing.pk}/" in body and "Merge" not in body  # reps do not merge
    assert Lead.objects.count() == 1
    response = rep_client.post("/leads/new/", {"name": "Ada", "email": "ada@example.com", "confirm_duplicate": "on"})
    assert response.status_code == 302 and Lead.objects.count() == 2


def test_a_duplicate_phone_is_found_too(rep_client):
    LeadFactory(phone="+1 555 0100", owner=None)
    body = rep_client.post("/leads/new/", {"name": "Bo", "phone": "+1 555 0100"}).content.decode()
    assert 'id="duplicates"' in body


def test_another_reps_duplicate_is_mentioned_without_its_details(rep_client, other_rep):
    LeadFactory(owner=other_rep, email="ada@example.com", name="Secret Ada")
    body = rep_client.post("/leads/new/", {"name": "Ada", "email": "ada@example.com"}).content.decode()
    assert "owned by another rep" in body and "Secret Ada" not in body


def test_manager_merges_what_they_typed_into_the_existing_lead(manager_client):
    existing = LeadFactory(email="ada@example.com", name="Ada", phone="", company="")
    body = manager_client.post("/leads/new/", {"name": "Ada", "email": "ada@example.com"}).content.decode()
    assert f'name="merge_into" value="{existing.pk}"' in body
    response = manager_client.post(
        "/leads/new/", {"name": "Ada", "email": "ada@example.com", "phone": "+1 2", "merge_into": existing.pk}
    )
    assert response["Location"] == f"/leads/{existing.pk}/"
    existing.refresh_from_db()
    assert Lead.objects.count() == 1 and existing.phone == "+1 2"


def test_rep_cannot_merge(rep_client, rep):
    existing = LeadFactory(owner=rep, email="ada@example.com")
    response = rep_client.post("/leads/new/", {"name": "Ada", "email": "ada@example.com", "merge_into": existing.pk})
    assert response.status_code == 403 and Lead.objects.count() == 1


def test_owner_edits_their_lead(rep_client, rep):
    lead = LeadFactory(owner=rep, name="Old")
    assert rep_client.get(f"/leads/{lead.pk}/edit/").status_code == 200
    response = rep_client.post(f"/leads/{lead.pk}/edit/", {"name": "New", "email": lead.email, "company": "Co"})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.name, lead.company, lead.owner) == ("New", "Co", rep)


def test_rep_cannot_edit_a_pool_lead(rep_client):
    lead = LeadFactory(owner=None)
    assert rep_client.post(f"/leads/{lead.pk}/edit/", {"name": "Mine now"}).status_code == 404


def test_manager_merges_a_duplicate_into_the_lead_being_edited(manager_client, rep):
    lead = LeadFactory(owner=rep, email="a@example.com")
    other = LeadFactory(email="b@example.com", phone="+9")
    body = manager_client.post(f"/leads/{lead.pk}/edit/", {"name": "A", "email": "a@example.com", "phone": "+9"})
    assert f'name="duplicate" value="{other.pk}"' in body.content.decode()
    response = manager_client.post(f"/leads/{lead.pk}/merge/", {"duplicate": other.pk})
    assert response.status_code == 302 and not Lead.objects.filter(pk=other.pk).exists()
    assert Activity.objects.filter(lead=lead, notes__startswith="Merged").exists()


def test_manager_reassigns_from_the_edit_page(manager_client, rep, other_rep):
    lead = LeadFactory(owner=rep)
    manager_client.post(f"/leads/{lead.pk}/edit/", {"name": "X", "email": lead.email, "owner": other_rep.pk})
    lead.refresh_from_db()
    assert lead.owner == other_rep


def test_lost_reason_comes_from_the_pick_list_or_other_text(rep_client, rep):
    lead, other = LeadFactory(owner=rep), LeadFactory(owner=rep)
    page = rep_client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Chose a competitor" in page and "Other…" in page  # seeded by the migration
    rep_client.post(f"/leads/{lead.pk}/status/", {"status": "lost", "lost_reason_choice": "Price"})
    rep_client.post(
        f"/leads/{other.pk}/status/",
        {"status": "lost", "lost_reason_choice": "__other__", "lost_reason": "Moved abroad"},
    )
    assert Lead.objects.get(pk=lead.pk).lost_reason == "Price"
    assert Lead.objects.get(pk=other.pk).lost_reason == "Moved abroad"


def test_other_without_text_is_the_same_missing_reason_error(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = rep_client.post(f"/leads/{lead.pk}/status/", {"status": "lost", "lost_reason_choice": "__other__"})
    assert response.status_code == 400 and "Say why the lead was lost." in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).status == "new"


def test_inactive_reasons_leave_the_pick_list(rep_client, rep):
    LostReason.objects.filter(label="Price").update(active=False)
    page = rep_client.get(f"/leads/{LeadFactory(owner=rep).pk}/").content.decode()
    assert ">Price<" not in page
