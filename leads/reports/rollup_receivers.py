"""Which writes mark the reports' rollup days dirty (leads.reports.rollups). Connected in
LeadsConfig.ready().

- Saving or deleting a lead through the ORM (services, the admin, factories): its creation day.
- A status-change activity saved through the ORM (the funnel reads the status history), and a
  follow-up saved done (on time / late): their lead's day.
- The CRM's signals for writes that bypass save(): leads_changed, outcomes_imported (imports COPY
  their rows), leads_scored (rescoring UPDATEs tiers and scores), import_finished (an import that
  failed after committing chunks: its leads are unknown, so every day). A large rescore also drops
  the forecast's cached groups.
Services that change owners or statuses with QuerySet.update mark their leads themselves.
"""

from leads.models import Activity, FollowUp, ImportJob, Lead
from leads.reports import channels, rollups

# A rescore of this many leads or more drops the forecast's cached groups (a full rescore, a new
# model); smaller ones wait for the summaries' beat.
FORECAST_STALE_AFTER_SCORED = 1_000


def on_lead_saved(sender, instance: Lead, **kwargs) -> None:
    if instance.created_at is not None:
        rollups.rollups_mark_lead_objects([instance])


def on_activity_saved(sender, instance: Activity, **kwargs) -> None:
    if instance.kind == Activity.Kind.STATUS_CHANGE:
        _mark_lead_of(instance)


def on_follow_up_saved(sender, instance: FollowUp, **kwargs) -> None:
    if instance.done_at is not None:
        _mark_lead_of(instance)


def _mark_lead_of(instance: Activity | FollowUp) -> None:
    lead = instance.lead if type(instance).lead.is_cached(instance) else None
    if lead is not None and lead.created_at is not None:
        rollups.rollups_mark_lead_objects([lead])
    else:
        rollups.rollups_mark_leads([instance.lead_id])


def on_leads_changed(sender, *, lead_ids: list[int], **kwargs) -> None:
    rollups.rollups_mark_leads(lead_ids)


def on_leads_scored(sender, *, lead_ids: list[int], **kwargs) -> None:
    rollups.rollups_mark_leads(lead_ids)
    if len(lead_ids) >= FORECAST_STALE_AFTER_SCORED:
        channels.forecast_groups_forget()


def on_import_finished(sender, *, job: ImportJob, **kwargs) -> None:
    """A successful import marked its leads through outcomes_imported; a failed one may have
    committed chunks (skip-bad mode) without saying which leads: mark every day."""
    if job.status == ImportJob.Status.FAILED and not job.dry_run and (job.created_count or job.updated_count):
        rollups.rollups_mark_all()


def connect() -> None:
    from django.db.models.signals import post_delete, post_save

    from leads import signals

    post_save.connect(on_lead_saved, sender=Lead, dispatch_uid="reports.rollups.lead_saved")
    post_delete.connect(on_lead_saved, sender=Lead, dispatch_uid="reports.rollups.lead_deleted")
    post_save.connect(on_activity_saved, sender=Activity, dispatch_uid="reports.rollups.activity_saved")
    post_save.connect(on_follow_up_saved, sender=FollowUp, dispatch_uid="reports.rollups.follow_up_saved")
    for name in ("leads_changed", "outcomes_imported"):
        getattr(signals, name).connect(on_leads_changed, dispatch_uid=f"reports.rollups.{name}")
    signals.leads_scored.connect(on_leads_scored, dispatch_uid="reports.rollups.leads_scored")
    signals.import_finished.connect(on_import_finished, dispatch_uid="reports.rollups.import_finished")
