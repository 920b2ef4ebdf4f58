"""The import wizard at /imports/new/, step by step through the Django test client."""

import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.importing.wizard import KEYLESS_NOTE
from leads.models import ImportJob, ImportProfile, Lead
from tests.leads.import_samples import CHANNEL_ROWS, channel_csv, xeducation_csv

KEYLESS_CSV = (
    "First;Last;Company;Stage;Disqualified;Budget;Signed up;Stage note\n"
    "Ann;Lee;Acme;Won;;$1,200,000.00;31/01/2024;contract signed\n"
    "Bob;Ray;Beta;Open;yes;-2.5;01/02/2024;no budget\n"
    "Cy;Do;Gamma;Open;;300;04/03/2024;call back\n"
    "Di;Fu;Delta;Won;;450;05/03/2024;contract signed\n"
)


@pytest.fixture
def wizard_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def field_names(html: str, prefix: str) -> list[str]:
    return sorted(set(re.findall(rf'name="({prefix}[^"]*)"', html)))


def upload(client, text: str, name: str = "list.csv"):
    return client.post(
        "/imports/new/", {"file": SimpleUploadedFile(name, text.encode()), "encoding": "", "delimiter": ""}
    )


def test_wizard_imports_a_file_without_id_column(admin_client_crm, wizard_media, django_capture_on_commit_callbacks):
    response = upload(admin_client_crm, KEYLESS_CSV)
    assert response.status_code == 302 and response.url == "/imports/new/map/"
    page = admin_client_crm.get("/imports/new/map/").content.decode()
    assert "semicolon" in page and "utf-8" in page
    assert 'data-column="Budget"><small>number · 4 distinct' in page
    assert 'data-column="Signed up"><small>date' in page

    # Errors beside the field: one column for two fields, a last name without a first name.
    bad = admin_client_crm.post(
        "/imports/new/map/", {"name": "", "last_name": "Last", "company": "Company", "phone": "Company"}
    )
    html = bad.content.decode()
    assert bad.status_code == 200 and "Choose the first-name column too" in html and "already used for" in html

    mapped = admin_client_crm.post(
        "/imports/new/map/",
        {"name": "First", "last_name": "Last", "company": "Company", "outcome_column": "Stage",
         "second_outcome_column": "Disqualified"},
    )  # fmt: skip
    assert mapped.url == "/imports/new/outcomes/"
    page = admin_client_crm.get("/imports/new/outcomes/").content.decode()
    # Values listed most frequent first: Stage -> Won, Open; Disqualified -> "", yes.
    assert "&#x27;Won&#x27; (2 rows)" in page and "&#x27;yes&#x27; (1 rows)" in page
    nothing = admin_client_crm.post(
        "/imports/new/outcomes/", {"o0_0": "open", "o0_1": "open", "o1_0": "open", "o1_1": "open", "lost_reason": "x"}
    )
    assert "Tick at least one value of &#x27;Stage&#x27;" in nothing.content.decode()
    chosen = admin_client_crm.post(
        "/imports/new/outcomes/",
        {"o0_0": "converted", "o0_1": "open", "o1_0": "open", "o1_1": "lost", "lost_reason": "disqualified"},
    )
    assert chosen.url == "/imports/new/columns/"

    page = admin_client_crm.get("/imports/new/columns/").content.decode()
    names = field_names(page, "c")
    assert "c0_type" in names
    columns = re.findall(r'<tr data-column="([^"]+)"', page)
    assert columns == ["Budget", "Signed up", "Stage note"]
    # Budget: min above max is an error beside the max; a text column cannot have a min.
    wrong = admin_client_crm.post(
        "/imports/new/columns/",
        {"c0_type": "number", "c0_min": "10", "c0_max": "1", "c1_type": "date", "c1_date_order": "dmy",
         "c2_type": "text", "c2_min": "1", "c2_exclude": "on", "c2_reason": ""},
    )  # fmt: skip
    html = wrong.content.decode()
    assert "The max is below the min." in html and "A min or max needs the number type." in html
    assert "Say why it is left out" in html
    done = admin_client_crm.post(
        "/imports/new/columns/",
        {"c0_type": "number", "c0_min": "-100", "c1_type": "date", "c1_date_order": "dmy",
         "c2_type": "text", "c2_exclude": "on", "c2_reason": "written after the outcome"},
    )  # fmt: skip
    assert done.url == "/imports/new/preview/"

    page = admin_client_crm.get("/imports/new/preview/").content.decode()
    assert KEYLESS_NOTE.capitalize() in page
    assert 'id="count-new">4<' in page and 'id="count-failed">0<' in page
    assert "Ann Lee" in page and Lead.objects.count() == 0  # the preview writes nothing

    with django_capture_on_commit_callbacks(execute=True):
        saved = admin_client_crm.post("/imports/new/preview/", {"profile_name": "acme_list", "mode": "skip_bad"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    job = ImportJob.objects.get()
    assert saved.url == f"/imports/{job.pk}/"
    assert job.status == "succeeded", job.error  # eager Celery in tests
    assert job.created_count == 4
    profile = ImportProfile.objects.get(name="acme_list")
    assert profile.mapping == {"name": "First", "last_name": "Last", "company": "Company"}
    assert profile.extra_outcomes == {"Disqualified": {"converted": [], "lost": ["yes"], "open": []}}
    assert profile.column_limits == {"Budget": {"min": -100.0}} and profile.date_orders == {"Signed up": "dmy"}
    assert profile.excluded_columns == {"Stage note": "written after the outcome"}
    ann = Lead.objects.get(name="Ann Lee")
    assert ann.status == "converted" and ann.attributes["Budget"] == 1200000
    assert ann.attributes["Signed up"] == "2024-01-31"
    bob = Lead.objects.get(name="Bob Ray")
    assert bob.status == "lost" and bob.lost_reason == "disqualified" and bob.attributes["Budget"] == -2.5
    assert Lead.objects.get(name="Cy Do").attributes["Signed up"] == "2024-03-04"
    assert not list(wizard_media.glob("imports/wizard/*"))  # the draft is gone; the job keeps its copy

    # The same file again through the saved profile: nothing changes.
    with django_capture_on_commit_callbacks(execute=True):
        again = admin_client_crm.post(
            "/imports/",
            {"file": SimpleUploadedFile("list.csv", KEYLESS_CSV.encode()), "profile": profile.pk, "mode": "skip_bad"},
        )
    assert again.status_code == 302
    second = ImportJob.objects.latest("pk")
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 4)


def test_wizard_refuses_bad_files_beside_the_field(admin_client_crm, wizard_media):
    response = upload(admin_client_crm, "", name="empty.csv")
    assert response.status_code == 200 and "The submitted file is empty" in response.content.decode()
    response = upload(admin_client_crm, "a,b\n", name="header.csv")
    assert "The file has a header but no data rows." in response.content.decode()
    response = admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("x.pdf", b"%PDF")})
    assert "Unsupported file type" in response.content.decode()
    assert admin_client_crm.get("/imports/new/preview/").url == "/imports/new/"


def test_wizard_hints_at_columns_that_leak_the_outcome(admin_client_crm, wizard_media):
    text = "Email,Result,Tag,Visits\n" + "".join(
        f"u{i}@x.io,{'won' if i % 2 else 'lost'},{'Closed' if i % 2 else 'Ringing'},{i % 7}\n" for i in range(60)
    )
    upload(admin_client_crm, text)
    admin_client_crm.post("/imports/new/map/", {"email": "Email", "outcome_column": "Result"})
    admin_client_crm.post("/imports/new/outcomes/", {"o0_0": "converted", "o0_1": "lost", "lost_reason": "lost"})
    page = admin_client_crm.get("/imports/new/columns/").content.decode()
    tag = page.split('<tr data-column="Tag"', 1)[1].split("</tr>", 1)[0]
    assert "alone predicts the outcome (AUC 1.00)" in tag and "checked" in tag
    visits = page.split('<tr data-column="Visits"', 1)[1].split("</tr>", 1)[0]
    assert "leak-hint" not in visits


def test_wizard_preview_counts_updates_against_stored_leads(admin_client_crm, wizard_media):
    from tests.leads.import_samples import x_education_profile

    x_education_profile()
    text = xeducation_csv(6)
    upload(admin_client_crm, text)
    admin_client_crm.post(
        "/imports/new/map/",
        {"external_id": "Prospect ID", "source": "Lead Source", "origin": "Lead Origin", "outcome_column": "Converted"},
    )
    page = admin_client_crm.get("/imports/new/outcomes/").content.decode()
    assert "&#x27;0&#x27;" in page and "&#x27;1&#x27;" in page
    admin_client_crm.post("/imports/new/outcomes/", {"o0_0": "lost", "o0_1": "converted", "lost_reason": "lost"})
    page = admin_client_crm.get("/imports/new/columns/").content.decode()
    count = len(re.findall(r'<tr data-column="', page))
    data = {f"c{i}_type": "text" for i in range(count)}
    admin_client_crm.post("/imports/new/columns/", data)
    page = admin_client_crm.get("/imports/new/preview/").content.decode()
    assert 'id="count-new">6<' in page and "no id column" not in page
    assert "p-000001" in page


def test_wizard_maps_campaign_and_value_and_previews_them(
    admin_client_crm, wizard_media, django_capture_on_commit_callbacks
):
    upload(admin_client_crm, channel_csv([*CHANNEL_ROWS, ["c7", "", "Google", "x", "lots", "Won"]]))
    page = admin_client_crm.get("/imports/new/map/").content.decode()
    assert "Campaign (e.g. utm_campaign)" in page and "Converted value (money)" in page
    mapped = admin_client_crm.post(
        "/imports/new/map/",
        {"external_id": "Lead ID", "source": "Source", "campaign": "utm_campaign", "converted_value": "Deal value",
         "outcome_column": "Stage"},
    )  # fmt: skip
    assert mapped.url == "/imports/new/outcomes/"
    page = admin_client_crm.get("/imports/new/outcomes/").content.decode()
    values = re.findall(r'<tr data-value="([^"]*)"', page)
    meaning = {"Won": "converted", "Lost": "lost", "Open": "open"}
    admin_client_crm.post(
        "/imports/new/outcomes/", {**{f"o0_{i}": meaning[v] for i, v in enumerate(values)}, "lost_reason": "lost"}
    )
    page = admin_client_crm.get("/imports/new/columns/").content.decode()
    # Campaign and value are not attributes (the value would tell scoring the outcome); source stays one.
    assert re.findall(r'<tr data-column="([^"]+)"', page) == ["Email", "Source"]
    columns = admin_client_crm.post("/imports/new/columns/", {"c0_type": "text", "c1_type": "text"})
    assert columns.url == "/imports/new/preview/"

    page = admin_client_crm.get("/imports/new/preview/").content.decode()
    assert 'id="count-new">6<' in page and 'id="count-failed">1<' in page
    assert "&#x27;lots&#x27; is not an amount of money." in page
    rows = page.split('id="preview-rows"', 1)[1]
    assert "converted_value</small> 1200000.00" in rows and "campaign</small> spring" in rows

    with django_capture_on_commit_callbacks(execute=True):
        saved = admin_client_crm.post("/imports/new/preview/", {"profile_name": "ads", "mode": "skip_bad"})
    assert saved.status_code == 302
    assert ImportProfile.objects.get(name="ads").mapping["converted_value"] == "Deal value"
    assert ImportJob.objects.get().created_count == 6
    lead = Lead.objects.get(external_id="c2")
    assert (lead.campaign, lead.converted_value, lead.status) == ("spring", Decimal("1200000.00"), "converted")


def test_only_admins_open_the_wizard(rep_client):
    assert rep_client.get("/imports/new/").status_code == 403
