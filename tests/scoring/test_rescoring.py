"""Rescore requests and the rescore pipeline (scoring/rescoring.py)."""

from concurrent.futures import Future
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import F as DbF
from django.utils import timezone

from leads.models import Lead, LeadRank
from leads.services import activity_log
from scoring import registry, rescoring, selectors, training_runs
from scoring.models import ModelVersion, RescorePartition, RescoreRun, ScoreHistory, ScoringSettings, TrainingRun
from tests.factories import LeadFactory
from tests.scoring.conftest import outcome_leads_create, rescore_all


@pytest.mark.django_db
def test_cold_start_refuses_training_and_scores_the_base_rate(settings):
    outcome_leads_create(30)
    settings.SCORING_MIN_CONVERTED = 50
    settings.SCORING_MIN_LOST = 50

    with pytest.raises(training_runs.TrainingRefused, match=r"model not trained yet: \d+ of 100 outcomes"):
        training_runs.model_train(folds=3)
    run = rescore_all()

    readiness = selectors.training_readiness()
    base = readiness.converted / (readiness.converted + readiness.lost)
    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    assert run.model_version is None
    assert lead.probability == pytest.approx(base)
    assert lead.score == round(100 * base) == lead.priority
    assert lead.model_version_id is None


@pytest.mark.django_db
def test_admin_rule_score_replaces_the_base_rate_at_cold_start():
    outcome_leads_create(10)
    ScoringSettings.objects.update_or_create(pk=1, defaults={"rule_score": 42})

    rescore_all()

    assert set(LeadRank.objects.values_list("score", flat=True)) == {42}


@pytest.mark.django_db
def test_corrupt_active_artifact_falls_back_to_the_last_good_model(trained):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=5.0, margin_log_loss=5.0)  # the retrain replaces it
    second = training_runs.model_train(folds=3)
    second.refresh_from_db()
    with open(second.artifact_path, "r+b") as handle:
        handle.seek(50)
        handle.write(b"corrupt")
    registry.cache_clear()

    version, loaded = selectors.model_in_use()

    assert version.pk == trained.pk and loaded is not None
    second.refresh_from_db()
    assert second.load_error == ""  # a read records nothing; the rescore below does
    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    rescoring.leads_rescore(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.model_version_id == trained.pk
    second.refresh_from_db()
    assert "sha256" in second.load_error


@pytest.mark.django_db
def test_rescore_is_idempotent_and_uses_one_version_per_run(trained, settings):
    settings.SCORING_RESCORE_CHUNK = 64
    first = rescore_all()
    history = ScoreHistory.objects.count()
    snapshot = list(
        LeadRank.objects.order_by("pk").values_list(
            "pk", "score", "probability", "tier", "score_reasons", "model_version_id", "priority", "scored_at"
        )
    )

    second = rescore_all()

    assert first.status == second.status == RescoreRun.Status.DONE
    assert second.scored == Lead.objects.count() and second.changed == 0
    assert ScoreHistory.objects.count() == history
    assert snapshot == list(
        LeadRank.objects.order_by("pk").values_list(
            "pk", "score", "probability", "tier", "score_reasons", "model_version_id", "priority", "scored_at"
        )
    )
    assert set(LeadRank.objects.values_list("model_version_id", flat=True)) == {trained.pk}


@pytest.mark.django_db
def test_an_interrupted_rescore_run_resumes_where_it_stopped(trained, settings):
    settings.SCORING_RESCORE_CHUNK = 50
    LeadRank.objects.update(score=None, model_version=None, priority=-1, scored_at=None)
    run = rescoring.rescore_run_start()

    rescoring.rescore_run_continue(run, max_chunks=2)  # the worker "dies" here
    run.refresh_from_db()
    assert run.status == RescoreRun.Status.RUNNING and run.scored == 100
    assert LeadRank.objects.filter(scored_at__isnull=False).count() == 100

    rescoring.rescore_run_continue(run)

    run.refresh_from_db()
    assert run.status == RescoreRun.Status.DONE and run.scored == Lead.objects.count()
    assert not LeadRank.objects.filter(scored_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_newer_run_supersedes_a_running_one(trained):
    old = rescoring.rescore_run_start()
    new = rescoring.rescore_run_start()

    old = rescoring.rescore_run_continue(old)

    assert old.status == RescoreRun.Status.SUPERSEDED and old.scored == 0
    assert rescoring.rescore_run_continue(new).status == RescoreRun.Status.DONE


@pytest.mark.django_db
def test_a_logged_activity_rescores_the_lead_at_once_in_eager_mode(trained, rep, django_capture_on_commit_callbacks):
    lead = LeadFactory(owner=rep, attributes={"plan": "pro", "visits": 3})
    assert lead.score is None

    with django_capture_on_commit_callbacks(execute=True):
        activity_log(lead=lead, user=rep, kind="call", outcome="connected")

    lead.refresh_from_db()
    assert lead.score is not None and lead.model_version_id == trained.pk
    assert lead.priority == lead.score


@pytest.mark.django_db
def test_a_lead_rescored_after_a_change_that_keeps_its_score_is_no_longer_stale(
    trained, rep, django_capture_on_commit_callbacks
):
    lead = LeadFactory(owner=rep, attributes={"plan": "pro", "visits": 3})
    rescoring.leads_rescore(lead_ids=[lead.pk])
    scored = Lead.objects.select_related("rank").get(pk=lead.pk)  # its score as it is now
    Lead.objects.filter(pk=lead.pk).update(updated_at=timezone.now())  # changed, as an edit would
    assert Lead.objects.filter(rescoring._stale_filter(trained.pk), pk=lead.pk).exists()

    assert rescoring.leads_rescore(lead_ids=[lead.pk]) == 0  # the same features: the same score

    again = Lead.objects.get(pk=lead.pk)
    assert (again.score, again.probability, again.score_reasons) == (
        scored.score,
        scored.probability,
        scored.score_reasons,
    )
    assert again.scored_at > scored.scored_at
    assert not Lead.objects.filter(rescoring._stale_filter(trained.pk), pk=lead.pk).exists()


@pytest.mark.django_db
def test_rescore_requests_are_debounced_with_a_worker(
    trained, settings, django_capture_on_commit_callbacks, monkeypatch
):
    from leadcrm.celery import app
    from scoring import tasks

    sent = []
    monkeypatch.setattr(tasks.rescore_leads, "apply_async", lambda **kw: sent.append(kw))
    app.conf.task_always_eager = False
    try:
        with django_capture_on_commit_callbacks(execute=True):
            rescoring.lead_rescore_request([1, 2])
        with django_capture_on_commit_callbacks(execute=True):
            rescoring.lead_rescore_request([2, 3])
    finally:
        app.conf.task_always_eager = True

    assert [s["kwargs"]["lead_ids"] for s in sent] == [[1, 2], [3]]
    assert all(s["countdown"] >= 1 for s in sent)


@pytest.mark.django_db
def test_bulk_rescore_requests_skip_the_per_lead_debounce(settings, django_capture_on_commit_callbacks, monkeypatch):

    from leadcrm.celery import app
    from scoring import tasks

    settings.SCORING_RESCORE_CHUNK = 1000
    sent = []
    monkeypatch.setattr(tasks.rescore_leads, "apply_async", lambda **kw: sent.append(kw))
    ids = list(range(1, rescoring.DEBOUNCE_MAX_IDS + 502))
    app.conf.task_always_eager = False
    try:
        with django_capture_on_commit_callbacks(execute=True):
            rescoring.lead_rescore_request(ids)
    finally:
        app.conf.task_always_eager = True

    assert [len(s["kwargs"]["lead_ids"]) for s in sent] == [1000, 501]
    assert [i for s in sent for i in s["kwargs"]["lead_ids"]] == ids
    assert cache.get(rescoring.PENDING_KEY.format(1)) is None


@pytest.mark.django_db
def test_import_with_enough_new_outcomes_asks_for_a_retrain(outcome_leads, django_capture_on_commit_callbacks):
    leads = outcome_leads(200)

    with django_capture_on_commit_callbacks(execute=True):
        rescoring.import_completed(lead_ids=[lead.pk for lead in leads], new_outcomes=200)

    assert TrainingRun.objects.filter(trigger="import").exists()
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()


@pytest.mark.django_db(transaction=True)
def test_rescore_outside_a_transaction_overlaps_writes_and_stays_whole(requires_postgres, settings):
    outcome_leads_create(300)
    version = training_runs.model_train(folds=3)  # activation also rescored every lead, pipelined
    settings.SCORING_RESCORE_CHUNK = 40
    LeadRank.objects.update(score=None, model_version=None, priority=-1, scored_at=None)
    assert not connection.in_atomic_block

    run = rescoring.rescore_run_continue(rescoring.rescore_run_start())

    assert run.status == RescoreRun.Status.DONE
    assert run.scored == Lead.objects.count() == run.changed
    assert set(LeadRank.objects.values_list("model_version_id", flat=True)) == {version.pk}
    assert not LeadRank.objects.exclude(priority=DbF("score")).exists()


# --- partitions ---------------------------------------------------------------------------


def _ids_in(bounds) -> list[int]:
    ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    return [i for i in ids for after, through in bounds if i > after and (through is None or i <= through)]


@pytest.mark.django_db
def test_partition_bounds_cover_every_lead_once_in_even_ranges_despite_gaps():
    LeadFactory.create_batch(40)
    ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    Lead.objects.filter(pk__in=ids[5:17] + ids[30:33]).delete()  # gaps of 12 and 3 ids
    left = list(Lead.objects.order_by("pk").values_list("pk", flat=True))

    bounds = rescoring.partition_bounds(7)

    assert _ids_in(bounds) == left  # each lead once, in order
    sizes = [sum(1 for i in left if i > after and (through is None or i <= through)) for after, through in bounds]
    assert sizes == [7, 7, 7, 4]
    assert bounds[0][0] == 0 and bounds[-1][1] is None  # leads created during a run fall in the last
    assert all(bounds[k][1] == bounds[k + 1][0] for k in range(len(bounds) - 1))


@pytest.mark.django_db
def test_partition_bounds_of_an_exact_multiple_leave_no_empty_range_and_one_when_smaller():
    LeadFactory.create_batch(10)

    assert len(rescoring.partition_bounds(5)) == 2
    assert _ids_in(rescoring.partition_bounds(5)) == list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    assert rescoring.partition_bounds(50) == [(0, None)]


@pytest.mark.django_db
def test_partition_bounds_of_an_empty_table_are_none_and_its_run_is_done_at_once():
    assert rescoring.partition_bounds(5) == []

    run = rescore_all()

    assert run.status == RescoreRun.Status.DONE and run.partitions_total == 0 and run.scored == 0


@pytest.mark.django_db
def test_a_requested_rescore_runs_every_partition_in_eager_mode_with_the_runs_version(
    trained, settings, django_capture_on_commit_callbacks
):
    settings.SCORING_RESCORE_PARTITION_SIZE = 60
    settings.SCORING_RESCORE_CHUNK = 25
    LeadRank.objects.update(score=None, model_version=None, priority=-1, scored_at=None)

    with django_capture_on_commit_callbacks(execute=True):
        run = rescoring.rescore_all_request()

    run.refresh_from_db()
    total = Lead.objects.count()
    assert run.status == RescoreRun.Status.DONE and run.finished_at is not None
    assert run.partitions_total == run.partitions_done == -(-total // 60) > 1
    assert run.scored == total
    assert set(run.partitions.values_list("status", flat=True)) == {RescorePartition.Status.DONE}
    assert sum(run.partitions.values_list("scored", flat=True)) == total
    assert set(LeadRank.objects.values_list("model_version_id", flat=True)) == {trained.pk}


@pytest.mark.django_db
def test_a_chunk_written_beside_a_failed_earlier_chunk_rolls_back_and_the_partition_stays(trained, settings):
    settings.SCORING_RESCORE_PARTITION_SIZE = 100
    LeadRank.objects.update(score=None, model_version=None, priority=-1, scored_at=None)
    run = rescoring.rescore_run_start()
    partition = rescoring.rescore_run_plan(run)[0]
    ids = list(Lead.objects.filter(pk__gt=partition.after_id).order_by("pk").values_list("pk", flat=True)[:10])
    rows = rescoring.leads_score(
        ids, as_of=run.as_of, version=trained, loaded=registry.model_load(trained), cutoffs={"hot": 60, "warm": 30}
    )
    failed, done = Future(), Future()
    failed.set_result(False)  # the chunk before lost the partition (or the run was superseded)
    done.set_result(True)
    args = (partition.pk, run.pk, partition.after_id, rows, ids[-1], trained.pk, run.as_of, False)

    assert rescoring._chunk_commit(*args, failed) is False
    assert not LeadRank.objects.filter(pk__in=ids, scored_at__isnull=False).exists()
    assert RescorePartition.objects.get(pk=partition.pk).last_lead_id == partition.after_id

    assert rescoring._chunk_commit(*args, done) is True  # once the chunk before landed, this one does
    assert LeadRank.objects.filter(pk__in=ids, model_version=trained).count() == len(ids)
    assert RescorePartition.objects.get(pk=partition.pk).last_lead_id == ids[-1]


@pytest.mark.django_db(transaction=True)
def test_a_rescore_with_one_or_three_writers_scores_every_lead_once(requires_postgres, settings):
    outcome_leads_create(300)
    version = training_runs.model_train(folds=3)
    settings.SCORING_RESCORE_CHUNK = 30
    for writers in (1, 3):
        settings.SCORING_RESCORE_WRITERS = writers
        LeadRank.objects.update(score=None, model_version=None, priority=-1, scored_at=None)
        ScoreHistory.objects.all().delete()

        run = rescoring.rescore_run_continue(rescoring.rescore_run_start())

        assert run.status == RescoreRun.Status.DONE
        assert run.scored == run.changed == Lead.objects.count() == ScoreHistory.objects.count()
        assert set(LeadRank.objects.values_list("model_version_id", flat=True)) == {version.pk}


@pytest.mark.django_db
def test_a_partition_held_by_a_live_claim_is_left_alone_and_taken_over_once_the_claim_lapses(trained, settings):
    settings.SCORING_RESCORE_PARTITION_SIZE = 100
    settings.SCORING_RESCORE_CHUNK = 30
    LeadRank.objects.update(score=None, model_version=None, priority=-1, scored_at=None)
    run = rescoring.rescore_run_start()
    first = rescoring.rescore_run_plan(run)[0]
    RescorePartition.objects.filter(pk=first.pk).update(
        claimed_by="dead-host:1", claimed_until=timezone.now() + timedelta(minutes=1)
    )

    assert rescoring.rescore_partition_run(first) == 0  # someone holds it
    assert not LeadRank.objects.filter(pk__lte=first.through_id, scored_at__isnull=False).exists()

    RescorePartition.objects.filter(pk=first.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert rescoring.rescore_partition_run(first) == 4  # 100 leads in chunks of 30

    first.refresh_from_db()
    assert first.status == RescorePartition.Status.DONE and first.attempts == 1 and first.scored == 100
    assert first.claimed_by != "dead-host:1"
    run.refresh_from_db()
    assert (run.partitions_done, run.status) == (1, RescoreRun.Status.RUNNING)  # others remain


@pytest.mark.django_db
def test_a_partition_that_finds_another_model_active_stops_and_says_so(trained, settings):
    settings.SCORING_RESCORE_PARTITION_SIZE = 100
    LeadRank.objects.update(score=None, model_version=None, priority=-1, scored_at=None)
    run = rescoring.rescore_run_start()
    partition = rescoring.rescore_run_plan(run)[0]
    ModelVersion.objects.filter(pk=trained.pk).update(status=ModelVersion.Status.RETIRED)
    newer = ModelVersion.objects.create(status=ModelVersion.Status.ACTIVE, artifact_path="/nowhere")

    assert rescoring.rescore_partition_run(partition) == 0

    partition.refresh_from_db()
    run.refresh_from_db()
    assert partition.status == RescorePartition.Status.STOPPED
    assert f"from v{trained.pk} to v{newer.pk}" in partition.message
    assert run.status == RescoreRun.Status.SUPERSEDED and "active model changed" in run.message
    assert not LeadRank.objects.filter(scored_at__isnull=False).exists()  # nothing scored with the old version
    assert rescoring.rescore_partition_run(run.partitions.exclude(pk=partition.pk).first()) == 0


@pytest.mark.django_db
def test_a_runs_dispatch_resends_unfinished_partitions_and_a_held_one_for_when_its_claim_lapses(
    trained, settings, monkeypatch
):
    settings.SCORING_RESCORE_PARTITION_SIZE = 100
    run = rescoring.rescore_run_start()
    held, done, *waiting = rescoring.rescore_run_plan(run)
    RescorePartition.objects.filter(pk=held.pk).update(claimed_until=timezone.now() + timedelta(seconds=30))
    RescorePartition.objects.filter(pk=done.pk).update(status=RescorePartition.Status.DONE)
    sent = []

    def dispatch(task, *, kwargs, countdown):
        sent.append((kwargs, countdown))
        return True

    monkeypatch.setattr(rescoring, "task_dispatch", dispatch)

    assert rescoring.rescore_run_dispatch(run) == 1 + len(waiting)

    by_partition = {kwargs["partition_id"]: countdown for kwargs, countdown in sent}
    assert set(by_partition) == {held.pk, *(p.pk for p in waiting)}
    assert 29 < by_partition[held.pk] <= 31  # arrives as the claim lapses: taken over if its worker died
    assert all(by_partition[p.pk] is None for p in waiting)
    assert rescoring.rescore_run_plan(run)[0].pk == held.pk  # cut once: planning again adds nothing
    assert run.partitions.count() == RescoreRun.objects.get(pk=run.pk).partitions_total == 4


@pytest.mark.django_db
def test_the_admins_rescore_runs_page_shows_partitions_done(trained, settings, admin_client_crm):
    settings.SCORING_RESCORE_PARTITION_SIZE = 100
    run = rescoring.rescore_run_start()
    first = rescoring.rescore_run_plan(run)[0]
    rescoring.rescore_partition_run(first)

    page = admin_client_crm.get("/admin/scoring/rescorerun/")

    assert page.status_code == 200
    assert "1 of 4" in page.content.decode()
