"""Exports of real CRMs and spreadsheets, built here, through the doors a user takes: the wizard,
the API and the import_leads command (HubSpot, Salesforce, Pipedrive, a European export, XLSX),
and hostile files that must end in a clear error and write nothing."""

import csv
import io
import json
import re
from datetime import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from openpyxl import Workbook

from leads.importing import services
from leads.importing.profiles import spec_from_dict
from leads.models import ImportJob, ImportRowError, Lead
from tests.leads.import_samples import write

API_URL = "/api/v1/imports/"


def csv_text(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def run(path, mapping: dict, *, mode: str = "skip_bad") -> ImportJob:
    job = services.import_job_create(file=path, user=None, mapping=mapping, mode=mode)
    return services.import_job_run(job_id=job.pk)


def api_post(client, capture, *, content: bytes, name: str, mapping: dict, mode: str = "skip_bad"):
    with capture(execute=True):
        return client.post(
            API_URL,
            {"file": SimpleUploadedFile(name, content), "mapping": json.dumps(mapping), "mode": mode},
        )


def lead(email: str) -> Lead:
    return Lead.objects.get(email=email)


@pytest.fixture
def wizard_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


# --- HubSpot: first/last name, "Create Date", open lifecycle stages -------------------------------

HUBSPOT_HEADER = ["Record ID", "First Name", "Last Name", "Email", "Create Date", "Lifecycle Stage", "Annual Revenue"]
HUBSPOT_ROWS = [
    ["101", "Ann", "Lee", "ann@acme.io", "2024-03-05 14:22", "lead", "1200000"],
    ["102", "Bob", "Ray", "bob@acme.io", "2024-03-06 09:05", " MQL ", ""],
    ["103", "José", "Müller", "jose@acme.io", "2024-03-07 10:00", "Customer", "50000"],
    ["104", "Cy", "Do", "cy@acme.io", "2024-03-08 11:00", "closed lost", ""],
    ["105", "Di", "Fu", "di@acme.io", "2024-03-09 12:00", "Opportunity", ""],
    ["106", "Ed", "Yu", "ed@acme.io", "2024-03-10 13:00", "salesqualifiedlead", ""],
    ["107", "Flo", "", "flo@acme.io", "2024-03-11 08:00", "  CUSTOMER", ""],
]
HUBSPOT_MAPPING = {
    "mapping": {"external_id": "Record ID", "name": "First Name", "last_name": "Last Name", "email": "Email",
                "created_at": "Create Date"},
    "outcome_column": "Lifecycle Stage",
    "converted_values": ["customer"],
    "lost_values": ["Closed Lost"],
    "open_values": ["lead", "mql", "salesqualifiedlead", "opportunity"],
}  # fmt: skip


def test_hubspot_export_through_the_api_keeps_open_stages_open(admin_client_crm, django_capture_on_commit_callbacks):
    content = csv_text(HUBSPOT_HEADER, HUBSPOT_ROWS).encode()
    response = api_post(
        admin_client_crm, django_capture_on_commit_callbacks, content=content, name="hubspot.csv",
        mapping=HUBSPOT_MAPPING,
    )  # fmt: skip
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded" and (job.created_count, job.failed_count) == (7, 0), job.error

    statuses = {lead.email: lead.status for lead in Lead.objects.all()}
    assert statuses == {
        "ann@acme.io": "new", "bob@acme.io": "new", "di@acme.io": "new", "ed@acme.io": "new",
        "jose@acme.io": "converted", "flo@acme.io": "converted", "cy@acme.io": "lost",
    }  # fmt: skip
    assert lead("jose@acme.io").name == "José Müller" and lead("flo@acme.io").name == "Flo"
    assert lead("ann@acme.io").created_at.replace(tzinfo=None) == datetime(2024, 3, 5, 14, 22)
    assert lead("ann@acme.io").attributes == {"Annual Revenue": 1200000}
    assert "Lifecycle Stage" not in lead("bob@acme.io").attributes


# --- Salesforce: "Closed - Converted", money with $ and thousands, 12-hour US dates ---------------

SALESFORCE_HEADER = ["Lead ID", "Full Name", "Email", "Lead Status", "Annual Revenue", "Created Date"]
SALESFORCE_ROWS = [
    ["00Q1", "Ann Lee", "ann@sf.io", "Closed - Converted", "$1,200,000.00", "3/5/2024 2:22 PM"],
    ["00Q2", "Bob Ray", "bob@sf.io", "Closed - Not Converted", "$0.00", "3/15/2024 11:05 AM"],
    ["00Q3", "Cy Do", "cy@sf.io", "Working - Contacted", "", "12/1/2023 12:00 AM"],
    ["00Q4", "Di Fu", "di@sf.io", "open - not contacted", "$950.50", "12/1/2023 12:30 PM"],
]
SALESFORCE_MAPPING = {
    "mapping": {"external_id": "Lead ID", "name": "Full Name", "email": "Email", "created_at": "Created Date"},
    "outcome_column": "Lead Status",
    "converted_values": ["Closed - Converted"],
    "lost_values": ["Closed - Not Converted"],
    "open_values": ["Working - Contacted", "Open - Not Contacted"],
    "lost_reason": "Closed - Not Converted",
}


def test_salesforce_export_through_the_command(tmp_path, db):
    services.import_profile_create(name="salesforce", spec=spec_from_dict(SALESFORCE_MAPPING))
    out = StringIO()
    call_command(
        "import_leads", str(write(tmp_path, csv_text(SALESFORCE_HEADER, SALESFORCE_ROWS))), profile="salesforce",
        stdout=out,
    )  # fmt: skip
    assert "created 4" in out.getvalue() and "failed 0" in out.getvalue()
    ann, bob, cy, di = (lead(f"{n}@sf.io") for n in ("ann", "bob", "cy", "di"))
    assert (ann.status, bob.status, cy.status, di.status) == ("converted", "lost", "new", "new")
    assert bob.lost_reason == "Closed - Not Converted"
    assert ann.attributes["Annual Revenue"] == 1_200_000 and di.attributes["Annual Revenue"] == 950.5
    assert cy.attributes["Annual Revenue"] is None
    assert ann.created_at.replace(tzinfo=None) == datetime(2024, 3, 5, 14, 22)
    assert cy.created_at.replace(tzinfo=None) == datetime(2023, 12, 1, 0, 0)
    assert di.created_at.replace(tzinfo=None) == datetime(2023, 12, 1, 12, 30)


# --- Pipedrive: deal status won/lost/open, value and currency, "Person - Name" --------------------


def test_pipedrive_deals_export_with_value_and_status(tmp_path, db):
    header = ["Deal - ID", "Person - Name", "Person - Email", "Deal - Value", "Deal - Currency", "Deal - Status",
              "Deal - Deal created"]  # fmt: skip
    rows = [
        ["1", "Ann Lee", "ann@pd.io", "1200", "EUR", "Won", "2024-03-05 14:22:01"],
        ["2", "Bob Ray", "bob@pd.io", "0", "EUR", "Lost", "2024-03-06 09:00:00"],
        ["3", "Cy Do", "cy@pd.io", "350.5", "USD", "Open", "2024-03-07 10:00:00"],
        ["4", "Di Fu", "di@pd.io", "", "", "Deleted", "2024-03-08 10:00:00"],
    ]
    mapping = {
        "mapping": {"external_id": "Deal - ID", "name": "Person - Name", "email": "Person - Email",
                    "converted_value": "Deal - Value", "created_at": "Deal - Deal created"},
        "outcome_column": "Deal - Status", "converted_values": ["won"], "lost_values": ["lost"],
        "open_values": ["open"],
    }  # fmt: skip
    job = run(write(tmp_path, csv_text(header, rows)), mapping)
    assert job.status == "succeeded" and (job.created_count, job.failed_count) == (3, 1)
    error = job.row_errors.get()
    assert (error.row_number, error.column, error.value) == (5, "Deal - Status", "Deleted")
    assert "outcome must be one of won, lost, open" in error.message
    assert lead("ann@pd.io").converted_value == Decimal("1200.00") and lead("ann@pd.io").status == "converted"
    assert lead("cy@pd.io").status == "new" and lead("cy@pd.io").attributes["Deal - Currency"] == "USD"


# --- A European export: semicolons, comma decimals, day-first dates, BOM or cp1252 ---------------

EURO_HEADER = ["Kundennr", "Name", "E-Mail", "Erstellt am", "Umsatz", "Letzter Kontakt", "Status"]
EURO_ROWS = [
    ["1", "Müller", "mueller@beispiel.de", "05.03.2024", "1.200.000,50", "05/03/2024 14:22", "Gewonnen"],
    ["2", "José Núñez", "jose@ejemplo.es", "15.03.2024", "950,00", "15/03/2024 09:00", "verloren"],
    ["3", "Zoë Ångström", "zoe@exemple.fr", "01.12.2023", "1.200", "01/12/2023 10:00", "offen"],
    ["4", "Åsa Öberg", "asa@exempel.se", "02.12.2023", "12,5", "02/12/2023 10:00", "offen"],
]
EURO_MAPPING = {
    "mapping": {"external_id": "Kundennr", "name": "Name", "email": "E-Mail", "created_at": "Erstellt am",
                "converted_value": "Umsatz"},
    "outcome_column": "Status", "converted_values": ["gewonnen"], "lost_values": ["verloren"],
    "open_values": ["offen"],
}  # fmt: skip


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_european_export_reads_every_date_of_a_column_day_first(tmp_path, db, encoding):
    path = write(tmp_path, csv_text(EURO_HEADER, EURO_ROWS, delimiter=";"), encoding=encoding)
    job = run(path, EURO_MAPPING, mode="atomic")
    assert job.status == "succeeded" and job.created_count == 4, job.error
    assert (job.encoding, job.delimiter) == (encoding, ";")
    mueller, jose, zoe = lead("mueller@beispiel.de"), lead("jose@ejemplo.es"), lead("zoe@exemple.fr")
    assert (mueller.name, jose.name, zoe.name) == ("Müller", "José Núñez", "Zoë Ångström")
    # 05.03.2024 is 5 March like its column's 15.03.2024, not 3 May.
    assert [d.created_at.date().isoformat() for d in (mueller, jose, zoe)] == ["2024-03-05", "2024-03-15", "2023-12-01"]
    assert [d.attributes["Letzter Kontakt"] for d in (mueller, jose, zoe)] == [
        "2024-03-05T14:22:00+00:00", "2024-03-15T09:00:00+00:00", "2023-12-01T10:00:00+00:00",
    ]  # fmt: skip
    # The column writes decimals after a comma, so its "1.200" is 1200 (alone it would read 1.20).
    assert [d.converted_value for d in (mueller, jose, zoe, lead("asa@exempel.se"))] == [
        Decimal("1200000.50"), Decimal("950.00"), Decimal("1200.00"), Decimal("12.50"),
    ]  # fmt: skip
    assert (mueller.status, jose.status, zoe.status) == ("converted", "lost", "new")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # Only a column that shows a decimal comma reads its ambiguous "1.200" as 1200.
        (["1.200", "950,00"], ["1200.00", "950.00"]),
        (["1.200", "$1,200.50"], ["1.20", "1200.50"]),
        (["1.200", "1200"], ["1.20", "1200.00"]),
        # A column that shows both marks is read amount by amount.
        (["1.200", "950,00", "1,200.50"], ["1.20", "950.00", "1200.50"]),
    ],
)
def test_a_money_columns_decimal_mark_is_read_from_the_whole_column(tmp_path, db, values, expected):
    rows = [[f"{n}@x.io", value] for n, value in enumerate(values)]
    mapping = {"mapping": {"email": "Email", "converted_value": "Value"}}
    job = run(write(tmp_path, csv_text(["Email", "Value"], rows, delimiter=";")), mapping)
    assert job.failed_count == 0
    assert [str(lead(f"{n}@x.io").converted_value) for n in range(len(values))] == expected


def test_numbers_with_decimal_commas_are_numbers_read_the_columns_way(tmp_path, db):
    header = ["Email", "Rabatt", "Umsatz", "Mixed", "Version"]
    rows = [
        ["a@x.io", "12,5", "1.200.000", "1,5", "1.2.3"],
        ["b@x.io", "3", "1.200", "2.5", "1.2.4"],
        ["c@x.io", "-0,75", "950,50 €", "3", "2.0.0"],
    ]
    job = run(write(tmp_path, csv_text(header, rows, delimiter=";")), {"mapping": {"email": "Email"}})
    assert job.failed_count == 0
    assert job.column_types == {"Rabatt": "number", "Umsatz": "number", "Mixed": "text", "Version": "text"}
    assert [lead(e).attributes["Rabatt"] for e in ("a@x.io", "b@x.io", "c@x.io")] == [12.5, 3, -0.75]
    assert [lead(e).attributes["Umsatz"] for e in ("a@x.io", "b@x.io", "c@x.io")] == [1200000, 1200, 950.5]
    # A column showing both decimal marks stays text, as written.
    assert lead("a@x.io").attributes["Mixed"] == "1,5" and lead("b@x.io").attributes["Version"] == "1.2.4"


def test_wizard_shows_a_decimal_comma_column_as_numbers(admin_client_crm, wizard_media):
    content = csv_text(EURO_HEADER, EURO_ROWS, delimiter=";").encode("cp1252")
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("kunden.csv", content)})
    page = admin_client_crm.get("/imports/new/map/").content.decode()
    assert 'data-column="Umsatz"><small>number · 4 distinct' in page


def test_dates_written_with_dots_only_are_day_first_and_ambiguous_slashes_stay_month_first(tmp_path, db):
    header = ["Email", "Angelegt", "Signed"]
    rows = [["a@x.io", "05.03.2024", "03/04/2024"], ["b@x.io", "01.02.2024", "01/02/2024"]]
    job = run(write(tmp_path, csv_text(header, rows)), {"mapping": {"email": "Email", "created_at": "Angelegt"}})
    assert job.status == "succeeded" and job.created_count == 2
    assert lead("a@x.io").created_at.date().isoformat() == "2024-03-05"
    assert lead("b@x.io").created_at.date().isoformat() == "2024-02-01"
    # Slash dates that never show their order are read as before: month first.
    assert lead("a@x.io").attributes["Signed"] == "2024-03-04"


def test_a_column_mixing_year_first_and_day_first_dates_is_read_cell_by_cell(tmp_path, db):
    rows = [["a@x.io", "2024/03/05"], ["b@x.io", "15/03/2024"], ["c@x.io", "04/03/2024"]]
    job = run(write(tmp_path, csv_text(["Email", "Seen"], rows)), {"mapping": {"email": "Email"}})
    assert job.created_count == 3 and job.failed_count == 0
    assert [lead(e).attributes["Seen"] for e in ("a@x.io", "b@x.io", "c@x.io")] == [
        "2024-03-05", "2024-03-15", "2024-04-03",
    ]  # fmt: skip


def test_wizard_preview_shows_the_european_dates_the_job_stores(admin_client_crm, wizard_media):
    content = csv_text(EURO_HEADER, EURO_ROWS, delimiter=";").encode("cp1252")
    upload = admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("kunden.csv", content)})
    assert upload.status_code == 302, upload.content.decode()[:500]
    mapped = admin_client_crm.post(
        "/imports/new/map/",
        {"external_id": "Kundennr", "name": "Name", "email": "E-Mail", "created_at": "Erstellt am",
         "converted_value": "Umsatz"},
    )  # fmt: skip
    assert mapped.url == "/imports/new/columns/"
    page = admin_client_crm.get("/imports/new/columns/").content.decode()
    assert "Letzter Kontakt" in page
    preview = admin_client_crm.get("/imports/new/preview/")
    records = preview.context["preview"].records
    assert [r["fields"]["created_at"].date().isoformat() for r in records] == [
        "2024-03-05", "2024-03-15", "2023-12-01", "2023-12-02",
    ]  # fmt: skip
    assert records[0]["fields"]["name"] == "Müller"
    assert [r["fields"]["converted_value"] for r in records[:3]] == [
        Decimal("1200000.50"), Decimal("950.00"), Decimal("1200.00"),
    ]  # fmt: skip


# --- XLSX: date cells, serial numbers, an empty header cell, empty last cells, two outcome columns --


def xlsx_export(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["ID", "Name", "Email", "Created", "Serial", None, "Won", "Disqualified", "Notes", None])
    sheet.append(["x1", "Ann", "ann@x.io", datetime(2024, 3, 5, 14, 22), 45356, "stray", "Yes", None, None])
    sheet.append(["x2", "Bob", "bob@x.io", datetime(2024, 3, 6), 45357, None, None, " YES", None])
    sheet.append(["x3", "Cy", "cy@x.io", datetime(2024, 3, 7), 45358.5, None, None, None, "call back"])
    sheet.append(["x4", None, "di@x.io", None, None, None, None, None, None])
    sheet.append([None] * 10)
    sheet.append([None] * 10)
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    return path


def test_xlsx_rows_with_empty_last_cells_are_whole_rows(tmp_path, db):
    mapping = {
        "mapping": {"external_id": "ID", "name": "Name", "email": "Email", "created_at": "Created"},
        "outcome_column": "Won", "converted_values": ["yes"],
        "extra_outcomes": {"Disqualified": {"converted": [], "lost": ["yes"], "open": []}},
    }  # fmt: skip
    job = run(xlsx_export(tmp_path), mapping, mode="atomic")
    assert job.status == "succeeded", (job.error, list(job.row_errors.values_list("row_number", "message")))
    assert (job.created_count, job.failed_count) == (4, 0)
    ann, bob, cy, di = (lead(e) for e in ("ann@x.io", "bob@x.io", "cy@x.io", "di@x.io"))
    assert (ann.status, bob.status, cy.status, di.status) == ("converted", "lost", "new", "new")
    assert ann.created_at.replace(tzinfo=None) == datetime(2024, 3, 5, 14, 22)
    assert bob.created_at.replace(tzinfo=None) == datetime(2024, 3, 6)
    # The unnamed column is not imported; a serial stays the number the sheet holds.
    assert ann.attributes == {"Serial": 45356, "Notes": None} and cy.attributes["Notes"] == "call back"


def test_xlsx_wizard_preview_has_no_row_errors(admin_client_crm, wizard_media, tmp_path):
    path = xlsx_export(tmp_path)
    upload = admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("export.xlsx", path.read_bytes())})
    assert upload.status_code == 302
    admin_client_crm.post("/imports/new/map/", {"external_id": "ID", "email": "Email", "name": "Name"})
    preview = admin_client_crm.get("/imports/new/preview/").context["preview"]
    assert (preview.rows, preview.failed, preview.errors) == (4, 0, [])


# --- Outcome values in the wizard: spellings the import treats as one get one answer --------------


def test_wizard_asks_once_for_outcome_values_that_differ_only_in_case(admin_client_crm, wizard_media):
    text = "Email,Stage\na@x.io,Won\nb@x.io,won \nc@x.io, WON\nd@x.io,Lost\ne@x.io,lead\n"
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", text.encode())})
    admin_client_crm.post("/imports/new/map/", {"email": "Email", "outcome_column": "Stage"})
    page = admin_client_crm.get("/imports/new/outcomes/").content.decode()
    assert sorted(set(re.findall(r'name="(o0_\d+)"', page))) == ["o0_0", "o0_1", "o0_2"]
    assert "&#x27;Won&#x27; / &#x27;won&#x27; / &#x27;WON&#x27; (3 rows)" in page

    answered = admin_client_crm.post(
        "/imports/new/outcomes/", {"o0_0": "converted", "o0_1": "lost", "o0_2": "open", "lost_reason": "lost"}
    )
    assert answered.url == "/imports/new/columns/"
    preview = admin_client_crm.get("/imports/new/preview/").context["preview"]
    statuses = {r["fields"]["email"]: r["fields"].get("status") for r in preview.records}
    assert statuses == {"a@x.io": "converted", "b@x.io": "converted", "c@x.io": "converted", "d@x.io": "lost",
                        "e@x.io": None}  # fmt: skip
    # Going back shows the answer given, on the one radio.
    again = admin_client_crm.get("/imports/new/outcomes/").content.decode()
    assert re.search(r'name="o0_0" value="converted"[^>]*checked', again)


# --- Hostile input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "leads.csv", "file is empty."),
        (b"ID,Name,Email\r\n", "leads.csv", "The file has a header but no data rows."),
        (bytes(range(256)) * 8, "leads.csv", "The file is binary, not a text table (CSV)."),
        (b"ID,Name,Email\n1,A\x00nn,a@x.io\n", "leads.csv", "The file is binary, not a text table (CSV)."),
        (b"PK\x03\x04 a zip", "leads.csv", "is a ZIP/XLSX archive, not CSV text"),
        (b"ID,Name\n1,a\n", "leads.xlsx", "is not an XLSX workbook"),
        (b"%PDF-1.4", "leads.pdf", "Unsupported file type '.pdf'"),
        (b"ID,Name,Email,Name\n1,A,a@x.io,B\n", "leads.csv", "The column name 'Name' appears twice in the header."),
    ],
)
def test_files_that_cannot_be_imported_get_a_400_and_write_nothing(
    admin_client_crm, django_capture_on_commit_callbacks, content, name, message
):
    mapping = {"mapping": {"external_id": "ID", "email": "Email"}}
    response = api_post(
        admin_client_crm, django_capture_on_commit_callbacks, content=content, name=name, mapping=mapping
    )
    assert response.status_code == 400 and message in response.content.decode()
    assert not ImportJob.objects.exists() and not Lead.objects.exists()


def nul_file() -> bytes:
    """NUL bytes past the first 64 KB (where the binary check looks): in an id, an email, a name."""
    good = b"".join(b"%d,Name %d,e%d@x.io\n" % (i, i, i) for i in range(4000))
    assert len(good) > 64 * 1024
    return b"ID,Name,Email\n" + good + b"9001,Ann\x00e,ann@x.io\n90\x0002,Bob,bob@x.io\n9003,Cy,c\x00y@x.io\n"


def test_nul_bytes_in_ids_are_row_errors_and_nothing_else_fails(tmp_path, db):
    job = run(write(tmp_path, nul_file()), {"mapping": {"external_id": "ID", "name": "Name", "email": "Email"}})
    assert job.status == "succeeded", job.error
    assert (job.created_count, job.failed_count) == (4001, 2)
    errors = list(job.row_errors.order_by("row_number").values_list("row_number", "column", "value", "message"))
    assert errors == [
        (4003, "ID", "9002", "Remove the control character U+0000."),
        (4004, "Email", "cy@x.io", "Remove the control character U+0000."),
    ]
    assert ImportRowError.objects.get(row_number=4003).raw == ["9002", "Bob", "bob@x.io"]
    assert Lead.objects.get(external_id="9001").name == "Anne"
    assert job.cleaned_values == {"Name": 1}


def test_formula_cells_import_as_text_and_stay_inert_in_the_error_file(
    admin_client_crm, django_capture_on_commit_callbacks
):
    text = csv_text(
        ["ID", "Name", "Email", "Website"],
        [["1", '=HYPERLINK("http://evil.example","click")', "a@x.io", "@SUM(1+1)"],
         ["2", "+cmd|' /C calc'!A0", "not-an-email", '=HYPERLINK("http://evil.example")']],
    )  # fmt: skip
    mapping = {"mapping": {"external_id": "ID", "name": "Name", "email": "Email"}}
    response = api_post(
        admin_client_crm, django_capture_on_commit_callbacks, content=text.encode(), name="f.csv", mapping=mapping
    )
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert (job.created_count, job.failed_count) == (1, 1)
    imported = Lead.objects.get()
    assert imported.name == '=HYPERLINK("http://evil.example","click")'
    assert imported.attributes == {"Website": "@SUM(1+1)"}
    body = b"".join(admin_client_crm.get(f"/imports/{job.pk}/errors.csv").streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[1][:4] == ["2", "'+cmd|' /C calc'!A0", "not-an-email", '\'=HYPERLINK("http://evil.example")']


def test_quoted_newlines_and_ragged_rows_are_reported_by_line(tmp_path, db):
    text = 'ID,Name,Email\n1,Ann,a@x.io,extra\n2,Bob\n3,"Multi\nline name",c@x.io\n4,Di,d@x.io,\n'
    job = run(write(tmp_path, text), {"mapping": {"external_id": "ID", "name": "Name", "email": "Email"}})
    assert (job.created_count, job.failed_count) == (2, 2)
    assert list(job.row_errors.order_by("row_number").values_list("row_number", "message")) == [
        (2, "The row has 4 fields but the header has 3."),
        (3, "The row has 2 fields but the header has 3."),
    ]
    assert Lead.objects.get(external_id="3").name == "Multi\nline name"
    assert Lead.objects.get(external_id="4").email == "d@x.io"


def test_a_huge_cell_fails_its_row_only(tmp_path, db, settings):
    settings.IMPORT_MAX_CELL_CHARS = 1000
    text = "ID,Email,Notes\n1,a@x.io," + "x" * 5000 + "\n2,b@x.io,ok\n"
    job = run(write(tmp_path, text), {"mapping": {"external_id": "ID", "email": "Email"}})
    assert (job.created_count, job.failed_count) == (1, 1)
    assert job.row_errors.get().message == "The cell has 5,000 characters; the limit is 1,000 (IMPORT_MAX_CELL_CHARS)."


def test_wizard_asks_the_order_of_ambiguous_created_dates_and_keeps_it(admin_client_crm, wizard_media):
    text = "Email,Created,Score\na@x.io,03/04/2024,1\nb@x.io,05/06/2024 14:22,2\n"
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("slash.csv", text.encode())})
    admin_client_crm.post("/imports/new/map/", {"email": "Email", "created_at": "Created"})
    page = admin_client_crm.get("/imports/new/columns/").content.decode()
    assert 'id="created-date-order"' in page and "Date order of Created (the created date)" in page

    unanswered = admin_client_crm.post("/imports/new/columns/", {"c0_type": "number", "created_date_order": ""})
    assert unanswered.status_code == 200
    assert "read both ways (03/04): choose the order" in unanswered.content.decode()

    answered = admin_client_crm.post("/imports/new/columns/", {"c0_type": "number", "created_date_order": "dmy"})
    assert answered.url == "/imports/new/preview/"
    records = admin_client_crm.get("/imports/new/preview/").context["preview"].records
    assert [r["fields"]["created_at"].replace(tzinfo=None) for r in records] == [
        datetime(2024, 4, 3), datetime(2024, 6, 5, 14, 22),
    ]  # fmt: skip
    # Mapping again (same columns) keeps the order chosen for the created date.
    admin_client_crm.post("/imports/new/map/", {"email": "Email", "created_at": "Created"})
    assert admin_client_crm.session["import_wizard"]["spec"]["date_orders"] == {"Created": "dmy"}
    page = admin_client_crm.get("/imports/new/columns/").content.decode()
    assert re.search(r'<option value="dmy" selected>', page)


def test_uploading_a_fixed_file_keeps_the_mapping_and_a_bad_one_loses_nothing(admin_client_crm, wizard_media):
    first = "ID,Email,First,Last,Stage,Budget\n1,a@x.io,Ann,Lee,Won,12\n2,b@x.io,Bob,Ray,Lost,oops\n"
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", first.encode())})
    admin_client_crm.post(
        "/imports/new/map/",
        {"external_id": "ID", "email": "Email", "name": "First", "last_name": "Last", "outcome_column": "Stage"},
    )
    admin_client_crm.post("/imports/new/outcomes/", {"o0_0": "converted", "o0_1": "lost", "lost_reason": "gone"})
    spec = admin_client_crm.session["import_wizard"]["spec"]
    assert spec["converted_values"] == ["Won"] and spec["lost_values"] == ["Lost"]

    # A broken file uploaded by mistake is refused; the previous file and the choices made stay.
    bad = admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", b"ID,Email\n")})
    assert bad.status_code == 200 and "The file has a header but no data rows." in bad.content.decode()
    assert admin_client_crm.get("/imports/new/preview/").status_code == 200
    assert admin_client_crm.session["import_wizard"]["spec"]["mapping"]["last_name"] == "Last"

    # The fixed file (a column gone, one added) keeps what was chosen for the columns it shares.
    fixed = "ID,Email,First,Stage,Budget,Region\n1,a@x.io,Ann,Won,12,EU\n2,b@x.io,Bob,Lost,15,US\n"
    again = admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals-fixed.csv", fixed.encode())})
    assert again.url == "/imports/new/map/"
    state = admin_client_crm.session["import_wizard"]
    assert state["name"] == "deals-fixed.csv"
    assert state["spec"]["mapping"] == {"external_id": "ID", "email": "Email", "name": "First"}
    assert (state["spec"]["outcome_column"], state["spec"]["converted_values"]) == ("Stage", ["Won"])
    page = admin_client_crm.get("/imports/new/map/").content.decode()
    assert re.search(r'<option value="First" selected>', page)
    preview = admin_client_crm.get("/imports/new/preview/").context["preview"]
    assert (preview.rows, preview.failed) == (2, 0)
    assert [r["fields"].get("status") for r in preview.records] == ["converted", "lost"]


def test_a_wizard_step_whose_uploaded_file_is_gone_starts_over_with_the_reason(admin_client_crm, wizard_media):
    admin_client_crm.post("/imports/new/", {"file": SimpleUploadedFile("deals.csv", b"Email\na@x.io\n")})
    for path in (wizard_media / "imports" / "wizard").iterdir():
        path.unlink()  # what the import retention does to a draft left for a day
    response = admin_client_crm.get("/imports/new/map/", follow=True)
    assert response.redirect_chain == [("/imports/new/", 302)]
    assert "The uploaded file deals.csv is no longer here; upload it again." in response.content.decode()


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_excels_sep_line_above_the_header_names_the_delimiter(tmp_path, db, delimiter):
    text = f"sep={delimiter}\r\n" + csv_text(["Email", "Name", "Umsatz"], [["a@x.io", "Ann", "1,5"]], delimiter)
    job = run(write(tmp_path, text), {"mapping": {"email": "Email", "name": "Name"}}, mode="atomic")
    assert job.status == "succeeded" and job.delimiter == delimiter, job.error
    assert lead("a@x.io").name == "Ann"
    assert lead("a@x.io").attributes == {"Umsatz": 1.5}
