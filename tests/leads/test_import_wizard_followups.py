"""Follow-ups of the import wizard's QA pass: outcome values past the sample, a draft gone at the
import click, and created dates written as Excel serial numbers."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.importing import wizard
from leads.models import ImportJob, ImportProfile


@pytest.fixture
def wizard_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_the_import_click_whose_uploaded_file_is_gone_starts_over_with_the_reason(admin_client_crm, wizard_media):
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", b"Email\na@x.io\n")})
    admin_client_crm.post("/imports/new/map/", {"email": "Email"})
    assert admin_client_crm.get("/imports/new/preview/").status_code == 200
    for path in (wizard_media / "imports" / "wizard").iterdir():
        path.unlink()
    response = admin_client_crm.post(
        "/imports/new/preview/", {"profile_name": "deals", "mode": "skip_bad"}, follow=True
    )
    assert response.redirect_chain == [("/imports/new/", 302)]
    assert "The uploaded file deals.csv is no longer here; upload it again." in response.content.decode()


def test_an_uploaded_file_removed_while_the_import_starts_starts_over_with_the_reason(
    admin_client_crm, wizard_media, monkeypatch
):
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", b"Email\na@x.io\n")})
    admin_client_crm.post("/imports/new/map/", {"email": "Email"})
    read = wizard.sample_read

    def read_then_removed(path, **kwargs):  # the retention (or another tab) removes it just after the read
        sample = read(path, **kwargs)
        path.unlink()
        return sample

    monkeypatch.setattr(wizard, "sample_read", read_then_removed)
    response = admin_client_crm.post(
        "/imports/new/preview/", {"profile_name": "deals", "mode": "skip_bad"}, follow=True
    )
    assert response.redirect_chain == [("/imports/new/", 302)]
    assert "The uploaded file deals.csv is no longer here; upload it again." in response.content.decode()
    assert not ImportProfile.objects.filter(name="deals").exists() and not ImportJob.objects.exists()


def test_the_import_click_in_a_second_tab_after_the_import_started_says_why_it_starts_over(
    admin_client_crm, wizard_media, django_capture_on_commit_callbacks
):
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", b"Email\na@x.io\n")})
    admin_client_crm.post("/imports/new/map/", {"email": "Email"})
    with django_capture_on_commit_callbacks(execute=True):
        first = admin_client_crm.post("/imports/new/preview/", {"profile_name": "deals", "mode": "skip_bad"})
    assert first.status_code == 302 and ImportJob.objects.count() == 1
    again = admin_client_crm.post("/imports/new/preview/", {"profile_name": "deals2", "mode": "skip_bad"}, follow=True)
    assert again.redirect_chain == [("/imports/new/", 302)]
    assert "No file is waiting in the import wizard" in again.content.decode()
    assert ImportJob.objects.count() == 1
