import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.models import ImportJob, Lead
from tests.factories import ActivityFactory, LeadFactory
from tests.leads.import_samples import channel_csv, x_education_profile, xeducation_csv

IMPORT_URL = "/admin/leads/lead/import/"


@pytest.fixture
def x_profile(db):
    return x_education_profile()


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    assert match, f"no hidden {name} in the confirm form"
    return match.group(1)


def test_admin_import_previews_then_confirms_with_the_profile_mapping(admin_client_crm, x_profile, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("leads.csv", xeducation_csv(8).encode())
    preview = admin_client_crm.post(
        IMPORT_URL, {"import_file": upload, "format": "0", "profile": x_profile.pk, "mode": "atomic"}
    )
    assert preview.status_code == 200
    html = preview.content.decode()
    assert "process_import" in html, html[:3000]
    assert Lead.objects.count() == 0  # the preview is a dry run
    preview_job = ImportJob.objects.get()
    assert preview_job.dry_run and preview_job.created_count == 8  # listed on /imports/
    confirm = {name: _hidden(html, name) for name in ("job",)}
    done = admin_client_crm.post("/admin/leads/lead/process_import/", confirm)
    assert done.status_code == 302
    assert ImportJob.objects.filter(dry_run=False, status="succeeded", created_count=8).exists()
    assert Lead.objects.count() == 8
    lead = Lead.objects.get(external_id="p-000003")
    assert lead.status == Lead.Status.CONVERTED and lead.converted_at is not None
    assert lead.attributes["City"] != "Select" and "Converted" not in lead.attributes
    assert len(set(Lead.objects.filter(source__iexact="google").values_list("source", flat=True))) == 1

    # The same file again: every row unchanged (skipped), nothing rewritten.
    again = admin_client_crm.post(
        IMPORT_URL,
        {"import_file": SimpleUploadedFile("leads.csv", xeducation_csv(8).encode()), "format": "0",
         "profile": x_profile.pk, "mode": "atomic"},
    )  # fmt: skip
    assert again.status_code == 200
    assert Lead.objects.count() == 8
    assert "process_import" not in again.content.decode()  # nothing would be written: no confirm
    assert "no row would be created or changed" in again.content.decode()


def test_admin_preview_shows_row_errors(admin_client_crm, x_profile):
    text = xeducation_csv(3).replace("p-000002,", ",", 1)
    response = admin_client_crm.post(
        IMPORT_URL,
        {"import_file": SimpleUploadedFile("leads.csv", text.encode()), "format": "0", "profile": x_profile.pk,
         "mode": "atomic"},
    )  # fmt: skip
    html = response.content.decode()
    assert "Missing required id" in html
    assert "process_import" not in html
    assert Lead.objects.count() == 0


def test_large_admin_upload_hands_over_to_an_import_job(
    admin_client_crm, x_profile, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_ADMIN_SYNC_MAX_ROWS = 5
    upload = SimpleUploadedFile("big.csv", xeducation_csv(12).encode())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_crm.post(
            IMPORT_URL, {"import_file": upload, "format": "0", "profile": x_profile.pk, "mode": "skip_bad"}
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/"
    job.refresh_from_db()
    assert job.status == "succeeded" and job.mode == "skip_bad" and Lead.objects.count() == 12


def test_rep_has_no_admin_access(rep_client, x_profile):
    response = rep_client.get(IMPORT_URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = rep_client.post(
        IMPORT_URL, {"import_file": SimpleUploadedFile("a.csv", xeducation_csv(2).encode()), "format": "0"}
    )
    assert response.status_code == 302 and Lead.objects.count() == 0


def test_staff_manager_cannot_import_but_can_export(client, x_profile):
    from tests.factories import ManagerFactory

    manager = ManagerFactory(username="staffboss", is_staff=True, is_superuser=False)
    from django.contrib.auth.models import Permission

    manager.user_permissions.add(*Permission.objects.filter(codename__in=["view_lead", "change_lead"]))
    client.force_login(manager)
    assert client.get(IMPORT_URL).status_code == 403
    assert client.get("/admin/leads/lead/export/").status_code == 200


def test_export_neutralises_formula_injection(admin_client_crm, rep):
    LeadFactory(name='=HYPERLINK("http://evil.example","click")', company="+cmd", email="a@x.io", owner=rep, score=71)
    LeadFactory(name="Plain Person", company="@Acme", email="b@x.io")
    response = admin_client_crm.post(
        "/admin/leads/lead/export/",
        {"format": "0", **{f"leadexportresource_{f}": "on" for f in ("name", "company", "score", "tier", "owner",
                                                                     "status")}},
    )  # fmt: skip
    assert response.status_code == 200, response.content[:500]
    body = response.content.decode()
    assert "'=HYPERLINK" in body and "'+cmd" in body and "'@Acme" in body
    assert ",=HYPERLINK" not in body and '"=HYPERLINK' not in body
    assert "rep_alice" in body and "71" in body


def test_export_carries_the_channel_and_the_converted_value(admin_client_crm):
    LeadFactory(
        name="Won Lead", email="w@x.io", source="Google", campaign="=spring", status="converted",
        converted_value=Decimal("1200.50"),
    )  # fmt: skip
    response = admin_client_crm.post(
        "/admin/leads/lead/export/",
        {"format": "0", **{f"leadexportresource_{f}": "on" for f in ("name", "source", "campaign",
                                                                     "converted_value")}},
    )  # fmt: skip
    assert response.status_code == 200, response.content[:500]
    header, row = response.content.decode().splitlines()[:2]
    assert header.split(",") == ["name", "source", "campaign", "converted_value"]
    assert row.split(",") == ["Won Lead", "Google", "'=spring", "1200.50"]


def test_merge_action_folds_the_newer_lead_into_the_older(admin_client_crm):
    older = LeadFactory(external_id="a", email="same@x.io")
    newer = LeadFactory(external_id="b", email="same@x.io")
    ActivityFactory(lead=newer)
    response = admin_client_crm.post(
        "/admin/leads/lead/", {"action": "merge_leads", "_selected_action": [older.pk, newer.pk]}
    )
    assert response.status_code == 302
    assert list(Lead.objects.values_list("pk", flat=True)) == [older.pk]
    assert older.activities.filter(kind="call").count() == 1


def test_xlsx_export_cells_are_text_not_formulas(admin_client_crm):
    import io

    from openpyxl import load_workbook

    LeadFactory(name="=1+1", company="-2", email="a@x.io", phone="+1-555-0100")
    response = admin_client_crm.post(
        "/admin/leads/lead/export/",
        {"format": "1", **{f"leadexportresource_{f}": "on" for f in ("name", "company", "phone", "status",
                                                                     "created_at")}},
    )  # fmt: skip
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    # Text cells are text: no formula, and no apostrophe either (CSV keeps it: see above).
    assert "=1+1" in values and "-2" in values and "+1-555-0100" in values
    assert not any(isinstance(v, str) and v.startswith("'") for v in values)
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


# --- the admin door runs the import pipeline: each hostile file of issue 14 -----------------


def _admin_preview(client, profile, content: bytes, name="leads.csv", mode="atomic"):
    upload = SimpleUploadedFile(name, content)
    response = client.post(IMPORT_URL, {"import_file": upload, "format": "0", "profile": profile.pk, "mode": mode})
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def simple_profile(db):
    from leads.models import ImportProfile

    return ImportProfile.objects.create(
        name="simple", mapping={"external_id": "ID", "name": "Name"}, outcome_column="Won",
        converted_values=["yes"], lost_values=["no"],
    )  # fmt: skip


def test_admin_unterminated_quote_writes_nothing_and_names_the_quote(
    admin_client_crm, simple_profile, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path
    text = 'ID,Name,Won\nadv-1,Ann,yes\nadv-2,"Bob,no\nadv-3,Cy,no\n'
    html = _admin_preview(admin_client_crm, simple_profile, text.encode())
    assert "quote (&quot;) opened on line 3" in html and "never closed" in html
    assert "process_import" not in html and Lead.objects.count() == 0


def test_admin_refuses_a_file_wider_than_the_column_limit(admin_client_crm, simple_profile, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    header = ["ID", "Name", "Won", *(f"c{i}" for i in range(5008))]
    text = ",".join(header) + "\n" + ",".join(["a", "A", "yes", *(["1"] * 5008)]) + "\n"
    html = _admin_preview(admin_client_crm, simple_profile, text.encode())
    assert "5,011 columns; the limit is 5,000" in html and "process_import" not in html
    assert not ImportJob.objects.exists()


def test_admin_reads_a_cp1252_file(admin_client_crm, simple_profile, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    text = "ID,Name,Won,City\na1,Zoë Müller,yes,Zürich\na2,François,no,Besançon\n"
    html = _admin_preview(admin_client_crm, simple_profile, text.encode("cp1252"))
    assert "UnicodeDecodeError" not in html and "process_import" in html
    admin_client_crm.post("/admin/leads/lead/process_import/", {"job": _hidden(html, "job")})
    assert Lead.objects.get(external_id="a1").name == "Zoë Müller"
    assert Lead.objects.get(external_id="a2").attributes["City"] == "Besançon"


def test_admin_ragged_rows_are_per_row_errors_and_skip_bad_imports_the_rest(
    admin_client_crm, simple_profile, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path
    text = "ID,Name,Won\na1,Ann,yes\na2,Bob\na3,Cy,no,extra\na4,Di,no\n"
    html = _admin_preview(admin_client_crm, simple_profile, text.encode(), mode="skip_bad")
    assert "InvalidDimensions" not in html
    assert "The row has 2 fields but the header has 3." in html and "The row has 4 fields but the header has 3." in html
    assert "process_import" in html
    admin_client_crm.post("/admin/leads/lead/process_import/", {"job": _hidden(html, "job")})
    assert set(Lead.objects.values_list("external_id", flat=True)) == {"a1", "a4"}


def test_admin_preview_is_compact_and_says_what_it_imports(admin_client_crm, x_profile, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    html = _admin_preview(admin_client_crm, x_profile, xeducation_csv(199).encode())
    assert len(html) < 60_000  # ten rows shown, mapped fields + a count of attributes, never raw JSON
    assert "35 attributes" in html and '{"' not in html
    assert "external_id, email, name" in html  # the lead fields, listed
    job = ImportJob.objects.get()
    listing = admin_client_crm.get("/imports/").content.decode()
    assert f'href="/imports/{job.pk}/"' in listing


def test_admin_offers_no_confirm_when_every_row_is_skipped(admin_client_crm, simple_profile, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    text = "ID,Name,Won\na1,Ann,maybe\na2,Bob,perhaps\n"
    html = _admin_preview(admin_client_crm, simple_profile, text.encode(), mode="skip_bad")
    assert "process_import" not in html and "the import would fail" in html
    assert ImportJob.objects.get().status == "failed"
    # A forged confirm of a failed preview writes nothing either.
    response = admin_client_crm.post("/admin/leads/lead/process_import/", {"job": ImportJob.objects.get().pk})
    assert response.status_code == 302 and Lead.objects.count() == 0


def test_admin_cell_over_the_limit_and_control_characters(admin_client_crm, simple_profile, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_MAX_CELL_CHARS = 100
    text = f"ID,Name,Won,Notes\na1,Ann\u202e,yes,ok\na2,Bob,no,{'x' * 101}\n"
    html = _admin_preview(admin_client_crm, simple_profile, text.encode(), mode="skip_bad")
    assert "The cell has 101 characters; the limit is 100 (IMPORT_MAX_CELL_CHARS)." in html
    admin_client_crm.post("/admin/leads/lead/process_import/", {"job": _hidden(html, "job")})
    assert list(Lead.objects.values_list("name", flat=True)) == ["Ann"]


# --- the admin's import profile form: no JSON, the pipeline's own checks beside each field ------

PROFILE_ADD = "/admin/leads/importprofile/add/"


def _profile_form(**overrides):
    data = {"name": "acme", "description": "", "outcome_column": "", "lost_reason": "imported outcome",
            "delimiter": "", "encoding": "", "map_external_id": "", "map_email": "Email", "map_name": "Name",
            "converted_values": "", "lost_values": "", "open_values": "", "placeholder_values": "",
            "column_types": "", "excluded_columns": "", "column_limits": "", "date_orders": "",
            "extra_outcomes": ""}  # fmt: skip
    return {**data, **overrides}


def test_profile_form_saves_plain_fields_as_a_valid_profile(admin_client_crm):
    from leads.models import ImportProfile

    response = admin_client_crm.post(
        PROFILE_ADD,
        _profile_form(outcome_column="Stage", converted_values="Won, Closed won", lost_values="Lost",
                      open_values="Open", column_types="Visits: number\nSigned up: date",
                      column_limits="Visits: 0..", date_orders="Signed up: dmy",
                      excluded_columns="Notes: after the fact", extra_outcomes="Disqualified: lost=yes"),
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-3000:]
    profile = ImportProfile.objects.get(name="acme")
    assert profile.mapping == {"email": "Email", "name": "Name"}
    assert profile.converted_values == ["Won", "Closed won"] and profile.open_values == ["Open"]
    assert profile.column_limits == {"Visits": {"min": 0.0}} and profile.date_orders == {"Signed up": "dmy"}
    assert profile.extra_outcomes == {"Disqualified": {"converted": [], "lost": ["yes"], "open": []}}
    assert profile.excluded_columns == {"Notes": "after the fact"}
    page = admin_client_crm.get(f"/admin/leads/importprofile/{profile.pk}/change/").content.decode()
    assert "Visits: 0.." in page and "Won, Closed won" in page


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        ({"outcome_column": "Stage"}, "outcome_column", "needs converted_values"),
        ({"map_name": "Email"}, "map_name", "two lead fields"),
        ({"column_types": "Visits: huge"}, "column_types", "column_types"),
        ({"column_limits": "Visits: 5..1"}, "column_limits", "min is above the max"),
        ({"column_limits": "Visits 5"}, "column_limits", "Column: value"),
        ({"map_last_name": "Last", "map_name": ""}, "map_last_name", "last-name column"),
    ],
)
def test_profile_form_shows_the_pipelines_error_beside_the_field(admin_client_crm, overrides, field, needle):
    response = admin_client_crm.post(PROFILE_ADD, _profile_form(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and needle in " ".join(errors[field]), errors


def test_profile_form_maps_campaign_and_value_and_the_admin_import_stores_them(admin_client_crm, tmp_path, settings):
    from leads.models import ImportProfile

    settings.MEDIA_ROOT = tmp_path
    form = admin_client_crm.get(PROFILE_ADD).content.decode()
    assert 'name="map_campaign"' in form and 'name="map_converted_value"' in form
    response = admin_client_crm.post(
        PROFILE_ADD,
        _profile_form(map_email="", map_name="", map_external_id="Lead ID", map_source="Source",
                      map_campaign="utm_campaign", map_converted_value="Deal value", outcome_column="Stage",
                      converted_values="Won", lost_values="Lost", open_values="Open"),
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-3000:]
    profile = ImportProfile.objects.get(name="acme")
    assert profile.mapping == {
        "external_id": "Lead ID", "source": "Source", "campaign": "utm_campaign", "converted_value": "Deal value",
    }  # fmt: skip

    html = _admin_preview(admin_client_crm, profile, channel_csv().encode())
    assert "campaign: spring" in html and "converted_value: 1200000.00" in html
    admin_client_crm.post("/admin/leads/lead/process_import/", {"job": _hidden(html, "job")})
    lead = Lead.objects.get(external_id="c3")
    assert (lead.campaign, lead.converted_value) == ("autumn", Decimal("950.00"))


def test_profile_form_refuses_the_value_column_mapped_twice(admin_client_crm):
    response = admin_client_crm.post(PROFILE_ADD, _profile_form(map_converted_value="Email"))
    assert response.status_code == 200
    assert "two lead fields" in " ".join(response.context["adminform"].form.errors["map_converted_value"])
