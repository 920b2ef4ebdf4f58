"""'²'.isdigit() is True but int('²') fails: ids typed by users are ASCII digits or they are names."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leadcrm.inputs import is_ascii_int
from leads import selectors
from leads.reports.selectors import ReportFilters
from tests.api.conftest import token_client
from tests.factories import LeadFactory

NOT_ASCII_DIGITS = ["²", "①", "٣", "1²", "", " 1", "-1"]


@pytest.mark.parametrize("text", NOT_ASCII_DIGITS)
def test_only_ascii_digits_are_ids(text):
    assert not is_ascii_int(text)


def test_ascii_digits_are_ids():
    assert is_ascii_int("0") and is_ascii_int("123")
    assert not is_ascii_int(None)


@pytest.mark.parametrize("profile", ["²", "①", "٣"])
def test_import_with_a_superscript_profile_is_a_400_not_a_500(admin_user, profile):
    upload = SimpleUploadedFile("leads.csv", b"ID,Name\n1,Ada\n", content_type="text/csv")
    response = token_client(admin_user).post(
        "/api/v1/imports/", {"file": upload, "profile": profile}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]["profile"] == [f"No import profile {profile!r}."]


def test_queue_owner_filter_with_a_superscript_does_not_crash(manager):
    LeadFactory()
    page = selectors.queue_for(manager, selectors.QueueFilters(owner="²"))
    assert page is not None


def test_report_owner_filter_with_a_superscript_does_not_crash(db):
    assert ReportFilters(owner="²").lead_q() is not None


def test_model_compare_with_superscript_ids_is_not_a_500(manager_client):
    response = manager_client.get("/models/compare/", {"a": "²", "b": "1"})
    assert response.status_code == 302
