"""The audit trail: who did what, when, to what, from where; append-only; a filtered page for admins."""

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory

from leads import audit
from leads.models import AuditEntry, ImportProfile, Lead, User
from leads.services import leads_merge
from tests.api.conftest import token_client
from tests.factories import LeadFactory, RepFactory


def entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


# --- the service and the model ---------------------------------------------------------------------


def test_audit_record_takes_actor_and_ip_from_the_request(rep):
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.7")
    request.user = rep
    entry = audit.audit_record("export", request=request, target=rep, details={"rows": 3})
    assert (entry.actor, entry.actor_name, entry.ip_address) == (rep, "rep_alice", "192.0.2.7")
    assert (entry.target_type, entry.target_id, entry.details) == ("leads.user", str(rep.pk), {"rows": 3})


def test_without_a_request_the_actor_is_the_system(db):
    entry = audit.audit_record("retention_anonymise", target_type="leads.lead", details={"count": 0})
    assert (entry.actor, entry.actor_name, entry.ip_address) == (None, "system", None)


def test_entries_cannot_be_changed_or_deleted(db):
    entry = audit.audit_record("export")
    entry.action = "nothing happened"
    with pytest.raises(PermissionDenied):
        entry.save()
    with pytest.raises(PermissionDenied):
        entry.delete()
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.filter(pk=entry.pk).update(action="x")
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "export"


def test_the_admin_shows_entries_read_only(admin_client_crm):
    entry = audit.audit_record("export")
    assert admin_client_crm.get("/admin/leads/auditentry/").status_code == 200
    assert admin_client_crm.get("/admin/leads/auditentry/add/").status_code == 403
    response = admin_client_crm.post(f"/admin/leads/auditentry/{entry.pk}/change/", {"action": "changed"})
    assert response.status_code == 403
    assert admin_client_crm.post(f"/admin/leads/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).action == "export"


# --- what is recorded ------------------------------------------------------------------------------


def test_a_page_login_is_recorded_with_its_ip(client, rep):
    client.post("/login/", {"username": "rep_alice", "password": "pw"}, REMOTE_ADDR="198.51.100.4")
    [login] = entries("login")
    assert (login.actor, login.ip_address, login.details) == (rep, "198.51.100.4", {"via": "session"})


def test_a_role_change_is_recorded_with_who_changed_it(admin_client_crm, admin_user, rep):
    response = admin_client_crm.post(
        f"/admin/leads/user/{rep.pk}/change/",
        {
            "username": rep.username,
            "role": "manager",
            "capacity": "50",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    [change] = entries("user_changed")[-1:]
    assert change.actor == admin_user and change.target_id == str(rep.pk)
    assert change.details["changes"]["role"] == {"from": "rep", "to": "manager"}


def test_saving_a_user_without_audited_changes_records_nothing(rep):
    before = AuditEntry.objects.count()
    rep.first_name = "Alicia"
    rep.save()
    assert AuditEntry.objects.count() == before


def test_report_csv_downloads_are_recorded_with_row_counts(manager_client, manager):
    LeadFactory(source="Google")
    response = manager_client.get("/reports/conversion/", {"format": "csv", "table": "by_source"})
    assert response.status_code == 200, response.status_code
    [export] = entries("export")
    rows = len(response.content.decode().strip().splitlines()) - 1
    assert export.actor == manager and export.details == {
        "what": "report conversion / by_source",
        "format": "csv",
        "rows": rows,
    }


def test_admin_lead_export_is_recorded_with_row_count(admin_client_crm, admin_user):
    LeadFactory.create_batch(3)
    fields = {f"leadexportresource_{f}": "on" for f in ("name", "status")}
    for file_format, title in (("0", "csv"), ("1", "xlsx")):
        response = admin_client_crm.post("/admin/leads/lead/export/", {"format": file_format, **fields})
        assert response.status_code == 200, response.content[:500]
        export = entries("export")[-1]
        assert export.actor == admin_user
        assert export.details == {"what": "admin lead export", "format": title, "rows": 3}


def test_bulk_changes_are_recorded(admin_user):
    LeadFactory(external_id="a")
    rows = [{"external_id": "a", "name": "Changed"}, {"external_id": "b", "name": "New"}]
    assert token_client(admin_user).post("/api/v1/leads/bulk/", {"leads": rows}, format="json").status_code == 200
    [bulk] = entries("bulk_change")
    assert bulk.actor == admin_user
    assert (bulk.details["created"], bulk.details["updated"], bulk.details["failed"]) == (1, 1, 0)


def test_imports_are_recorded(admin_user):
    ImportProfile.objects.create(name="simple", mapping={"external_id": "ID", "name": "Name"})
    upload = SimpleUploadedFile("leads.csv", b"ID,Name\n1,Ada\n", content_type="text/csv")
    response = token_client(admin_user).post(
        "/api/v1/imports/", {"file": upload, "profile": "simple"}, format="multipart"
    )
    assert response.status_code == 202, response.content
    [entry] = entries("import")
    assert entry.actor == admin_user and entry.target_type == "leads.importjob"
    assert entry.details["profile"] == "simple" and entry.details["mode"] == "atomic"


def test_merges_are_recorded(db):
    survivor, duplicate = LeadFactory(), LeadFactory()
    duplicate_pk = duplicate.pk
    leads_merge(survivor=survivor, duplicate=duplicate)
    [merge] = entries("merge")
    assert merge.target_id == str(survivor.pk) and merge.details == {"merged_lead_id": duplicate_pk}


def test_refused_requests_record_nothing(rep, other_rep):
    lead = LeadFactory(owner=other_rep)
    before = AuditEntry.objects.count()
    api = token_client(rep)
    assert api.get(f"/api/v1/leads/{lead.pk}/personal-data/").status_code in (403, 404)
    assert api.post(f"/api/v1/leads/{lead.pk}/erase/").status_code in (403, 404)
    assert api.post("/api/v1/leads/bulk/", {"leads": [{"name": "x"}]}, format="json").status_code == 403
    assert AuditEntry.objects.count() == before


def test_entries_hold_no_personal_data_of_a_lead(admin_user):
    lead = LeadFactory(name="Ada Lovelace", email="ada@example.com")
    api = token_client(admin_user)
    api.get(f"/api/v1/leads/{lead.pk}/personal-data/")
    api.post(f"/api/v1/leads/{lead.pk}/erase/")
    for entry in AuditEntry.objects.all():
        text = f"{entry.details} {entry.target_id} {entry.target_type}"
        assert "Ada" not in text and "ada@example.com" not in text


# --- the page ----------------------------------------------------------------------------------------


def test_the_audit_page_filters_by_action_user_target_and_date(admin_client_crm, admin_user):
    bob = RepFactory(username="bob")
    audit.audit_record("export", actor=bob, target_type="leads.lead", details={"rows": 1})
    audit.audit_record("merge", actor=admin_user, target_type="leads.lead", target_id=42)
    page = admin_client_crm.get("/audit/")
    body = page.content.decode()
    assert page.status_code == 200 and "merge" in body and "export" in body

    def shown(**params):
        return [e.action for e in admin_client_crm.get("/audit/", params).context["page"].object_list]

    assert shown(action="merge") == ["merge"]
    assert shown(actor="bob") == ["export"]
    assert shown(target_id="42") == ["merge"]
    assert "merge" in shown(since="2000-01-01")
    assert shown(until="2000-01-01") == []
    assert admin_client_crm.get("/audit/", {"since": "not a date"}).status_code == 200


@pytest.mark.parametrize("role", [User.Role.REP, User.Role.MANAGER])
def test_only_admins_open_the_audit_page(db, client, role):
    user = RepFactory(username=f"someone-{role}", role=role)
    client.force_login(user)
    assert client.get("/audit/").status_code == 403
    assert Lead.objects.count() == 0
