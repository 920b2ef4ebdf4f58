"""Requests for background model work: queue a retrain, and send again the work recorded while
the broker was down. The work itself is in training_runs (retrain) and rescoring (rescore runs).

May import leads.models, leadcrm.dispatch and scoring.models only: rescoring imports this module
(an import can ask for a retrain), and the tasks are sent by name.
"""

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction

from leadcrm.dispatch import BROKER_UNAVAILABLE, task_dispatch
from leads.models import User
from scoring.models import RescoreRun, TrainingRun

# The tasks' names (scoring/tasks.py registers them under these): this module and rescoring send
# them by name, since the tasks module imports both.
RETRAIN_TASK = "scoring.retrain_model"
RESCORE_TASK = "scoring.rescore_leads"
RESCORE_PARTITION_TASK = "scoring.rescore_partition"


def retrain_request(*, by: User | None, trigger: str = "manual", folds: int = 5) -> TrainingRun:
    """Queue a retrain after commit; the page polls the returned run for progress."""
    if by is not None and not by.is_crm_admin:
        raise PermissionDenied("Only admins can retrain.")
    run = TrainingRun.objects.create(created_by=by, trigger=trigger, stage="queued")

    def broker_down(exc: Exception) -> None:
        TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
            broker_pending=True, message=BROKER_UNAVAILABLE
        )

    transaction.on_commit(
        lambda: task_dispatch(RETRAIN_TASK, kwargs={"run_id": run.pk, "folds": folds}, on_failure=broker_down)
    )
    if not connection.in_atomic_block:  # dispatched already: show what happened
        run.refresh_from_db()
    return run


def redispatch_queued() -> dict:
    """For the beat schedule (and a starting worker): send again the work recorded while the
    broker was down, and continue rescore runs whose worker died (the run's task sends its
    unfinished partitions again, see rescoring.rescore_run_dispatch). Safe to run twice: a
    training run is claimed once (training_runs.retrain_run), a rescore partition is claimed with
    a lease and moves by compare-and-set (rescoring._chunk_commit)."""
    pending = TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED, broker_pending=True)
    runs = list(pending)
    for run in runs:
        if task_dispatch(RETRAIN_TASK, kwargs={"run_id": run.pk}):
            pending.filter(pk=run.pk).update(broker_pending=False, message="")
    rescores = list(RescoreRun.objects.filter(status=RescoreRun.Status.RUNNING).values_list("pk", flat=True))
    for pk in rescores:
        task_dispatch(RESCORE_TASK, kwargs={"run_id": pk})
    return {"training_runs": [run.pk for run in runs], "rescore_runs": rescores}
