"""The pipeline rules issue 14 added: keyless files, name parts, outcomes over two columns,
dates and money, limits, control characters, error files that round-trip, failing skip-bad jobs."""

import csv
import io

import pytest
from django.core.exceptions import ValidationError

from leads.importing import services
from leads.importing.profiles import spec_from_dict
from leads.importing.selectors import import_errors_rows
from leads.importing.validation import classify, date_parse
from leads.models import ImportJob, Lead
from leads.text import clean_text
from tests.leads.import_samples import SIMPLE_MAPPING, simple_csv, write, x_education_profile, xeducation_csv


def run(path, *, mapping=None, profile=None, mode="atomic"):
    job = services.import_job_create(file=path, user=None, mapping=mapping, profile=profile, mode=mode)
    return services.import_job_run(job_id=job.pk)


def csv_text(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


KEYLESS = {
    "mapping": {"name": "First", "last_name": "Last", "company": "Company"},
    "outcome_column": "Won",
    "converted_values": ["yes"],
    "open_values": ["pending"],
    "extra_outcomes": {"Disqualified": {"converted": [], "lost": ["x"], "open": []}},
}
KEYLESS_HEADER = ["First", "Last", "Company", "Won", "Disqualified", "Budget", "Signed up"]


def keyless_rows():
    return [
        ["Ann", "Lee", "Acme", "yes", "", "$1,200,000.00", "01/31/2024"],
        ["Bob", "Ray", "Beta", "", "x", "-2.5", "02/01/2024 14:05"],
        ["Cy", "Do", "Gamma", "pending", "", "300", "2024-03-04"],
        ["Cy", "Do", "Gamma", "pending", "", "300", "2024-03-04"],  # an identical row: a second lead
    ]


def test_a_file_without_id_or_email_imports_and_reimports_without_changes(tmp_path, db):
    path = write(tmp_path, csv_text(KEYLESS_HEADER, keyless_rows()))
    job = run(path, mapping=KEYLESS)
    assert job.status == "succeeded", job.error
    assert job.created_count == 4 and Lead.objects.count() == 4
    ann = Lead.objects.get(name="Ann Lee")
    assert ann.status == Lead.Status.CONVERTED and ann.external_id.startswith("fp:")
    assert ann.attributes["Budget"] == 1200000 and ann.attributes["Signed up"] == "2024-01-31"
    bob = Lead.objects.get(name="Bob Ray")
    assert bob.status == Lead.Status.LOST and bob.attributes["Budget"] == -2.5
    assert bob.attributes["Signed up"].startswith("2024-02-01T14:05")
    cys = Lead.objects.filter(name="Cy Do")
    assert cys.count() == 2 and {lead.status for lead in cys} == {Lead.Status.NEW}
    assert len({lead.external_id for lead in cys}) == 2

    again = run(write(tmp_path, csv_text(KEYLESS_HEADER, keyless_rows()), name="again.csv"), mapping=KEYLESS)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 4)
    assert Lead.objects.count() == 4

    # An outcome filled in later updates the same lead: outcomes are not part of the fingerprint.
    later = keyless_rows()
    later[2][3] = "yes"
    third = run(write(tmp_path, csv_text(KEYLESS_HEADER, later), name="later.csv"), mapping=KEYLESS)
    assert (third.created_count, third.updated_count) == (0, 1)
    assert Lead.objects.filter(status=Lead.Status.CONVERTED).count() == 2


def test_outcome_values_not_ticked_are_per_row_errors(tmp_path, db):
    rows = keyless_rows()
    rows[0][3] = "maybe"
    job = run(write(tmp_path, csv_text(KEYLESS_HEADER, rows)), mapping=KEYLESS, mode="skip_bad")
    assert job.failed_count == 1 and job.created_count == 3
    assert "outcome must be one of yes, pending" in job.row_errors.get().message


@pytest.mark.parametrize(
    ("value", "order", "expected"),
    [
        ("2024-01-31", "", "2024-01-31"),
        ("2024-01-31T10:00:00", "", "2024-01-31T10:00"),
        ("01/31/2024", "", "2024-01-31"),
        ("31/01/2024", "", "2024-01-31"),
        ("31.01.2024 14:05", "", "2024-01-31T14:05"),
        ("03/04/2024", "mdy", "2024-03-04"),
        ("03/04/2024", "dmy", "2024-04-03"),
        ("2024/03/04 2:05 PM", "", "2024-03-04T14:05"),
    ],
)
def test_dates_us_european_and_iso(value, order, expected):
    moment, has_time = date_parse(value, order)
    text = moment.isoformat() if has_time else moment.date().isoformat()
    assert text.startswith(expected)


def test_money_and_thousands_are_numbers_and_a_wrong_date_order_is_an_error():
    assert classify("$1,200,000.00") == "number" and classify("-€5") == "number" and classify("1,5") == "text"
    assert date_parse("31/01/2024", "mdy") is None and date_parse("13/13/2024") is None


def test_declared_date_order_rejects_impossible_dates_per_row(tmp_path, db):
    mapping = {**SIMPLE_MAPPING, "date_orders": {"Score": "mdy"}, "column_types": {}}
    rows = [["a1", "a@x.io", "A", "", "yes", "01/31/2024"], ["a2", "b@x.io", "B", "", "no", "31/01/2024"]]
    job = run(write(tmp_path, simple_csv(rows)), mapping=mapping, mode="skip_bad")
    assert job.created_count == 1
    assert job.row_errors.get().message == "Wrong type: expected a date as month/day/year."


def test_profile_min_gives_per_row_errors(tmp_path, db):
    profile = x_education_profile()
    text = xeducation_csv(5)
    rows = list(csv.reader(io.StringIO(text)))
    column = rows[0].index("TotalVisits")
    rows[2][column] = "-3"
    job = run(write(tmp_path, csv_text(rows[0], rows[1:])), profile=profile, mode="skip_bad")
    assert job.status == "succeeded" and job.failed_count == 1
    error = job.row_errors.get()
    assert (error.column, error.value, error.message) == ("TotalVisits", "-3", "Out of range: at least 0 expected.")


def test_limits_must_be_numbers():
    with pytest.raises(ValidationError, match="min is above the max"):
        spec_from_dict({"mapping": {"name": "N"}, "column_limits": {"A": {"min": 5, "max": 1}}})
    with pytest.raises(ValidationError, match="must be a number column"):
        spec_from_dict({"mapping": {"name": "N"}, "column_limits": {"A": {"min": 0}}, "column_types": {"A": "text"}})


def test_a_cell_over_the_limit_is_a_row_error(tmp_path, db, settings):
    settings.IMPORT_MAX_CELL_CHARS = 50
    rows = [["a1", "a@x.io", "A" * 51, "", "yes", "1"], ["a2", "b@x.io", "B", "", "no", "2"]]
    job = run(write(tmp_path, simple_csv(rows)), mapping=SIMPLE_MAPPING, mode="skip_bad")
    assert job.created_count == 1 and job.failed_count == 1
    assert job.row_errors.get().message == "The cell has 51 characters; the limit is 50 (IMPORT_MAX_CELL_CHARS)."


def test_control_characters_and_bidi_overrides_are_stripped_and_reported(tmp_path, db):
    rows = [["a1", "a@x.io", "Ann\u202eeeL\x07", "", "yes", "1"]]
    header = ("ID", "Email", "Full name", "Phone", "Won", "Score", "Notes")
    rows[0].append("line one\nline\ttwo\x1b")
    job = run(write(tmp_path, simple_csv(rows, header=header)), mapping=SIMPLE_MAPPING)
    lead = Lead.objects.get()
    assert lead.name == "AnneeL" and lead.attributes["Notes"] == "line one\nline\ttwo"
    assert job.cleaned_values == {"Full name": 1, "Notes": 1}
    assert clean_text("a\u2066b\u2069\x1bc") == "abc"


def test_error_file_round_trip_restores_neutralised_numbers(tmp_path, db):
    rows = [
        ["a1", "a@x.io", "Ann", "", "yes", "-2.5"],
        ["a2", "bad-email", "=Bob", "+1-555-0100", "no", "-7"],
        ["a3", "also-bad", "@Cy", "", "no", "4"],
    ]
    mapping = {**SIMPLE_MAPPING, "column_types": {}}
    job = run(write(tmp_path, simple_csv(rows)), mapping=mapping, mode="skip_bad")
    assert job.created_count == 1 and job.failed_count == 2

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in services_errors_csv(job):
        writer.writerow(row)
    error_rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert error_rows[1][:6] == ["a2", "bad-email", "'=Bob", "'+1-555-0100", "no", "'-7"]
    error_rows[1][1] = "bob@x.io"  # fix one of the two rows only
    path = write(tmp_path, csv_text(error_rows[0], error_rows[1:]), name="fixed.csv")
    again = run(path, mapping=mapping, mode="skip_bad")
    assert (again.created_count, again.failed_count) == (1, 1)
    bob = Lead.objects.get(external_id="a2")
    assert bob.name == "=Bob" and bob.phone == "+1-555-0100" and bob.attributes["Score"] == -7
    assert Lead.objects.get(external_id="a1").attributes["Score"] == -2.5
    assert not Lead.objects.filter(external_id="a3").exists()


def services_errors_csv(job):
    from leads.exports import csv_safe_row

    return [csv_safe_row(row) for row in import_errors_rows(job)]


def test_skip_bad_job_with_no_good_row_fails(tmp_path, db):
    rows = [["a1", "bad", "A", "", "yes", "1"], ["a2", "worse", "B", "", "no", "2"]]
    job = run(write(tmp_path, simple_csv(rows)), mapping=SIMPLE_MAPPING, mode="skip_bad")
    assert job.status == ImportJob.Status.FAILED and "Every one of the 2 rows" in job.error
    assert Lead.objects.count() == 0


def test_unterminated_quote_names_the_quote_and_its_line(tmp_path, db):
    text = 'ID,Email,Full name,Phone,Won,Score\na1,a@x.io,Ann,,yes,1\na2,"b@x.io,Bob,,no,2\na3,c@x.io,Cy,,no,3\n'
    job = run(write(tmp_path, text), mapping=SIMPLE_MAPPING)
    assert job.status == "failed" and Lead.objects.count() == 0
    message = job.row_errors.first().message
    assert 'quote (") opened on line 3' in message and "never closed" in message


def test_api_and_forms_strip_control_characters_too(db):
    from leads.forms import ActivityForm
    from leads.serializers import LeadCreateSerializer

    serializer = LeadCreateSerializer(
        data={"name": "Mallory\u202egnp.exe", "company": "A\x07cme", "attributes": {"Notes": "x\u2066y"}}
    )
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["name"] == "Mallorygnp.exe" and serializer.validated_data["company"] == "Acme"
    assert serializer.validated_data["attributes"] == {"Notes": "xy"}
    form = ActivityForm(data={"kind": "call", "outcome": "ok\x1b", "notes": "line\nnext\u202e"})
    form.is_valid()
    assert form.cleaned_data["notes"] == "line\nnext" and form.cleaned_data["outcome"] == "ok"


def test_a_resumed_keyless_job_numbers_identical_rows_as_an_uninterrupted_one(tmp_path, db, monkeypatch):
    from leads.importing import writer

    real, calls = writer.write_chunk, {"n": 0}

    def flaky(records, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(records, **kwargs)

    rows = [["Same", "", "Acme", "", "", "1", ""] for _ in range(6)]  # six identical rows: six leads
    path = write(tmp_path, csv_text(KEYLESS_HEADER, rows))
    monkeypatch.setattr(services, "write_chunk", flaky)
    job = services.import_job_create(file=path, user=None, mapping=KEYLESS, chunk_rows=3)
    job = services.import_job_run(job_id=job.pk)
    assert job.status == "failed" and Lead.objects.count() == 3
    services.import_job_resume(job=job)
    job = services.import_job_run(job_id=job.pk)
    assert job.status == "succeeded", job.error
    keys = sorted(Lead.objects.values_list("external_id", flat=True))
    assert len(keys) == 6 and [k.rsplit(":", 1)[1] for k in keys] == ["1", "2", "3", "4", "5", "6"]
