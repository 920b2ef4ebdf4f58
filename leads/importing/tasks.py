from celery import shared_task
from celery.signals import worker_ready

from leads.importing import retention, services


@shared_task(name="leads.import_run", acks_late=True)
def import_run(job_id: int) -> str:
    """Run one import job (claimed with a conditional UPDATE, so a second delivery is a no-op)."""
    return services.import_job_run(job_id=job_id).status


@shared_task(name="leads.import_recover_stale")
def import_recover_stale() -> list[int]:
    """For the beat schedule: re-queue imports whose worker died (heartbeat older than IMPORT_STALE_SECONDS)."""
    return services.import_jobs_recover_stale()


@shared_task(name="leads.import_redispatch_queued")
def import_redispatch_queued() -> list[int]:
    """For the beat schedule: send the imports that could not be queued while the broker was down."""
    from leadcrm.dispatch import broker_mark_up

    broker_mark_up()  # this task was delivered: the broker is back
    return services.import_jobs_redispatch()


@shared_task(name="leads.imports_prune_files")
def imports_prune_files() -> dict:
    """For the beat schedule: delete uploaded files of imports finished more than
    IMPORT_FILE_RETENTION_DAYS ago, and uploads a crash left behind."""
    return retention.import_files_prune()


@worker_ready.connect
def _recover_stale_imports(**kwargs) -> None:
    """A worker that starts picks up imports whose worker died mid-file, and those queued while
    the broker was down."""
    services.import_jobs_recover_stale()
    services.import_jobs_redispatch()
