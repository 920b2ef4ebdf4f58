"""Keeping the rollups up to date: writes mark their days, the task rebuilds them, the beat's full
rebuild catches up with writes that bypass the services, and every rebuild is repeatable."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads import services
from leads.models import Lead, RollupCube, RollupCubeMonth, RollupDirty, RollupFunnel, RollupLost
from leads.reports import rollup_reads, rollups, selectors
from leads.reports.rollups import ROLLUPS
from leads.reports.selectors import ReportFilters
from leads.signals import leads_scored_send
from tests.factories import LeadFactory, RepFactory

pytestmark = pytest.mark.django_db


def _rows():
    tables = {
        rollup.model.__name__: sorted(
            repr(sorted(row.items())) for row in rollup.model.objects.values(*rollup.columns())
        )
        for rollup in ROLLUPS
    }
    months = RollupCubeMonth.objects.values("month", *rollups.CUBE_DIMS, *rollups.CUBE_MEASURES)
    return {**tables, "RollupCubeMonth": sorted(repr(sorted(row.items())) for row in months)}


def _built():
    rollups.rollups_rebuild_all()
    rollups.pending_reload()


def _cube_total(filters: ReportFilters) -> dict:
    return selectors.conversion_total(rollup_reads.conversion_cube(filters))


@pytest.fixture
def leads(db):
    rep = RepFactory(username="rep1", first_name="Ann")
    now = timezone.now()
    made = [
        LeadFactory(source="Google", owner=rep, status="converted", tier="hot", score=90,
                    created_at=now - timedelta(days=d), converted_at=now - timedelta(days=d) + timedelta(days=1))
        for d in (2, 3, 40)
    ]  # fmt: skip
    made += [LeadFactory(source="Chat", status="new", created_at=now - timedelta(days=d)) for d in (2, 10)]
    return {"rep": rep, "leads": made}


def test_two_rebuilds_give_the_same_rows(leads):
    _built()
    first = _rows()
    assert first["RollupCube"] and first["RollupChannel"] and first["RollupCubeMonth"]
    rollups.rollups_rebuild_all()
    assert _rows() == first
    day = rollups.local_day(leads["leads"][0].created_at)
    rollups.rollups_rebuild_days([day])
    rollups.rollups_rebuild_days([day])
    assert _rows() == first


def test_a_lead_created_closed_and_assigned_through_the_services_shows_after_the_task(
    leads, django_capture_on_commit_callbacks
):
    _built()
    rep = leads["rep"]
    with django_capture_on_commit_callbacks(execute=True):
        created = services.lead_create(name="Fresh", source="Fair", origin="API")
    assert not RollupDirty.objects.exists()  # the task (eager in tests) rebuilt the day
    assert RollupCube.objects.filter(source="Fair").values_list("leads", flat=True).get() == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.lead_assign(lead=created, rep=rep)
    with django_capture_on_commit_callbacks(execute=True):
        services.lead_close(lead=created, outcome="lost", user=rep, reason="Price")
    assert not RollupDirty.objects.exists()
    rollups.pending_reload()
    assert rollups.pending() == rollups.Pending()  # reading the rollup rows alone now
    cube = RollupCube.objects.get(source="Fair")
    assert (cube.owner_id, cube.leads, cube.lost) == (rep.pk, 1, 1)
    assert RollupLost.objects.get(source="Fair").lost_reason == "Price"
    assert _cube_total(ReportFilters(source="Fair", owner=str(rep.pk)))["lost"] == 1
    # Contacted through an activity: the funnel's stage and the contact count move too.
    other = services.lead_create(name="Called", source="Fair")
    with django_capture_on_commit_callbacks(execute=True):
        services.activity_log(lead=other, user=rep, kind="call")
    assert RollupFunnel.objects.filter(source="Fair", stage=1).exists()
    assert RollupCube.objects.filter(source="Fair", contacted=1).exists()


def test_a_write_is_in_a_computed_report_before_the_task_runs(leads):
    _built()
    before = _cube_total(ReportFilters(source="Chat"))["leads"]
    services.lead_create(name="Fresh", source="Chat")  # no commit in this test: the task has not run
    assert RollupDirty.objects.exists()
    assert _cube_total(ReportFilters(source="Chat"))["leads"] == before + 1


def test_rebuild_after_raw_sql_changes_catches_up(leads):
    _built()
    lead = leads["leads"][3]
    Lead.objects.filter(pk=lead.pk).update(status="converted")  # bypasses the services: nothing marked
    assert _cube_total(ReportFilters(source="Chat"))["converted"] == 0  # the rollup has not seen it
    rollups.rollups_rebuild_all()  # the beat's safety net
    assert _cube_total(ReportFilters(source="Chat"))["converted"] == 1
    assert rollup_reads.conversion_cube(ReportFilters()) and _rows()["RollupCube"]


def test_pending_rebuild_claims_its_marks_and_matches_a_full_rebuild(leads):
    _built()
    LeadFactory(source="Chat", created_at=timezone.now() - timedelta(days=5))
    Lead.objects.filter(pk=leads["leads"][0].pk).update(status="lost")
    rollups.rollups_mark_leads([leads["leads"][0].pk])
    assert rollups.rollups_rebuild_pending() == 2
    assert not RollupDirty.objects.exists()
    incremental = _rows()
    rollups.rollups_rebuild_all()
    assert _rows() == incremental
    assert rollups.rollups_rebuild_pending() == 0  # safe to run twice


def test_a_large_rescore_marks_every_day(leads):
    _built()
    leads_scored_send(list(range(1, rollups.MARK_LEADS_MAX + 2)))
    assert RollupDirty.objects.filter(day__isnull=True).exists()
    assert rollups.pending().every
    assert rollups.rollups_rebuild_pending() == -1


def test_dense_ids_mark_their_range_in_one_statement_and_sparse_ids_only_their_own_days(
    leads, django_assert_num_queries
):
    now = timezone.now()
    far = [LeadFactory(source="Chat", created_at=now - timedelta(days=d)) for d in (100, 200, 300)]
    _built()
    day = rollups.local_day

    # A rescore's chunk: consecutive ids, one INSERT ... SELECT over their range. The lead between
    # the two given (not itself given) may be marked too: that costs its day a rebuild, no more.
    with django_assert_num_queries(1):
        rollups.rollups_mark_leads([far[0].pk, far[2].pk])
    assert set(RollupDirty.objects.values_list("day", flat=True)) == {day(lead.created_at) for lead in far}
    RollupDirty.objects.all().delete()
    rollups.pending_reload()

    # Sparse ids (spread over more than DENSE_IDS_SPAN times their number): exactly their days.
    sparse = [leads["leads"][0].pk, far[2].pk]
    assert far[2].pk - leads["leads"][0].pk >= rollups.DENSE_IDS_SPAN * len(sparse)
    rollups.rollups_mark_leads(sparse)
    assert set(RollupDirty.objects.values_list("day", flat=True)) == {
        day(leads["leads"][0].created_at),
        day(far[2].created_at),
    }
    assert rollups.rollups_rebuild_pending() == 2
    incremental = _rows()
    rollups.rollups_rebuild_all()
    assert _rows() == incremental


def test_the_command_rebuilds(leads, capsys):
    call_command("rebuild_report_rollups")
    assert "Rebuilt the report rollups" in capsys.readouterr().out
    assert not RollupDirty.objects.exists() and RollupCube.objects.exists()
    LeadFactory(source="Chat")
    call_command("rebuild_report_rollups", "--pending")
    assert "1 day(s)" in capsys.readouterr().out


def test_the_beat_rebuilds_the_rollups_hourly(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["reports-rollups-rebuild"]
    assert entry["task"] == "reports.rollups_rebuild_all"
    assert entry["schedule"] == settings.REPORT_ROLLUP_REBUILD_SECONDS
    from leadcrm.celery import app

    app.loader.import_default_modules()
    assert {"reports.rollups_rebuild_all", "reports.rollups_rebuild_pending"} <= set(app.tasks)


def _owner_rows(source: str) -> dict:
    """Owner -> leads of `source` in a computed report (rollups plus pending days)."""
    return {
        r["key"]: r["leads"]
        for r in selectors.conversion_by(rollup_reads.conversion_cube(ReportFilters(source=source)), "owner_id")
    }


def test_writes_that_update_in_bulk_mark_their_days(leads, admin_user):
    """Deactivation, routing and erasure change owners and reasons with QuerySet.update: they mark
    their leads' days themselves, so a computed report shows them before any rebuild."""
    from leads import accounts, privacy, routing
    from leads.models import RoutingRule

    rep = leads["rep"]
    LeadFactory(source="Open", owner=rep, status="new")
    lost = LeadFactory(source="Erase", status="lost", lost_reason="Price")
    _built()
    assert _owner_rows("Open") == {rep.pk: 1}
    accounts.user_deactivate(by=admin_user, user=rep)
    assert _owner_rows("Open") == {None: 1}
    assert _owner_rows("Google") == {rep.pk: 3}  # closed leads keep their owner

    _built()
    new_rep = RepFactory(username="rep2", first_name="Bo")
    RoutingRule.objects.create(name="Everything").reps.set([new_rep])
    assert routing.leads_route() == 3  # the two Chat leads and the Open one
    assert _owner_rows("Chat") == {new_rep.pk: 2}

    _built()
    assert rollup_reads.lost_by_reason(ReportFilters(source="Erase"))[0]["label"] == "Price"
    privacy.person_erase(lead=lost, by=admin_user)
    assert rollup_reads.lost_by_reason(ReportFilters(source="Erase"))[0]["label"] == "Other"


def test_an_import_that_failed_after_writing_marks_every_day(leads):
    from leads.models import ImportJob
    from leads.reports.rollup_receivers import on_import_finished

    _built()
    job = ImportJob(status=ImportJob.Status.SUCCEEDED, created_count=5)
    on_import_finished(None, job=job)  # its leads came through outcomes_imported
    assert not RollupDirty.objects.exists()
    job.status = ImportJob.Status.FAILED
    on_import_finished(None, job=job)
    assert RollupDirty.objects.filter(day__isnull=True).exists() and rollups.pending().every


def test_many_marked_days_are_rebuilt_in_one_pass(leads, settings):
    _built()
    settings.REPORT_ROLLUP_PENDING_DAYS_MAX = 2
    for lead in leads["leads"]:  # four days, marked one call at a time (as rescoring batches do)
        rollups.rollups_mark_lead_objects([lead])
    assert rollups.rollups_rebuild_pending() == -1
    assert not RollupDirty.objects.exists()
