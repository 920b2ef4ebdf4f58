"""POST /api/v1/leads/bulk/ matches rows as a file import does: on the external id, else on the
normalised email (lowest id wins), merging attributes and keeping what a row does not send."""

from unittest import mock

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError

from leads.importing import services as import_services
from leads.matching import leads_matching
from leads.models import ImportJob, Lead
from tests.api.test_leads_api import BULK, assert_error
from tests.factories import LeadFactory
from tests.leads.import_samples import simple_csv, write


def post(client, rows: list, **options):
    return client.post(BULK, {"leads": rows, **options}, format="json")


# --- matching ----------------------------------------------------------------------------------


def test_a_row_without_external_id_updates_the_lead_with_its_email_whatever_the_case_and_spaces(api_admin):
    lead = LeadFactory(external_id=None, email="ann@example.com", name="Old", phone="123", company="Acme")
    response = post(api_admin, [{"email": "  ANN@Example.COM ", "name": "Ann"}])
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["updated"], body["failed"]) == (0, 1, 0)
    assert body["results"] == [{"row": 0, "id": lead.pk, "action": "updated"}]
    lead.refresh_from_db()
    assert (lead.name, lead.email, lead.phone, lead.company) == ("Ann", "ann@example.com", "123", "Acme")
    assert Lead.objects.count() == 1


def test_an_email_match_ignores_the_stored_leads_external_id(api_admin):
    lead = LeadFactory(external_id="crm-7", email="ann@example.com")
    body = post(api_admin, [{"email": "Ann@example.com", "company": "Analytical Engines"}]).json()
    assert body["results"] == [{"row": 0, "id": lead.pk, "action": "updated"}]
    lead.refresh_from_db()
    assert (lead.external_id, lead.company) == ("crm-7", "Analytical Engines")


def test_an_email_shared_by_several_leads_updates_the_lowest_id(api_admin):
    first = LeadFactory(external_id=None, email="team@example.com", name="First")
    second = LeadFactory(external_id=None, email="team@example.com", name="Second")
    body = post(api_admin, [{"email": "TEAM@example.com", "name": "Updated"}]).json()
    assert body["results"] == [{"row": 0, "id": first.pk, "action": "updated"}]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.name, second.name) == ("Updated", "Second")


def test_a_row_with_an_external_id_never_matches_on_its_email(api_admin):
    stored = LeadFactory(external_id="crm-1", email="ann@example.com", name="Stored")
    body = post(api_admin, [{"external_id": "crm-2", "email": "ann@example.com", "name": "Other"}]).json()
    assert (body["created"], body["updated"]) == (1, 0)
    stored.refresh_from_db()
    assert stored.name == "Stored"
    assert Lead.objects.get(external_id="crm-2").email == "ann@example.com"


def test_a_row_without_external_id_and_an_unknown_email_is_created(api_admin):
    LeadFactory(external_id=None, email="ann@example.com")
    body = post(api_admin, [{"external_id": "", "email": " New@Example.com", "name": "New"}]).json()
    assert (body["created"], body["updated"]) == (1, 0)
    created = Lead.objects.get(pk=body["results"][0]["id"])
    assert (created.external_id, created.email, created.name) == (None, "new@example.com", "New")


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (" ANN@EXAMPLE.COM ", "ann@example.com"),
        ("ann@Straße.de", "ann@strasse.de"),  # case folding, not just lower-casing, as the importer does
        ("\u017fam@example.com", "sam@example.com"),  # a long s
    ],
)
def test_emails_are_stored_stripped_and_casefolded_and_matched_so(api_admin, sent, stored):
    assert post(api_admin, [{"external_id": "crm-1", "email": sent}]).json()["created"] == 1
    assert post(api_admin, [{"email": sent.upper() + " ", "name": "By email"}]).json()["updated"] == 1
    assert list(Lead.objects.values_list("external_id", "email", "name")) == [("crm-1", stored, "By email")]


def test_attributes_are_merged_and_unsent_fields_and_the_outcome_are_kept(api_admin, rep):
    lead = LeadFactory(
        external_id=None,
        email="ann@example.com",
        owner=rep,
        source="Google",
        status=Lead.Status.LOST,
        lost_reason="Too expensive",
        attributes={"TotalVisits": 1, "Keep": "yes", "City": "Pune"},
    )
    rows = [{"email": "ann@example.com", "name": "Ann", "attributes": {"TotalVisits": 7, "City": None}}]
    assert post(api_admin, rows).json()["updated"] == 1
    lead.refresh_from_db()
    assert lead.attributes == {"TotalVisits": 7, "Keep": "yes", "City": None}
    assert (lead.name, lead.source, lead.owner) == ("Ann", "Google", rep)
    assert (lead.status, lead.lost_reason) == (Lead.Status.LOST, "Too expensive")


# --- per-row errors -------------------------------------------------------------------------------


def test_the_same_email_twice_in_one_request_is_an_error_on_the_later_row(api_admin):
    rows = [
        {"email": "ann@example.com", "name": "A"},
        {"email": " ANN@example.com", "name": "B"},
        {"external_id": "crm-1", "email": "ann@example.com", "name": "Has its own key"},
    ]
    error = assert_error(post(api_admin, rows), 400, "leads")
    assert error["fields"]["leads"] == {"1": {"email": ["Appears twice in this request (first at row 0)."]}}
    assert not Lead.objects.exists()

    body = post(api_admin, rows, atomic=False).json()
    assert (body["created"], body["failed"]) == (2, 1)
    assert body["errors"] == [
        {"row": 1, "external_id": None, "fields": {"email": ["Appears twice in this request (first at row 0)."]}}
    ]
    assert sorted(Lead.objects.values_list("name", flat=True)) == ["A", "Has its own key"]


def test_the_same_external_id_twice_names_the_first_row(api_admin):
    rows = [{"external_id": "crm-1", "name": "A"}, {"name": "B"}, {"external_id": " crm-1 ", "name": "C"}]
    error = assert_error(post(api_admin, rows), 400, "leads")
    assert error["fields"]["leads"] == {"2": {"external_id": ["Appears twice in this request (first at row 0)."]}}


def test_a_row_with_other_errors_still_claims_its_key(api_admin):
    # As in a file: the second row is the same lead sent twice, whichever of the two is broken.
    rows = [{"external_id": "crm-1", "email": "broken"}, {"external_id": "crm-1", "name": "Fine"}]
    body = post(api_admin, rows, atomic=False).json()
    assert body["failed"] == 2
    assert body["errors"][1]["fields"] == {"external_id": ["Appears twice in this request (first at row 0)."]}
    assert not Lead.objects.exists()


def test_a_row_without_external_id_or_email_never_updates_a_stored_lead(api_admin):
    # The file importer rejects such a row ("Missing required id (external id or email)."); the bulk
    # API keeps creating it (test_bulk_creates_and_updates_by_external_id), but never matches it.
    stored = LeadFactory(external_id=None, name="Ann", phone="123", company="Acme")
    body = post(api_admin, [{"name": "Ann", "phone": "123", "company": "Changed"}, {}], atomic=False).json()
    assert stored.pk not in [r["id"] for r in body["results"]]
    assert body["errors"][0]["row"] == 1  # a row with nothing at all is always an error
    stored.refresh_from_db()
    assert stored.company == "Acme"


# --- atomic and non-atomic ----------------------------------------------------------------------


def test_atomic_rejects_the_call_when_a_row_is_invalid_and_leaves_the_email_match_alone(api_admin):
    lead = LeadFactory(external_id=None, email="ann@example.com", name="Old")
    rows = [{"email": "ANN@example.com", "name": "New"}, {"external_id": "crm-2", "email": "broken"}]
    error = assert_error(post(api_admin, rows), 400, "leads")
    assert set(error["fields"]["leads"]) == {"1"}
    lead.refresh_from_db()
    assert lead.name == "Old" and Lead.objects.count() == 1


def test_atomic_rolls_back_an_email_matched_update_when_a_later_row_fails_to_write(api_admin):
    lead = LeadFactory(external_id=None, email="ann@example.com", name="Old", attributes={"Keep": 1})
    rows = [
        {"email": "ann@example.com", "name": "New", "attributes": {"TotalVisits": 3}},
        {"external_id": "crm-2", "name": "Fails on write"},
    ]
    with (
        mock.patch("leads.services.lead_create", side_effect=DjangoValidationError({"name": ["Refused."]})),
        mock.patch("leads.bulk.leads_changed_send") as rescore,
    ):
        error = assert_error(post(api_admin, rows), 400, "leads")
    assert error["fields"]["leads"] == {"1": {"name": ["Refused."]}}
    rescore.assert_not_called()
    lead.refresh_from_db()
    assert (lead.name, lead.attributes) == ("Old", {"Keep": 1})
    assert Lead.objects.count() == 1


def test_non_atomic_writes_the_good_rows_matched_by_email_and_reports_the_bad(api_admin):
    lead = LeadFactory(external_id=None, email="ann@example.com", name="Old")
    rows = [
        {"email": "Ann@Example.com", "name": "Ann"},
        {"email": "ann@example.com ", "name": "Twice"},
        {"email": "broken", "name": "Bad"},
        {"email": "grace@example.com", "name": "Grace"},
    ]
    with mock.patch("leads.bulk.leads_changed_send") as rescore:
        body = post(api_admin, rows, atomic=False).json()
    assert (body["created"], body["updated"], body["failed"]) == (1, 1, 2)
    assert [(r["row"], r["action"]) for r in body["results"]] == [(0, "updated"), (3, "created")]
    assert [e["row"] for e in body["errors"]] == [1, 2]
    assert body["errors"][0]["fields"] == {"email": ["Appears twice in this request (first at row 0)."]}
    assert "email" in body["errors"][1]["fields"]
    rescore.assert_called_once_with([r["id"] for r in body["results"]])
    lead.refresh_from_db()
    assert lead.name == "Ann"
    assert sorted(Lead.objects.values_list("email", flat=True)) == ["ann@example.com", "grace@example.com"]


def test_a_lead_matched_by_id_and_by_email_in_one_call_gets_both_rows(api_admin):
    lead = LeadFactory(external_id="crm-1", email="ann@example.com", attributes={})
    rows = [
        {"external_id": "crm-1", "attributes": {"A": 1}},
        {"email": "ann@example.com", "attributes": {"B": 2}},
    ]
    body = post(api_admin, rows).json()
    assert [r["id"] for r in body["results"]] == [lead.pk, lead.pk]
    lead.refresh_from_db()
    assert lead.attributes == {"A": 1, "B": 2}


# --- the selector ---------------------------------------------------------------------------------


def test_leads_matching_costs_two_queries_and_prefers_the_lowest_id(db, django_assert_num_queries):
    first = LeadFactory(external_id="crm-1", email="ann@example.com")
    LeadFactory(external_id=None, email="ann@example.com")
    blank = LeadFactory(external_id="crm-2", email="")
    with django_assert_num_queries(2):
        by_id, by_email = leads_matching(["crm-1", "crm-2", "nope"], ["ann@example.com", "", "x@y.z"])
    assert by_id == {"crm-1": first, "crm-2": blank}
    assert by_email == {"ann@example.com": first}
    with django_assert_num_queries(0):
        assert leads_matching([], []) == ({}, {})


# --- the same rows through a file and through the API ------------------------------------------

_HEADER = ("ID", "Email", "Full name", "Lead Source", "TotalVisits", "City")
_MAPPING = {
    "mapping": {"external_id": "ID", "email": "Email", "name": "Full name", "source": "Lead Source"},
    "column_types": {"TotalVisits": "number"},
}
_ROWS = [
    ["crm-1", " ANN@Example.COM ", "Ann Lovelace", "Google", "5", "Mumbai"],  # by id, email re-cased
    ["", "  Bob@EXAMPLE.com", "Bob", "Referral", "2", "Thane"],  # by email: the lower of two ids
    ["", "dora@example.com", "Dora", "Direct Traffic", "", ""],  # new, by email; blanks are null
    ["crm-5", "Eve@Straße.de", "Eve", "Google", "1", "Pune"],  # new, by id
    ["crm-9", "carol@example.com", "Carol", "Olark Chat", "0", "Delhi"],  # by id, email moves
]


def _seed() -> None:
    """The stored leads both runs start from, created in the same order (ids compare alike)."""
    LeadFactory(external_id="crm-1", name="Ann", email="ann@example.com", attributes={"TotalVisits": 1, "Keep": "x"})
    LeadFactory(external_id=None, name="Bob (old)", email="bob@example.com", phone="555", attributes={"City": "Pune"})
    LeadFactory(external_id=None, name="Bob (later)", email="bob@example.com", attributes={})
    LeadFactory(external_id="crm-9", name="Carol", email="old-carol@example.com", company="Initech", attributes={})


def _api_row(row: list[str]) -> dict:
    """A file row as an API client sends it: the mapped columns as fields, every other column
    (and the source column, which scoring reads there) in attributes, typed as the importer types them."""
    external_id, email, name, source, visits, city = row
    attributes = {"Lead Source": source, "TotalVisits": int(visits) if visits else None, "City": city or None}
    return {"external_id": external_id, "email": email, "name": name, "source": source, "attributes": attributes}


def _stored_leads() -> list[tuple]:
    return list(
        Lead.objects.order_by("id").values_list(
            "external_id", "name", "email", "source", "attributes", "phone", "company", "status"
        )
    )


def test_the_same_rows_through_a_file_and_through_the_api_store_the_same_leads(api_admin, tmp_path):
    _seed()
    job = import_services.import_job_create(
        file=write(tmp_path, simple_csv(_ROWS, _HEADER)), user=None, mapping=_MAPPING
    )
    job = import_services.import_job_run(job_id=job.pk)
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert (job.created_count, job.updated_count, job.failed_count) == (2, 3, 0)
    from_file = _stored_leads()

    Lead.objects.all().delete()
    _seed()
    response = post(api_admin, [_api_row(row) for row in _ROWS])
    assert response.status_code == 200, response.content
    assert (response.json()["created"], response.json()["updated"]) == (2, 3)
    from_api = _stored_leads()

    assert from_api == from_file
    names = [lead[1] for lead in from_file]
    assert names == ["Ann Lovelace", "Bob", "Bob (later)", "Carol", "Dora", "Eve"]
    assert from_file[0][2] == "ann@example.com" and from_file[0][4] == {
        "TotalVisits": 5,
        "Keep": "x",
        "Lead Source": "Google",
        "City": "Mumbai",
    }
    assert (
        from_file[1][4] == {"City": "Thane", "Lead Source": "Referral", "TotalVisits": 2} and from_file[1][5] == "555"
    )
    assert (from_file[3][2], from_file[3][6]) == ("carol@example.com", "Initech")
    assert from_file[5][2] == "eve@strasse.de"
