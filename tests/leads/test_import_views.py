import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.importing import services
from leads.models import ImportJob
from tests.leads.import_samples import write, x_education_profile, xeducation_csv


@pytest.fixture
def x_profile(db):
    return x_education_profile()


def test_admin_uploads_a_file_on_the_imports_page(admin_client_crm, x_profile, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("leads.csv", xeducation_csv(6).encode())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_crm.post("/imports/", {"file": upload, "profile": x_profile.pk, "mode": "atomic"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/"
    job.refresh_from_db()
    page = admin_client_crm.get(response["Location"]).content.decode()
    # The finished job's status stops polling (the header's notification badge polls on every page).
    job_status = page[page.index('<section id="job-status"') :].split("</section>", 1)[0]
    assert "Succeeded" in job_status and "hx-trigger" not in job_status
    assert job.created_count == 6
    listing = admin_client_crm.get("/imports/").content.decode()
    assert "leads.csv" in listing and f"/imports/{job.pk}/" in listing


def test_bad_upload_shows_the_reason_on_the_form(admin_client_crm, x_profile):
    upload = SimpleUploadedFile("leads.csv", b"")
    response = admin_client_crm.post("/imports/", {"file": upload, "profile": x_profile.pk, "mode": "atomic"})
    assert response.status_code == 200
    assert "The file is empty." in response.content.decode() or "empty" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_running_job_polls_every_second_with_htmx(admin_client_crm, x_profile, tmp_path):
    job = services.import_job_create(file=write(tmp_path, xeducation_csv(3)), user=None, profile=x_profile)
    ImportJob.objects.filter(pk=job.pk).update(status="running", rows_total=100, rows_done=40)
    page = admin_client_crm.get(f"/imports/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and 'value="40"' in page and "40%" in page
    partial = admin_client_crm.get(f"/imports/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith("<section") and "<html" not in partial


def test_failed_job_shows_errors_and_the_error_csv(admin_client_crm, x_profile, tmp_path):
    job = services.import_job_create(
        file=write(tmp_path, xeducation_csv(3).replace("p-000002,", ",", 1)), user=None, profile=x_profile
    )
    services.import_job_run(job_id=job.pk)
    page = admin_client_crm.get(f"/imports/{job.pk}/").content.decode()
    assert "Missing required id" in page and f"/imports/{job.pk}/errors.csv" in page
    csv_response = admin_client_crm.get(f"/imports/{job.pk}/errors.csv")
    body = b"".join(csv_response.streaming_content).decode()
    assert body.splitlines()[0].endswith(",import_row,import_errors")


@pytest.mark.parametrize("client_name", ["rep_client", "manager_client"])
def test_only_admins_see_import_pages(request, client_name, x_profile):
    client = request.getfixturevalue(client_name)
    assert client.get("/imports/").status_code == 403
    assert client.get("/imports/1/").status_code == 403
