"""A real worker killed with SIGKILL in the middle of a rescore run: the next worker finishes it
(the dead worker's partition once its claim lapses), nothing is written twice, and every lead
carries a whole score from the run's one model version."""

import time

import pytest
from django.db.models import Count, F
from django.utils import timezone

from leadcrm.celery import app as celery_app
from leads.models import Lead, LeadRank
from scoring import rescoring, training_runs
from scoring.models import ModelVersion, RescorePartition, RescoreRun, ScoreHistory
from tests.conftest import wait_for
from tests.scoring.conftest import outcome_leads_create

OPEN_LEADS = 4000
CHUNK = 50
PARTITION = 1000
LEASE_SECONDS = 3


def _open_leads_create(n: int) -> None:
    now = timezone.now()
    Lead.objects.bulk_create(
        Lead(
            name=f"Open {i}",
            email=f"open{i}@example.com",
            source="Web",
            origin="Form",
            created_at=now,
            attributes={"plan": ("basic", "pro", "enterprise")[i % 3], "visits": i % 13, "newsletter": i % 2 == 0},
        )
        for i in range(n)
    )


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_worker_killed_mid_rescore_the_next_worker_finishes_with_whole_scores(private_worker):
    celery_app.conf.task_always_eager = True  # train and activate here (its first rescore runs inline)
    outcome_leads_create(300, open_leads=0)
    version = training_runs.model_train(folds=3)
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.ACTIVE
    celery_app.conf.task_always_eager = False
    _open_leads_create(OPEN_LEADS)
    total = Lead.objects.count()
    history_before = ScoreHistory.objects.count()
    assert history_before == 300

    private_worker.env["SCORING_RESCORE_CHUNK"] = str(CHUNK)
    private_worker.env["SCORING_RESCORE_PARTITION_SIZE"] = str(PARTITION)
    private_worker.env["SCORING_RESCORE_LEASE_SECONDS"] = str(LEASE_SECONDS)
    private_worker.start()
    run = rescoring.rescore_all_request()

    def mid_run():
        run.refresh_from_db()
        return run.status == RescoreRun.Status.RUNNING and run.scored >= 5 * CHUNK

    wait_for(mid_run, timeout=60, interval=0.01, what="the rescore to be part-way through")
    private_worker.kill()

    run.refresh_from_db()
    assert run.status == RescoreRun.Status.RUNNING and 0 < run.scored < total
    assert run.partitions_total == -(-total // PARTITION) and run.partitions_done < run.partitions_total
    new = Lead.objects.filter(name__startswith="Open ")
    # Only whole committed chunks: in each partition every new lead up to its position carries
    # its score, none after it does, and the run's count matches the partitions' positions.
    scored_upto = 0
    for partition in RescorePartition.objects.filter(run=run):
        upto = new.filter(pk__gt=partition.after_id, pk__lte=partition.last_lead_id)
        after = new.filter(pk__gt=partition.last_lead_id)
        if partition.through_id is not None:
            after = after.filter(pk__lte=partition.through_id)
        assert not upto.exclude(rank__model_version=version).exists()
        assert not after.exclude(rank__model_version__isnull=True, rank__score__isnull=True).exists()
        committed = Lead.objects.filter(pk__gt=partition.after_id, pk__lte=partition.last_lead_id).count()
        assert partition.scored == committed
        scored_upto += committed
    assert run.scored == scored_upto
    assert new.filter(rank__model_version__isnull=True).exists()

    time.sleep(0.5)
    private_worker.start()  # a starting worker continues interrupted runs (a held partition once its claim lapses)

    def finished():
        run.refresh_from_db()
        return run.status == RescoreRun.Status.DONE

    wait_for(finished, timeout=90, interval=0.2, what="the next worker to finish the rescore")
    assert run.scored == total
    assert LeadRank.objects.filter(model_version=version, scored_at__isnull=False, score__isnull=False).count() == total
    assert not LeadRank.objects.exclude(priority=F("score")).exists()
    # One history row per lead per score change: each new lead got exactly one, the others none.
    assert ScoreHistory.objects.count() == history_before + OPEN_LEADS
    per_lead = ScoreHistory.objects.values("lead").annotate(n=Count("pk")).filter(n__gt=1)
    assert not per_lead.exists()
    assert set(ScoreHistory.objects.values_list("model_version_id", flat=True)) == {version.pk}
