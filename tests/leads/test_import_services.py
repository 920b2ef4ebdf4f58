from decimal import Decimal

import pytest
from django.utils import timezone

from leads.importing import services
from leads.importing.readers import ImportFileError
from leads.models import ImportJob, Lead
from tests.factories import ActivityFactory, FollowUpFactory, LeadFactory
from tests.leads.import_samples import (
    CHANNEL_MAPPING,
    CHANNEL_ROWS,
    SIMPLE_MAPPING,
    channel_csv,
    simple_csv,
    write,
    x_education_profile,
    xeducation_csv,
    xeducation_row,
)


@pytest.fixture
def x_profile(db):
    return x_education_profile()


@pytest.fixture
def completed(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "leads.importing.services.outcomes_imported_send", lambda **kwargs: calls.append(kwargs), raising=True
    )
    return calls


def run(path, *, user=None, profile=None, mapping=None, mode="atomic", dry_run=False, chunk_rows=None):
    job = services.import_job_create(
        file=path, user=user, profile=profile, mapping=mapping, mode=mode, dry_run=dry_run, chunk_rows=chunk_rows
    )
    return services.import_job_run(job_id=job.pk)


def test_x_education_file_imports_with_outcomes_and_missing_placeholders(tmp_path, x_profile, admin_user, completed):
    job = run(write(tmp_path, xeducation_csv(30)), profile=x_profile, user=admin_user)
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert (job.created_count, job.updated_count, job.unchanged_count, job.failed_count) == (30, 0, 0, 0)
    assert job.created_by == admin_user and len(job.file_sha256) == 64
    assert Lead.objects.count() == 30
    converted = Lead.objects.get(external_id="p-000003")
    assert converted.status == Lead.Status.CONVERTED and converted.converted_at is not None
    lost = Lead.objects.get(external_id="p-000001")
    assert lost.status == Lead.Status.LOST and lost.lost_reason == "imported outcome" and lost.converted_at is None
    assert "Converted" not in lost.attributes and "Prospect ID" not in lost.attributes
    selects = [lead.attributes["City"] for lead in Lead.objects.all()]
    assert "Select" not in selects and None in selects
    assert {lead.source for lead in Lead.objects.all()} >= {"Google"}
    assert not Lead.objects.filter(source="google").exists()
    assert job.level_folds == {"Lead Source": {"google": "Google"}}
    seven = Lead.objects.get(external_id="p-000007")
    assert seven.attributes["TotalVisits"] is None and seven.attributes["Do Not Email"] in (True, False)
    assert job.column_types["TotalVisits"] == "number" and job.column_types["Search"] == "boolean"
    assert job.column_types["Country"] == "text"
    assert completed == [{"lead_ids": completed[0]["lead_ids"], "new_outcomes": 30}]
    assert sorted(completed[0]["lead_ids"]) == sorted(Lead.objects.values_list("pk", flat=True))


def test_reimporting_the_same_file_changes_nothing(tmp_path, x_profile, completed):
    path = write(tmp_path, xeducation_csv(25))
    run(path, profile=x_profile)
    before = {lead.pk: lead.updated_at for lead in Lead.objects.all()}
    again = run(path, profile=x_profile)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 25)
    assert {lead.pk: lead.updated_at for lead in Lead.objects.all()} == before
    assert completed[-1] == {"lead_ids": [], "new_outcomes": 0}


def test_changed_row_updates_the_lead_by_external_id(tmp_path, x_profile):
    import random

    rng = random.Random(1)
    rows = [xeducation_row(i, rng, converted="") for i in range(1, 4)]
    run(write(tmp_path, xeducation_csv(rows=rows)), profile=x_profile)
    assert set(Lead.objects.values_list("status", flat=True)) == {Lead.Status.NEW}
    rows[1]["Lead Origin"] = "Lead Import"
    rows[1]["TotalVisits"] = "99"
    rows[2]["Converted"] = "1"
    job = run(write(tmp_path, xeducation_csv(rows=rows), name="v2.csv"), profile=x_profile)
    assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 2, 1)
    assert job.outcomes_count == 1
    lead = Lead.objects.get(external_id="p-000002")
    assert lead.origin == "Lead Import" and lead.attributes["TotalVisits"] == 99
    assert Lead.objects.get(external_id="p-000003").status == Lead.Status.CONVERTED


def test_rows_without_outcome_become_open_new_leads(tmp_path, db):
    path = write(tmp_path, simple_csv([["a1", "a@x.io", "Ann", "", "", "3"], ["a2", "b@x.io", "Bob", "", "won", ""]]))
    job = run(path, mapping=SIMPLE_MAPPING)
    assert job.status == "succeeded", job.error
    assert Lead.objects.get(external_id="a1").status == Lead.Status.NEW
    assert Lead.objects.get(external_id="a2").status == Lead.Status.CONVERTED
    assert Lead.objects.get(external_id="a1").attributes == {"Score": 3}


def test_upsert_by_normalised_email_when_the_file_has_no_id(tmp_path, db):
    existing = LeadFactory(email="ann@example.com", name="Old name", external_id=None)
    mapping = {"mapping": {"email": "Email", "name": "Full name"}}
    path = write(tmp_path, simple_csv([["", "  ANN@Example.com ", "Ann New", "", "", ""]]))
    job = run(path, mapping=mapping)
    assert (job.created_count, job.updated_count) == (0, 1), job.error
    existing.refresh_from_db()
    assert existing.name == "Ann New" and Lead.objects.count() == 1


def test_unmapped_fields_keep_their_stored_values(tmp_path, db, rep):
    LeadFactory(external_id="a1", email="a@x.io", company="Acme", owner=rep)
    path = write(tmp_path, simple_csv([["a1", "a@x.io", "Ann", "", "", ""]]))
    run(path, mapping=SIMPLE_MAPPING)
    lead = Lead.objects.get(external_id="a1")
    assert (lead.company, lead.owner, lead.name) == ("Acme", rep, "Ann")


def test_atomic_mode_imports_nothing_when_any_row_is_bad(tmp_path, db):
    rows = [
        ["a1", "a@x.io", "Ann", "", "yes", "1"],
        ["a2", "not-an-email", "Bob", "", "", "2"],
        ["", "", "Nobody", "", "", "3"],
        ["a1", "c@x.io", "Twin", "", "", "4"],
        ["a5", "e@x.io", "Eve", "", "maybe", "x"],
    ]
    job = run(write(tmp_path, simple_csv(rows)), mapping=SIMPLE_MAPPING)
    assert job.status == ImportJob.Status.FAILED
    assert "nothing was imported" in job.error
    assert Lead.objects.count() == 0
    errors = {(e.row_number, e.column, e.message.split(":")[0].split(" (")[0]) for e in job.row_errors.all()}
    assert errors == {
        (3, "Email", "Malformed email address."),
        (4, "ID", "Missing required id"),
        (5, "ID", "Duplicate id within the file"),
        (6, "Won", "Unknown choice"),
        (6, "Score", "Wrong type"),
    }
    value = job.row_errors.get(row_number=6, column="Score")
    assert value.value == "x" and value.raw == ["a5", "e@x.io", "Eve", "", "maybe", "x"]
    assert (job.failed_count, job.skipped_count) == (4, 1)


def test_skip_bad_mode_lands_good_rows_and_the_error_file_reimports(tmp_path, db):
    from leads.importing.selectors import import_errors_rows

    rows = [
        ["a1", "a@x.io", "Ann", "", "", "1"],
        ["a2", "bad-email", "Bob", "", "", "2"],
        ["a3", "c@x.io", "C", "", "", "3"],
    ]
    job = run(write(tmp_path, simple_csv(rows)), mapping=SIMPLE_MAPPING, mode="skip_bad")
    assert job.status == "succeeded"
    assert (job.created_count, job.failed_count, job.error_count) == (2, 1, 1)
    assert set(Lead.objects.values_list("external_id", flat=True)) == {"a1", "a3"}

    error_rows = list(import_errors_rows(job))
    assert error_rows[0] == ["ID", "Email", "Full name", "Phone", "Won", "Score", "import_row", "import_errors"]
    assert error_rows[1] == ["a2", "bad-email", "Bob", "", "", "2", 3, "Email: Malformed email address."]
    fixed = [error_rows[0], [*error_rows[1][:1], "bob@x.io", *error_rows[1][2:]]]
    path = write(tmp_path, "\n".join(",".join(str(c) for c in row) for row in fixed) + "\n", name="fixed.csv")
    again = run(path, mapping=SIMPLE_MAPPING)
    assert again.status == "succeeded" and again.created_count == 1
    assert Lead.objects.get(external_id="a2").email == "bob@x.io"


def test_dry_run_counts_but_writes_nothing(tmp_path, x_profile, completed):
    job = run(write(tmp_path, xeducation_csv(10)), profile=x_profile, dry_run=True)
    assert job.status == "succeeded" and job.created_count == 10 and job.rows_done == 10
    assert Lead.objects.count() == 0
    assert completed == []


def test_possible_duplicates_by_email_and_phone_are_reported_not_merged(tmp_path, db):
    LeadFactory(external_id="crm-1", email="ann@x.io", phone="555")
    rows = [["a1", "ann@x.io", "Ann", "", "", ""], ["a2", "z@x.io", "Zed", "555", "", ""]]
    job = run(write(tmp_path, simple_csv(rows)), mapping=SIMPLE_MAPPING)
    assert Lead.objects.count() == 3
    found = {(d["row"], d["match"], d["lead_external_id"]) for d in job.duplicates}
    assert found == {(2, "email", "crm-1"), (3, "phone", "crm-1")}


def test_merging_two_leads_moves_activities_and_follow_ups(db):
    from leads.services import leads_merge

    survivor = LeadFactory(external_id="a", phone="")
    duplicate = LeadFactory(external_id="b", phone="555", attributes={"City": "Pune"})
    ActivityFactory(lead=duplicate)
    FollowUpFactory(lead=duplicate)
    merged = leads_merge(survivor=survivor, duplicate=duplicate)
    assert not Lead.objects.filter(pk=duplicate.pk).exists()
    assert merged.activities.filter(kind="call").count() == 1
    assert merged.follow_ups.count() == 1 and merged.next_follow_up_at is not None
    assert merged.phone == "555" and merged.attributes == {"City": "Pune"}


def test_a_crash_mid_file_keeps_committed_chunks_and_resumes(tmp_path, x_profile, monkeypatch, completed):
    from leads.importing import writer

    real = writer.write_chunk
    calls = {"n": 0}

    def flaky(records, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(records, **kwargs)

    monkeypatch.setattr(services, "write_chunk", flaky)
    job = run(write(tmp_path, xeducation_csv(50)), profile=x_profile, chunk_rows=10)
    assert job.status == ImportJob.Status.FAILED
    assert "disk on fire" in job.error and "20 rows were committed" in job.error
    assert (job.rows_done, job.last_chunk) == (20, 1)
    assert Lead.objects.count() == 20

    services.import_job_resume(job=job)
    job = services.import_job_run(job_id=job.pk)
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert Lead.objects.count() == 50 and job.created_count == 50 and job.attempts == 2
    assert sorted(completed[-1]["lead_ids"]) == sorted(Lead.objects.values_list("pk", flat=True))


def test_a_stale_running_job_is_recovered(db, tmp_path, x_profile, settings):
    job = services.import_job_create(file=write(tmp_path, xeducation_csv(5)), user=None, profile=x_profile)
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", heartbeat_at=timezone.now() - timezone.timedelta(hours=2)
    )
    assert services.import_jobs_recover_stale() == [job.pk]
    job.refresh_from_db()
    assert job.status == "pending" and "resumes" in job.error


def test_bad_file_is_refused_at_creation(tmp_path, x_profile):
    with pytest.raises(ImportFileError, match="empty"):
        services.import_job_create(file=write(tmp_path, b""), user=None, profile=x_profile)
    with pytest.raises(ImportFileError, match="lacks the mapped column"):
        services.import_job_create(file=write(tmp_path, "a,b\n1,2\n"), user=None, profile=x_profile)
    assert ImportJob.objects.count() == 0


def test_owner_and_created_date_map_by_username_or_email(tmp_path, rep, other_rep):
    mapping = {"mapping": {"external_id": "ID", "owner": "Owner", "created_at": "Created"}}
    text = "ID,Owner,Created\na1,REP_ALICE,2024-01-31\na2,rep_bob@example.com,2024-02-01T10:00:00\na3,ghost,\n"
    job = run(write(tmp_path, text), mapping=mapping, mode="skip_bad")
    assert job.created_count == 2
    assert Lead.objects.get(external_id="a1").owner == rep
    assert Lead.objects.get(external_id="a2").owner == other_rep
    assert Lead.objects.get(external_id="a1").created_at.date().isoformat() == "2024-01-31"
    assert job.row_errors.get().message.startswith("Unknown owner")


def test_xlsx_file_imports_like_its_csv(tmp_path, x_profile):
    import csv
    import io

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in csv.reader(io.StringIO(xeducation_csv(6))):
        sheet.append(row)
    path = tmp_path / "leads.xlsx"
    workbook.save(path)
    job = run(path, profile=x_profile)
    assert job.status == "succeeded", job.error
    assert job.created_count == 6 and job.encoding == ""
    lead = Lead.objects.get(external_id="p-000003")
    assert lead.status == Lead.Status.CONVERTED and lead.attributes["Lead Number"] == 600003


def test_long_file_names_are_kept_to_the_column_size(tmp_path, x_profile):
    path = write(tmp_path, xeducation_csv(2), name="x" * 200 + ".csv")
    job = services.import_job_create(file=path, user=None, profile=x_profile, name="y" * 400 + ".csv")
    assert len(job.original_name) == 255 and job.original_name.endswith(".csv")


@pytest.mark.django_db(transaction=True)
def test_a_crash_in_the_postgres_writer_thread_keeps_whole_chunks(tmp_path, requires_postgres, monkeypatch, completed):
    """Outside a transaction on PostgreSQL the chunks are committed by a writer thread; a crash
    there stops the import after the last whole chunk, and resuming finishes it."""
    from leads.importing import writer

    profile = x_education_profile()
    real = writer.write_chunk
    failed = []

    def flaky(records, **kwargs):
        # The fourth chunk (rows 62-81; writers take chunks in parallel, so tell it by its rows) fails once.
        if records[0][0] == 62 and not failed:
            failed.append(True)
            raise RuntimeError("connection reset")
        return real(records, **kwargs)

    monkeypatch.setattr(services, "write_chunk", flaky)
    job = run(write(tmp_path, xeducation_csv(100)), profile=profile, chunk_rows=20)
    assert job.status == ImportJob.Status.FAILED and "connection reset" in job.error
    job.refresh_from_db()
    assert (job.rows_done, job.last_chunk) == (60, 2)
    assert Lead.objects.count() == 60

    services.import_job_resume(job=job)
    job = services.import_job_run(job_id=job.pk)
    assert job.status == ImportJob.Status.SUCCEEDED and Lead.objects.count() == 100


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_commit_chunks_in_file_order(tmp_path, requires_postgres, monkeypatch, completed, settings):
    """With several writer connections a later chunk may be written first, but chunks commit in
    file order, so `last_chunk` always means "this one and every one before it"."""
    import time

    from leads.importing import writer

    settings.IMPORT_WRITERS = 3
    real = writer.write_chunk
    seen_at_commit: list[tuple[int, int]] = []

    def slow_first(records, **kwargs):
        if records[0][0] == 2:  # chunk 0 takes longest
            time.sleep(0.3)
        return real(records, **kwargs)

    def progress(job):
        if job.last_chunk >= 0:  # after a chunk's commit (not the end of validation)
            seen_at_commit.append((job.last_chunk, ImportJob.objects.get(pk=job.pk).rows_done))

    monkeypatch.setattr(services, "write_chunk", slow_first)
    job = services.import_job_create(
        file=write(tmp_path, xeducation_csv(100)), user=None, profile=x_education_profile(), chunk_rows=10
    )
    job = services.import_job_run(job_id=job.pk, progress=progress)
    assert job.status == ImportJob.Status.SUCCEEDED and Lead.objects.count() == 100
    assert seen_at_commit == [(index, (index + 1) * 10) for index in range(10)]


def test_a_stalled_running_job_can_be_resumed_by_hand_but_a_live_one_cannot(tmp_path, x_profile):
    from django.core.exceptions import ValidationError

    job = services.import_job_create(file=write(tmp_path, xeducation_csv(5)), user=None, profile=x_profile)
    ImportJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())
    with pytest.raises(ValidationError):
        services.import_job_resume(job=job)
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timezone.timedelta(hours=1))
    services.import_job_resume(job=job)
    job = services.import_job_run(job_id=job.pk)
    assert job.status == "succeeded" and Lead.objects.count() == 5


@pytest.mark.parametrize("chunk_rows", [10, 1])
def test_two_rows_matching_one_lead_by_id_and_by_email_both_apply_in_file_order(tmp_path, db, completed, chunk_rows):
    """Row 2 matches the stored lead by its external id, row 3 (no id) by its email: both rows are
    applied, in file order (row 3 last), whether the rows share a chunk or not."""
    lead = LeadFactory(external_id="ext-1", email="ann@example.com", name="Stored", company="Old Co")
    text = (
        "id,email,name,company,city\next-1,ann@example.com,By id,Id Co,Rome\n,ANN@example.com,By email,Email Co,Oslo\n"
    )
    mapping = {"mapping": {"external_id": "id", "email": "email", "name": "name", "company": "company"}}
    job = run(write(tmp_path, text), mapping=mapping, chunk_rows=chunk_rows)
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    lead.refresh_from_db()
    assert (job.created_count, job.updated_count, job.failed_count) == (0, 2, 0), job.error
    assert (lead.name, lead.company, lead.attributes["city"]) == ("By email", "Email Co", "Oslo")
    assert Lead.objects.count() == 1


def test_text_needing_escapes_is_stored_as_written_through_the_copy_path(tmp_path, db, completed):
    """Backslashes, tabs and newlines in a name or an attribute survive the fast COPY of new leads
    (and the ORM path elsewhere) unchanged."""
    name = "Back\\slash\tand tab"
    note = 'line one\nline two \\n not a newline\r\n"quoted"'
    text = f'id,name,note\nn-1,"{name}","{note.replace(chr(34), chr(34) * 2)}"\nn-2,Plain,plain\n'
    job = run(write(tmp_path, text), mapping={"mapping": {"external_id": "id", "name": "name"}})
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    lead = Lead.objects.get(external_id="n-1")
    assert lead.name == name
    assert lead.attributes["note"] == note
    assert Lead.objects.get(external_id="n-2").attributes["note"] == "plain"


def test_a_finished_and_a_failed_import_tell_the_admins(tmp_path, x_profile, admin_user, completed):
    from leads.models import Notification

    ok = run(write(tmp_path, xeducation_csv(3)), profile=x_profile, user=admin_user)
    rows = [["a1", "not-an-email", "Bob", "", "", "2"]]
    bad = run(write(tmp_path, simple_csv(rows), name="bad.csv"), mapping=SIMPLE_MAPPING, user=admin_user)
    assert (ok.status, bad.status) == (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED)
    kinds = dict(Notification.objects.filter(user=admin_user).values_list("title", "kind"))
    assert kinds == {
        f"Import #{ok.pk} {ok.original_name} finished": "import_finished",
        f"Import #{bad.pk} bad.csv failed": "import_failed",
    }


# --- campaign and converted value: lead fields of every import ---------------------------------


def _channel_rows(*, with_email: bool) -> list[list[str]]:
    return [[r[0], f"{r[0]}@x.io" if with_email else "", *r[2:]] for r in CHANNEL_ROWS]


@pytest.mark.parametrize("with_email", [False, True], ids=["copy-path", "staged-insert"])
def test_campaign_and_value_columns_import_on_every_write_path(tmp_path, db, completed, with_email, monkeypatch):
    from django.db import connection

    from leads.importing import writer

    # Without email or phone a chunk of new leads is COPYed straight in; with them it is staged.
    copied = []
    copy_new_leads = writer._copy_new_leads
    monkeypatch.setattr(writer, "_copy_new_leads", lambda *a: copied.append(copy_new_leads(*a)) or copied[-1])
    rows = _channel_rows(with_email=with_email)
    job = run(write(tmp_path, channel_csv(rows)), mapping=CHANNEL_MAPPING)
    assert (job.status, job.created_count) == ("succeeded", 6), job.error
    if connection.vendor == "postgresql":
        assert (copied[0] is not None) == (not with_email)
    stored = {lead.external_id: (lead.campaign, lead.converted_value, lead.status) for lead in Lead.objects.all()}
    assert stored == {
        "c1": ("spring", Decimal("1200000.00"), "converted"),
        "c2": ("spring", Decimal("1200000.00"), "converted"),
        "c3": ("autumn", Decimal("950.00"), "converted"),
        "c4": ("autumn", None, "converted"),  # no value: the report applies the channel's value when it reads
        "c5": ("brand", Decimal("1200000.00"), "new"),  # a value on an open lead is kept
        "c6": ("brand", None, "lost"),
    }
    lead = Lead.objects.get(external_id="c1")
    assert "utm_campaign" not in lead.attributes and "Deal value" not in lead.attributes  # the value would leak

    # The update path: a changed value and campaign are written; a blank value keeps the stored one.
    rows[0][3:5] = ["summer", "€ 1.500,50"]
    rows[2][4] = ""
    again = run(write(tmp_path, channel_csv(rows), name="again.csv"), mapping=CHANNEL_MAPPING)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 1, 5), again.error
    c1, c3 = Lead.objects.get(external_id="c1"), Lead.objects.get(external_id="c3")
    assert (c1.campaign, c1.converted_value) == ("summer", Decimal("1500.50"))
    assert c3.converted_value == Decimal("950.00")

    # The same file once more changes nothing.
    before = dict(Lead.objects.values_list("pk", "updated_at"))
    same = run(write(tmp_path, channel_csv(rows), name="same.csv"), mapping=CHANNEL_MAPPING)
    assert (same.created_count, same.updated_count, same.unchanged_count) == (0, 0, 6)
    assert dict(Lead.objects.values_list("pk", "updated_at")) == before


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        ("$1,200,000.00", "1200000.00"),
        ("1200000", "1200000.00"),
        ("1.200.000,00 €", "1200000.00"),
        ("EUR 950", "950.00"),
        ("950 USD", "950.00"),
        ("1,5", "1.50"),
        ("  ", None),
    ],
)
def test_value_column_reads_money_as_exports_write_it(tmp_path, db, cell, stored):
    job = run(write(tmp_path, channel_csv([["v1", "", "Google", "x", cell, "Won"]])), mapping=CHANNEL_MAPPING)
    assert job.status == "succeeded", job.error
    assert Lead.objects.get(external_id="v1").converted_value == (Decimal(stored) if stored else None)


BAD_VALUE_ROWS = [
    ["b1", "", "Google", "x", "$100", "Won"],
    ["b2", "", "Google", "x", "-5", "Won"],
    ["b3", "", "Google", "x", "about 3k", "Won"],
    ["b4", "", "Google", "x", "(40)", "Won"],
    ["b5", "", "Google", "x", "1000000000000", "Won"],
]


def test_bad_values_are_errors_of_their_row_and_column_and_skip_bad_keeps_the_rest(tmp_path, db):
    job = run(write(tmp_path, channel_csv(BAD_VALUE_ROWS)), mapping=CHANNEL_MAPPING, mode="skip_bad")
    assert (job.status, job.created_count, job.failed_count) == ("succeeded", 1, 4), job.error
    errors = {(e.row_number, e.column, e.value, e.message) for e in job.row_errors.all()}
    assert errors == {
        (3, "Deal value", "-5", "An amount of money cannot be negative."),
        (4, "Deal value", "about 3k", "'about 3k' is not an amount of money."),
        (5, "Deal value", "(40)", "An amount of money cannot be negative."),
        (6, "Deal value", "1000000000000", "That amount is too large."),
    }
    assert list(Lead.objects.values_list("external_id", "converted_value")) == [("b1", Decimal("100.00"))]


def test_a_bad_value_refuses_the_whole_atomic_import(tmp_path, db):
    job = run(write(tmp_path, channel_csv(BAD_VALUE_ROWS)), mapping=CHANNEL_MAPPING)
    assert job.status == ImportJob.Status.FAILED and "nothing was imported" in job.error
    assert not Lead.objects.exists()
    assert sorted(job.row_errors.values_list("row_number", flat=True)) == [3, 4, 5, 6]


def test_a_campaign_longer_than_the_field_is_a_row_error(tmp_path, db):
    rows = [["l1", "", "Google", "x" * 129, "", "Won"], ["l2", "", "Google", "ok", "", "Won"]]
    job = run(write(tmp_path, channel_csv(rows)), mapping=CHANNEL_MAPPING, mode="skip_bad")
    error = job.row_errors.get()
    assert (error.row_number, error.column) == (2, "utm_campaign") and "at most 128" in error.message
    assert list(Lead.objects.values_list("external_id", flat=True)) == ["l2"]


def test_a_lead_inserted_by_another_writer_meanwhile_keeps_its_campaign_and_value_unless_the_file_gives_them(
    tmp_path, db, requires_postgres, monkeypatch
):
    from leads.importing import writer

    # As if another writer inserted the lead between the match and the INSERT: ON CONFLICT applies the row.
    monkeypatch.setattr(writer, "_TARGET_BY_ID", "SELECT 1")
    LeadFactory(external_id="c1", source="Google", campaign="old", converted_value=Decimal("5.00"))
    blank = run(write(tmp_path, channel_csv([["c1", "", "Google", "", "", "Won"]])), mapping=CHANNEL_MAPPING)
    assert blank.updated_count == 1, blank.error
    lead = Lead.objects.get(external_id="c1")
    assert (lead.status, lead.campaign, lead.converted_value) == ("converted", "old", Decimal("5.00"))
    given = run(write(tmp_path, channel_csv([["c1", "", "Google", "new", "$7", "Won"]]), name="b.csv"),
                mapping=CHANNEL_MAPPING)  # fmt: skip
    assert given.updated_count == 1, given.error
    lead.refresh_from_db()
    assert (lead.campaign, lead.converted_value) == ("new", Decimal("7.00"))
