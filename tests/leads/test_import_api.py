import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.models import ImportJob, Lead
from tests.leads.import_samples import (
    CHANNEL_MAPPING,
    SIMPLE_MAPPING,
    channel_csv,
    simple_csv,
    x_education_profile,
    xeducation_csv,
)

URL = "/api/v1/imports/"


@pytest.fixture
def x_profile(db):
    return x_education_profile()


def upload(text, name="leads.csv"):
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type="text/csv")


def post(client, django_capture_on_commit_callbacks, **data):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(URL, data)


def test_admin_imports_a_file_and_follows_the_job(admin_client_crm, x_profile, django_capture_on_commit_callbacks):
    response = post(
        admin_client_crm, django_capture_on_commit_callbacks, file=upload(xeducation_csv(20)), profile="x_education"
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    detail = admin_client_crm.get(f"{URL}{job_id}/").json()
    assert detail["status"] == "succeeded"
    assert detail["progress"] == {"rows_done": 20, "rows_total": 20, "percent": 100}
    assert detail["counts"]["created"] == 20 and detail["profile"] == "x_education"
    assert detail["created_by"] == "root" and len(detail["file_sha256"]) == 64
    assert detail["errors"]["count"] == 0
    assert Lead.objects.count() == 20


def test_profile_by_id_and_dry_run(admin_client_crm, x_profile, django_capture_on_commit_callbacks):
    response = post(
        admin_client_crm,
        django_capture_on_commit_callbacks,
        file=upload(xeducation_csv(5)),
        profile=str(x_profile.pk),
        dry_run="true",
    )
    assert response.status_code == 202
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.dry_run and job.status == "succeeded" and job.created_count == 5
    assert Lead.objects.count() == 0


def test_inline_mapping_skip_bad_with_paginated_errors_and_csv(
    admin_client_crm, django_capture_on_commit_callbacks, settings
):
    rows = [[f"a{i}", "bad" if i % 2 else f"a{i}@x.io", "N", "", "", ""] for i in range(250)]
    response = post(
        admin_client_crm,
        django_capture_on_commit_callbacks,
        file=upload(simple_csv(rows)),
        mapping=json.dumps(SIMPLE_MAPPING),
        mode="skip-bad",
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    detail = admin_client_crm.get(f"{URL}{job_id}/").json()
    assert detail["counts"]["created"] == 125 and detail["counts"]["failed"] == 125
    assert detail["errors"]["count"] == 125 and detail["errors"]["pages"] == 2
    assert detail["errors"]["results"][0] == {
        "row": 3,
        "column": "Email",
        "value": "bad",
        "message": "Malformed email address.",
    }
    page2 = admin_client_crm.get(detail["errors"]["next"]).json()
    assert len(page2["errors"]["results"]) == 25
    csv_response = admin_client_crm.get(f"{URL}{job_id}/errors.csv")
    assert csv_response.status_code == 200 and csv_response["Content-Type"] == "text/csv"
    lines = b"".join(csv_response.streaming_content).decode().splitlines()
    assert lines[0] == "ID,Email,Full name,Phone,Won,Score,import_row,import_errors"
    assert len(lines) == 126


def test_inline_mapping_maps_campaign_and_value_columns(admin_client_crm, django_capture_on_commit_callbacks):
    rows = [["a1", "", "Google", "spring", "$1,200.00", "Won"], ["a2", "", "Google", "spring", "-3", "Won"]]
    response = post(
        admin_client_crm,
        django_capture_on_commit_callbacks,
        file=upload(channel_csv(rows)),
        mapping=json.dumps(CHANNEL_MAPPING),
        mode="skip_bad",
    )
    assert response.status_code == 202, response.content
    detail = admin_client_crm.get(f"{URL}{response.json()['id']}/").json()
    assert detail["counts"]["created"] == 1 and detail["errors"]["results"] == [
        {"row": 3, "column": "Deal value", "value": "-3", "message": "An amount of money cannot be negative."}
    ]
    lead = Lead.objects.get(external_id="a1")
    assert (lead.campaign, lead.converted_value) == ("spring", Decimal("1200.00"))


def test_rep_cannot_import(rep_client, x_profile):
    response = rep_client.post(URL, {"file": upload(xeducation_csv(2)), "profile": "x_education"})
    assert response.status_code == 403
    assert rep_client.get(URL).status_code == 403
    assert ImportJob.objects.count() == 0


def test_manager_cannot_import(manager_client, x_profile):
    assert manager_client.post(URL, {"file": upload(xeducation_csv(2)), "profile": "x_education"}).status_code == 403


def test_anonymous_cannot_import(client, x_profile):
    assert client.post(URL, {"file": upload(xeducation_csv(2)), "profile": "x_education"}).status_code in (401, 403)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"profile": "x_education"}, "file"),
        ({"file": "not-a-file", "profile": "x_education"}, "file"),
        ({"file": ("leads.csv", xeducation_csv(2))}, "profile"),
        ({"file": ("leads.csv", xeducation_csv(2)), "profile": "nope"}, "No import profile"),
        ({"file": ("leads.csv", xeducation_csv(2)), "mapping": "{not json"}, "valid JSON"),
        ({"file": ("leads.csv", xeducation_csv(2)), "mapping": '{"mapping": {"colour": "X"}}'}, "Unknown lead fields"),
        # Files without an id column import since issue 14 (rows keyed by content); bad mappings still 400.
        ({"file": ("leads.csv", xeducation_csv(2)), "mapping": '{"mapping": {"last_name": "X"}}'}, "first) name"),
        ({"file": ("leads.csv", xeducation_csv(2)), "mapping": '{"mapping": {"name": "X"}}'}, "lacks the mapped"),
        ({"file": ("leads.csv", xeducation_csv(2)), "profile": "x_education", "mode": "yolo"}, "mode"),
        ({"file": ("leads.csv", b""), "profile": "x_education"}, "empty"),
        ({"file": ("leads.csv", b"\x00\x01\x02" * 100), "profile": "x_education"}, "binary"),
        ({"file": ("leads.xlsx", b"a,b\n1,2\n"), "profile": "x_education"}, "not an XLSX"),
        ({"file": ("leads.csv", b"a,b\n"), "profile": "x_education"}, "no data rows"),
        ({"file": ("leads.csv", b"a,b\n1,2\n"), "profile": "x_education"}, "lacks the mapped column"),
    ],
)
def test_bad_requests_get_a_readable_400(admin_client_crm, x_profile, data, needle):
    if isinstance(data.get("file"), tuple):
        name, content = data["file"]
        data = {**data, "file": upload(content, name)}
    response = admin_client_crm.post(URL, data)
    assert response.status_code == 400, response.content
    assert needle.lower() in response.content.decode().lower()
    assert ImportJob.objects.count() == 0


def test_file_above_the_size_limit_gets_400(admin_client_crm, x_profile, settings):
    settings.IMPORT_MAX_FILE_BYTES = 50
    response = admin_client_crm.post(URL, {"file": upload(xeducation_csv(3)), "profile": "x_education"})
    assert response.status_code == 400 and "IMPORT_MAX_FILE_BYTES" in response.json()["error"]["message"]


def test_unknown_job_is_404_and_resume_of_a_finished_job_is_400(
    admin_client_crm, x_profile, django_capture_on_commit_callbacks
):
    assert admin_client_crm.get(f"{URL}999/").status_code == 404
    response = post(
        admin_client_crm, django_capture_on_commit_callbacks, file=upload(xeducation_csv(2)), profile="x_education"
    )
    resume = admin_client_crm.post(f"{URL}{response.json()['id']}/resume/")
    assert resume.status_code == 400 and "can be resumed" in resume.json()["error"]["message"]


def test_schema_describes_the_import_endpoints(admin_client_crm):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    post_op = schema["paths"]["/api/v1/imports/"]["post"]
    assert "multipart/form-data" in post_op["requestBody"]["content"]
    assert "202" in post_op["responses"] and "400" in post_op["responses"]
    assert "/api/v1/imports/{id}/errors.csv" in schema["paths"]
    assert "ImportProgress" in schema["components"]["schemas"]
