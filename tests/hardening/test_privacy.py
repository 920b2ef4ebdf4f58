"""Data-protection duties: export one person's data, erase it (keeping outcomes), retention; admins only."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from leads import privacy
from leads.models import Activity, AuditEntry, ImportJob, ImportRowError, Lead
from leads.tasks import retention_anonymise
from tests.api.conftest import token_client
from tests.factories import ActivityFactory, FollowUpFactory, LeadFactory


@pytest.fixture
def person(rep):
    lead = LeadFactory(
        owner=rep,
        name="Ada Lovelace",
        email="ada@example.com",
        phone="+44 1234",
        company="Analytical Engines",
        external_id="crm-ada",
        source="Referral",
        origin="Web Form",
        attributes={"TotalVisits": 7, "Converted before": True, "City": "London", "Notes": "likes poetry"},
        score_reasons=[{"feature": "City", "text": "City = London", "impact": 3.0}],
        score=80,
        priority=80,
    )
    ActivityFactory(lead=lead, user=rep, kind="call", outcome="reached Ada", notes="Ada asked about pricing")
    ActivityFactory(lead=lead, user=rep, kind="status_change", outcome="lost", notes="closing", data={"from": "new"})
    FollowUpFactory(lead=lead, assigned_to=rep, note="call Ada back")
    Lead.objects.filter(pk=lead.pk).update(status=Lead.Status.LOST, lost_reason="Ada chose a competitor")
    lead.refresh_from_db()
    return lead


def test_export_holds_the_lead_its_activities_and_follow_ups(person, admin_user):
    data = privacy.person_data_export(lead=person, by=admin_user)
    assert data["lead"]["name"] == "Ada Lovelace" and data["lead"]["email"] == "ada@example.com"
    assert data["owner"] == "rep_alice"
    assert {a["notes"] for a in data["activities"]} == {"Ada asked about pricing", "closing"}
    assert [f["note"] for f in data["follow_ups"]] == ["call Ada back"]
    assert "score_history" in data  # scoring contributes it through leads.signals
    json.dumps(data)  # JSON-ready
    [entry] = AuditEntry.objects.filter(action="person_export")
    assert entry.actor == admin_user and entry.target_id == str(person.pk)


def test_erase_removes_personal_data_and_keeps_the_outcome(person, admin_user, rep):
    privacy.person_erase(lead=person, by=admin_user)
    lead = Lead.objects.get(pk=person.pk)
    assert (lead.name, lead.email, lead.phone, lead.company, lead.external_id) == ("", "", "", "", None)
    assert lead.erased_at is not None
    # Kept: outcome, source, owner, score, numeric and yes/no attributes.
    assert (lead.status, lead.source, lead.origin, lead.owner, lead.score) == ("lost", "Referral", "Web Form", rep, 80)
    assert lead.lost_reason == privacy.ERASED_LOST_REASON
    assert lead.attributes == {"TotalVisits": 7, "Converted before": True}
    assert lead.score_reasons == []
    call, status_change = (
        lead.activities.get(kind="call"),
        lead.activities.get(kind="status_change"),
    )
    assert (call.notes, call.outcome, call.user) == ("", "", rep)
    assert (status_change.notes, status_change.outcome, status_change.data) == ("", "lost", {"from": "new"})
    assert lead.follow_ups.get().note == ""
    assert str(lead) == f"Lead #{lead.pk}"
    [entry] = AuditEntry.objects.filter(action="person_erase")
    assert entry.actor == admin_user and entry.target_id == str(lead.pk)


def test_erase_clears_refused_import_rows_that_name_the_person_and_only_those(person, admin_user):
    job = ImportJob.objects.create(file="imports/2026/11/leads.csv", status=ImportJob.Status.FAILED)
    hers = ImportRowError.objects.create(
        job=job, row_number=2, column="Score", value="high", message="expected a number",
        raw=["crm-x", "ADA@example.com", "high"],
    )  # fmt: skip
    by_phone = ImportRowError.objects.create(
        job=job, row_number=3, column="Phone", value="+44 1234", message="too long", raw=["", "", "+44 1234"]
    )
    other = ImportRowError.objects.create(
        job=job, row_number=4, column="Score", value="low", message="expected a number", raw=["b@example.com", "low"]
    )

    privacy.person_erase(lead=person, by=admin_user)

    for error in (hers, by_phone):
        error.refresh_from_db()
        assert (error.raw, error.value) == ([], "")
        assert error.message  # where and why stay
    other.refresh_from_db()
    assert other.raw == ["b@example.com", "low"] and other.value == "low"


def test_erasing_twice_changes_nothing_more(person, admin_user):
    privacy.person_erase(lead=person, by=admin_user)
    first = Lead.objects.get(pk=person.pk).erased_at
    privacy.person_erase(lead=person, by=admin_user)
    assert Lead.objects.get(pk=person.pk).erased_at == first
    assert AuditEntry.objects.filter(action="person_erase").count() == 1


def test_only_admins_export_or_erase(person, manager):
    with pytest.raises(Exception, match="Only admins"):
        privacy.person_data_export(lead=person, by=manager)
    with pytest.raises(Exception, match="Only admins"):
        privacy.person_erase(lead=person, by=manager)
    assert Lead.objects.get(pk=person.pk).name == "Ada Lovelace"


# --- the API and the lead page ---------------------------------------------------------------------------


def test_api_export_and_erase(person, admin_user, manager):
    api = token_client(admin_user)
    response = api.get(f"/api/v1/leads/{person.pk}/personal-data/")
    assert response.status_code == 200 and response.json()["lead"]["email"] == "ada@example.com"
    assert token_client(manager).post(f"/api/v1/leads/{person.pk}/erase/").status_code == 403
    response = api.post(f"/api/v1/leads/{person.pk}/erase/")
    assert response.status_code == 200
    assert response.json()["name"] == "" and response.json()["status"] == "lost"
    assert api.post("/api/v1/leads/999999/erase/").status_code == 404


def test_the_lead_page_offers_the_buttons_to_admins_only(person, client, admin_user, manager):
    client.force_login(manager)
    assert "person-erase-form" not in client.get(f"/leads/{person.pk}/").content.decode()
    client.force_login(admin_user)
    body = client.get(f"/leads/{person.pk}/").content.decode()
    assert "person-erase-form" in body and "person-data-export" in body

    download = client.get(f"/leads/{person.pk}/personal-data/")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="lead-{person.pk}-personal-data.json"'
    assert json.loads(download.content)["lead"]["name"] == "Ada Lovelace"

    response = client.post(f"/leads/{person.pk}/erase/", {"confirm": "no"})
    assert response.status_code == 302 and Lead.objects.get(pk=person.pk).erased_at is None
    response = client.post(f"/leads/{person.pk}/erase/", {"confirm": "erase"})
    assert response.status_code == 302 and Lead.objects.get(pk=person.pk).erased_at is not None
    body = client.get(f"/leads/{person.pk}/").content.decode()
    assert "Ada" not in body and "person-erase-form" not in body


# --- retention ------------------------------------------------------------------------------------------


def _closed_lead(age_days: int, status: str = Lead.Status.CONVERTED) -> Lead:
    then = timezone.now() - timedelta(days=age_days)
    return LeadFactory(name="Old", status=status, created_at=then, converted_at=then if status == "converted" else None)


def test_retention_is_off_by_default(db, settings):
    assert settings.RETENTION_ANONYMISE_CLOSED_MONTHS == 0
    old = _closed_lead(4000)
    assert retention_anonymise() == 0
    assert Lead.objects.get(pk=old.pk).name == "Old"


def test_retention_erases_closed_leads_older_than_the_setting(db, settings):
    settings.RETENTION_ANONYMISE_CLOSED_MONTHS = 12
    old_won, old_lost = _closed_lead(400), _closed_lead(400, Lead.Status.LOST)
    recent = _closed_lead(100)
    old_open = LeadFactory(name="Old", created_at=timezone.now() - timedelta(days=400))
    old_but_touched = _closed_lead(400)
    Lead.objects.filter(pk=old_but_touched.pk).update(last_activity_at=timezone.now() - timedelta(days=10))

    assert retention_anonymise() == 2
    names = dict(Lead.objects.values_list("pk", "name"))
    assert names[old_won.pk] == names[old_lost.pk] == ""
    assert names[recent.pk] == names[old_open.pk] == names[old_but_touched.pk] == "Old"
    assert Lead.objects.get(pk=old_won.pk).status == Lead.Status.CONVERTED
    [entry] = AuditEntry.objects.filter(action="retention_anonymise")
    assert entry.actor_name == "system" and entry.details["count"] == 2
    assert retention_anonymise() == 0  # nothing left to do


def test_retention_is_a_daily_beat_task(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["leads-retention-anonymise"]
    assert entry["task"] == "leads.retention_anonymise" and entry["schedule"] == 24 * 3600


def test_erased_activities_keep_the_funnel_history(person, admin_user):
    privacy.person_erase(lead=person, by=admin_user)
    assert Activity.objects.filter(lead=person, kind="status_change", outcome="lost").exists()
