"""The CRM's own answers to what it announces (leads.signals). Connected in LeadsConfig.ready().

New, imported or rescored leads may match a routing rule: ask for a (debounced) routing run.
An import that ended tells the admins.
"""

from django.urls import reverse

from leads.models import ImportJob
from leads.notifications import Kind, admins_active, notify
from leads.routing import routing_request


def on_leads_changed(sender, **kwargs) -> None:
    routing_request()


def on_import_finished(sender, *, job: ImportJob, **kwargs) -> None:
    if job.status == ImportJob.Status.SUCCEEDED:
        dry = " (dry run)" if job.dry_run else ""
        notify(
            users=admins_active(),
            kind=Kind.IMPORT_FINISHED,
            title=f"Import #{job.pk} {job.original_name} finished{dry}",
            body=f"{job.created_count:,} created, {job.updated_count:,} updated, "
            f"{job.unchanged_count:,} unchanged, {job.failed_count:,} failed rows.",
            url=reverse("imports:detail", args=[job.pk]),
            dedupe_key=f"import:{job.pk}:{job.status}",
        )
    elif job.status == ImportJob.Status.FAILED:
        notify(
            users=admins_active(),
            kind=Kind.IMPORT_FAILED,
            title=f"Import #{job.pk} {job.original_name} failed",
            body=job.error,
            url=reverse("imports:detail", args=[job.pk]),
            dedupe_key=f"import:{job.pk}:{job.status}:{job.attempts}",
        )
