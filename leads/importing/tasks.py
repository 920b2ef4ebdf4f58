from celery import shared_task
from celery.signals import worker_ready

from leads.importing import services


@shared_task(name="leads.import_run", acks_late=True)
def import_run(job_id: int) -> str:
    """Run one import job (claimed with a conditional UPDATE, so a second delivery is a no-op)."""
    return services.import_job_run(job_id=job_id).status


@shared_task(name="leads.import_recover_stale")
def import_recover_stale() -> list[int]:
    """For the beat schedule: re-queue imports whose worker died (heartbeat older than IMPORT_STALE_SECONDS)."""
    return services.import_jobs_recover_stale()


@worker_ready.connect
def _recover_stale_imports(**kwargs) -> None:
    """A worker that starts picks up imports whose worker died mid-file."""
    services.import_jobs_recover_stale()
