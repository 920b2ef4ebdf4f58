"""Follow-ups of the import wizard's QA pass: outcome values past the sample, a draft gone at the
import click, and created dates written as Excel serial numbers."""

from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from leads.importing import services, wizard
from leads.models import ImportJob, ImportProfile, Lead


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


# --- Created dates written as Excel serial numbers -------------------------------------------------

SERIAL_CSV = "Email,Created,Visits\na@x.io,45356,45356\nb@x.io,45356.75,20\nc@x.io,,3\nd@x.io,12,4\n"


def test_created_dates_written_as_excel_serials_are_read_as_dates(tmp_path, db):
    path = tmp_path / "serials.csv"
    path.write_text(SERIAL_CSV)
    job = services.import_job_create(
        file=path, user=None, mapping={"mapping": {"email": "Email", "created_at": "Created"}}, mode="skip_bad"
    )
    job = services.import_job_run(job_id=job.pk)
    assert (job.status, job.created_count, job.failed_count) == ("succeeded", 3, 1)
    created = {lead.email: lead.created_at for lead in Lead.objects.all()}
    assert timezone.localtime(created["a@x.io"]).replace(tzinfo=None) == datetime(2024, 3, 5)
    assert timezone.localtime(created["b@x.io"]).replace(tzinfo=None) == datetime(2024, 3, 5, 18, 0)
    # A number out of the serial range is no date; an attribute column's numbers stay numbers.
    error = job.row_errors.get()
    assert (error.column, error.value) == ("Created", "12") and error.message.startswith("Wrong type")
    assert Lead.objects.get(email="a@x.io").attributes == {"Visits": 45356}


def test_wizard_shows_excel_serial_created_dates_as_the_job_reads_them(admin_client_crm, wizard_media):
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("serials.csv", SERIAL_CSV.encode())})
    page = admin_client_crm.get("/imports/new/map/").content.decode()
    assert 'data-column="Created"><small>number (Excel date serials' not in page  # 12 is no serial
    admin_client_crm.post("/imports/new/map/", {"email": "Email", "created_at": "Created"})
    response = admin_client_crm.get("/imports/new/preview/")
    preview = response.context["preview"]
    assert [timezone.localtime(r["fields"]["created_at"]).replace(tzinfo=None) for r in preview.records[:2]] == [
        datetime(2024, 3, 5), datetime(2024, 3, 5, 18, 0),
    ]  # fmt: skip
    assert (preview.failed, preview.errors[0].value) == (1, "12")
    note = " ".join(response.content.decode().split())
    assert "Excel serial numbers are read as dates (1900 date system): 45356 is 2024-03-05." in note


def test_wizard_column_summary_names_a_column_of_excel_serials(admin_client_crm, wizard_media):
    text = "Email,Created\na@x.io,45356\nb@x.io,45357.5\n"
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("serials.csv", text.encode())})
    page = admin_client_crm.get("/imports/new/map/").content.decode()
    assert 'data-column="Created"><small>number (Excel date serials: dates as the created date) · 2 distinct' in page


# --- Outcome values past the sample ----------------------------------------------------------------


def deals_csv(rows: int, rare_at: int, rare: str = "Closed - Duplicate") -> str:
    lines = ["ID,Email,Stage"]
    for i in range(1, rows + 1):
        stage = rare if i == rare_at else ("Won", "Lost", "Open")[i % 3]
        lines.append(f"{i},l{i}@x.io,{stage}")
    return "\n".join(lines) + "\n"


def outcome_answers(form, meanings: dict[str, str]) -> dict[str, str]:
    return {
        name: meanings.get(field.outcome_value, "open")
        for name, field in form.fields.items()
        if hasattr(field, "outcome_value")
    }


@pytest.fixture
def small_sample(settings):
    settings.IMPORT_PREVIEW_ROWS = 20


@pytest.mark.parametrize("ragged", [False, True], ids=["arrow", "csv-module"])
def test_outcome_step_offers_values_first_seen_past_the_sample_and_the_job_keeps_their_rows(
    admin_client_crm, wizard_media, small_sample, django_capture_on_commit_callbacks, ragged
):
    text = deals_csv(60, rare_at=50)
    if ragged:  # a row the fast reader cannot take: the values are counted row by row
        text += "61,l61@x.io,Won,extra\n"
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", text.encode())})
    admin_client_crm.post("/imports/new/map/", {"external_id": "ID", "email": "Email", "outcome_column": "Stage"})
    page = admin_client_crm.get("/imports/new/outcomes/")
    assert 'data-value="Closed - Duplicate"' in page.content.decode()
    assert "&#x27;Closed - Duplicate&#x27; (1 rows)" in page.content.decode()
    answers = outcome_answers(page.context["form"], {"Won": "converted", "Lost": "lost", "Closed - Duplicate": "lost"})
    answered = admin_client_crm.post("/imports/new/outcomes/", {**answers, "lost_reason": "gone"})
    assert answered.url == "/imports/new/columns/"
    preview = admin_client_crm.get("/imports/new/preview/")
    assert preview.context["unclassified"] == []
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_crm.post("/imports/new/preview/", {"profile_name": "deals", "mode": "skip_bad"})
    job = ImportJob.objects.get()
    job.refresh_from_db()
    assert job.status == "succeeded" and job.failed_count == (1 if ragged else 0)
    assert Lead.objects.get(email="l50@x.io").status == "lost"


def test_preview_names_outcome_values_past_the_sample_that_have_no_meaning(
    admin_client_crm, wizard_media, small_sample
):
    first = deals_csv(30, rare_at=0)
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", first.encode())})
    admin_client_crm.post("/imports/new/map/", {"external_id": "ID", "email": "Email", "outcome_column": "Stage"})
    form = admin_client_crm.get("/imports/new/outcomes/").context["form"]
    answers = outcome_answers(form, {"Won": "converted", "Lost": "lost"})
    admin_client_crm.post("/imports/new/outcomes/", {**answers, "lost_reason": "gone"})
    # The same export, fixed and uploaded again: the outcome meanings are kept, its new value has none.
    again = deals_csv(60, rare_at=50)
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", again.encode())})
    response = admin_client_crm.get("/imports/new/preview/")
    assert response.context["preview"].failed == 0  # the sample does not show it
    assert response.context["unclassified"] == [("Stage", "Closed - Duplicate", 1)]
    assert "Stage: Closed - Duplicate (1 rows)" in response.content.decode()


def test_an_outcome_column_with_too_many_values_says_so(admin_client_crm, wizard_media, small_sample):
    lines = ["Email,Stage"] + [f"l{i}@x.io,{('Won', 'Lost')[i % 2] if i <= 20 else f'S{i}'}" for i in range(1, 300)]
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", "\n".join(lines).encode())})
    admin_client_crm.post("/imports/new/map/", {"email": "Email", "outcome_column": "Stage"})
    page = admin_client_crm.get("/imports/new/outcomes/")
    assert page.context["form"].too_many == ["Stage"]
    assert "Stage has more than 200 distinct values" in page.content.decode()
    assert sorted(f.outcome_value for f in page.context["form"].fields.values() if hasattr(f, "outcome_value")) == [
        "Lost", "Won",
    ]  # fmt: skip
