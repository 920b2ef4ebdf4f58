"""Thin Celery tasks: load by id, call a service.

May import every scoring service module; none imports it back (they send tasks by name).
"""

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

from scoring import drift, rescoring, retraining, training_runs
from scoring.models import RescorePartition, RescoreRun

_TRANSIENT = (OperationalError, InterfaceError, ConnectionError)
# Work that must survive a lost worker or a dropped connection: acknowledged after it ran, requeued
# when its worker dies, retried with backoff on a transient database or broker error.
_DURABLE = {"acks_late": True, "reject_on_worker_lost": True, "autoretry_for": _TRANSIENT, "retry_backoff": True}


@shared_task(
    name=retraining.RESCORE_TASK,
    **_DURABLE,
    retry_backoff_max=120,
    max_retries=5,
)
def rescore_leads(lead_ids: list[int] | None = None, run_id: int | None = None, only_stale: bool = False) -> int:
    """Rescore the given leads; or send the partitions of rescore run `run_id` (cutting it first);
    or (neither) start a run over every lead and send its partitions. Returns how many leads were
    rescored or partitions sent. Safe to run twice: unchanged scores are not rewritten, a run is
    cut once and a partition is claimed by one worker at a time."""
    if lead_ids is not None:
        return rescoring.leads_rescore(lead_ids=lead_ids)
    run = RescoreRun.objects.filter(pk=run_id).first() if run_id else rescoring.rescore_run_start(only_stale=only_stale)
    if run is None:
        return 0
    return rescoring.rescore_run_dispatch(run)


@shared_task(
    name=retraining.RESCORE_PARTITION_TASK,
    **_DURABLE,
    retry_backoff_max=120,
    max_retries=5,
)
def rescore_partition(partition_id: int) -> int:
    """Score one partition of a rescore run (see rescoring.rescore_partition_run); returns the
    chunks committed. A duplicate (a redispatch, a redelivery) finds it claimed or done and returns."""
    partition = RescorePartition.objects.filter(pk=partition_id).first()
    if partition is None:
        return 0
    return rescoring.rescore_partition_run(partition)


@shared_task(
    name=retraining.RETRAIN_TASK,
    **_DURABLE,
    max_retries=3,
)
def retrain_model(run_id: int | None = None, folds: int = 5, trigger: str = "schedule") -> str:
    """Single-flight retrain (see training_runs.retrain_run); the nightly beat entry calls it with no run."""
    run = training_runs.retrain_run(run_id=run_id, folds=folds, trigger=trigger)
    return run.status


@shared_task(name="scoring.redispatch_queued")
def redispatch_queued() -> dict:
    """For the beat schedule: send the work recorded while the broker was down (safe to run twice)."""
    from leadcrm.dispatch import broker_mark_up

    broker_mark_up()  # this task was delivered: the broker is back
    return retraining.redispatch_queued()


@shared_task(name="scoring.refresh_monitoring", acks_late=True)
def refresh_monitoring() -> dict[str, float]:
    """For the beat schedule: recompute the active model's observed conversion and drift, which
    the model pages read cached (safe to run twice)."""
    return drift.monitoring_refresh()


@worker_ready.connect
def _continue_interrupted_rescores(**kwargs) -> None:
    """A worker that starts continues rescore runs whose worker died (and work queued while the
    broker was down), a moment later so it has finished starting."""
    from leadcrm.dispatch import task_dispatch

    task_dispatch(redispatch_queued, countdown=2)
