"""Data-protection duties for one person (a lead): export their data, erase it; and retention.

Erasure removes what identifies or describes the person and keeps what the reports and the model
need, so conversion rates, funnels and training data stay correct:

- removed: name, email, phone, company, external id, free text (lost reason, override reason,
  score reasons, activity notes and outcomes, follow-up notes, activity data except status changes),
  and every text value in `attributes` (a column of a lead file can hold anything); the cells of
  import rows refused with an error (kept for the errors CSV) that hold the person's email, phone or
  external id. Retention needs no search for those: an import's row errors lose their cells when its
  file is pruned (IMPORT_FILE_RETENTION_DAYS), long before a closed lead is anonymised;
- kept: status and outcome dates, source and origin, owner, numeric and yes/no attributes, scores,
  activity kinds and times, status-change history (the funnel), follow-up due dates.

The lead stays (as "Lead #id", with `erased_at` set), so counts do not move. Text attributes are
gone, so a retrain after an erasure never learns from the erased text. Only admins export or erase;
each is audited (leads.audit). Other apps add to the export and clear their own free text through
leads.signals (person_data_requested, person_erased): scoring adds the score history.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from leads import audit
from leads.models import Activity, FollowUp, ImportRowError, Lead, LeadRank, User
from leads.reports.rollups import rollups_mark_lead_objects
from leads.signals import person_data_sections, person_erased_send

ERASED_LOST_REASON = "erased"
_LEAD_EXPORT_FIELDS = (
    "id", "external_id", "name", "email", "phone", "company", "source", "origin", "status", "converted_at",
    "lost_reason", "attributes", "created_at", "updated_at", "first_contacted_at", "last_activity_at",
    "next_follow_up_at", "score", "tier", "score_reasons", "score_override", "score_override_reason", "erased_at",
)  # fmt: skip


def _require_admin(by: User | None) -> None:
    if by is not None and not by.is_crm_admin:
        raise PermissionDenied("Only admins can export or erase a person's data.")


def _jsonable(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def person_data_export(*, lead: Lead, by: User | None) -> dict:
    """Everything stored about the lead's person, as JSON-ready data; audited."""
    _require_admin(by)
    data = {
        "lead": {name: _jsonable(getattr(lead, name)) for name in _LEAD_EXPORT_FIELDS},
        "owner": lead.owner.username if lead.owner_id else None,
        "activities": [
            {
                "kind": a.kind,
                "outcome": a.outcome,
                "occurred_at": a.occurred_at.isoformat(),
                "user": a.user.username if a.user_id else None,
                "notes": a.notes,
                "data": a.data,
            }
            for a in Activity.objects.filter(lead=lead).select_related("user").order_by("occurred_at", "id")
        ],
        "follow_ups": [
            {
                "due_at": f.due_at.isoformat(),
                "done_at": _jsonable(f.done_at),
                "assigned_to": f.assigned_to.username if f.assigned_to_id else None,
                "note": f.note,
                "created_at": f.created_at.isoformat(),
            }
            for f in FollowUp.objects.filter(lead=lead).select_related("assigned_to").order_by("due_at", "id")
        ],
    }
    data.update(person_data_sections(lead))
    data["exported_at"] = timezone.now().isoformat()
    audit.audit_record(audit.PERSON_EXPORT, actor=by, target=lead, details={"sections": sorted(data)})
    return data


def _kept_attributes(attributes) -> dict:
    if not isinstance(attributes, dict):
        return {}
    return {key: value for key, value in attributes.items() if value is None or isinstance(value, bool | int | float)}


def _leads_anonymise(lead_ids: list[int]) -> int:
    """Erase the person data of these leads (caller holds a transaction). Returns how many changed."""
    now = timezone.now()
    leads = list(Lead.objects.select_for_update().filter(pk__in=lead_ids, erased_at__isnull=True))
    for lead in leads:
        lead.name = lead.email = lead.phone = lead.company = ""
        lead.external_id = None
        lead.lost_reason = ERASED_LOST_REASON if lead.status == Lead.Status.LOST else ""
        lead.attributes = _kept_attributes(lead.attributes)
        lead.erased_at = now
    fields = ["name", "email", "phone", "company", "external_id", "lost_reason", "attributes", "erased_at"]
    Lead.objects.bulk_update(leads, fields)
    ids = [lead.pk for lead in leads]
    # The reasons name the person's values; the override's reason is free text.
    LeadRank.objects.filter(pk__in=ids).update(score_override_reason="", score_reasons=[])
    rollups_mark_lead_objects(leads)  # lost reasons changed: the reports' lost-by-reason rollup
    activities = Activity.objects.filter(lead_id__in=ids)
    activities.exclude(kind=Activity.Kind.STATUS_CHANGE).update(notes="", outcome="", data={})
    # Status changes keep their outcome (the status: the funnel reads it) and their system data.
    activities.filter(kind=Activity.Kind.STATUS_CHANGE).update(notes="")
    FollowUp.objects.filter(lead_id__in=ids).update(note="")
    person_erased_send(ids)
    return len(ids)


# Shorter identifiers would match cells of other people.
_MIN_IDENTIFIER_CHARS = 5


def _import_row_errors_forget(lead: Lead) -> int:
    """Clear the kept cells of refused import rows that hold this person's email, phone or external
    id (a text search over the rows that still have cells: an erasure is rare, the rows are few)."""
    identifiers = [v for v in (lead.email, lead.phone, lead.external_id) if v and len(v) >= _MIN_IDENTIFIER_CHARS]
    if not identifiers:
        return 0
    mentions = Q()
    for identifier in identifiers:
        mentions |= Q(raw_text__icontains=identifier) | Q(value__icontains=identifier)
    ids = list(
        ImportRowError.objects.exclude(raw=[])
        .annotate(raw_text=Cast("raw", output_field=TextField()))
        .filter(mentions)
        .values_list("pk", flat=True)
    )
    return ImportRowError.objects.filter(pk__in=ids).update(raw=[], value="")


@transaction.atomic
def person_erase(*, lead: Lead, by: User | None) -> Lead:
    """Erase one person's data (see the module docstring for what goes and what stays); audited.
    Erasing an erased lead again changes nothing and is not recorded twice."""
    _require_admin(by)
    if lead.erased_at is None:
        _import_row_errors_forget(lead)
    if _leads_anonymise([lead.pk]):
        audit.audit_record(audit.PERSON_ERASE, actor=by, target=lead)
    lead.refresh_from_db()
    return lead


def closed_leads_anonymise(*, months: int | None = None, batch: int = 500) -> int:
    """Retention: erase closed leads untouched for `months` (settings.RETENTION_ANONYMISE_CLOSED_MONTHS;
    0 = off). A lead's last touch is its newest of created, last activity and conversion."""
    months = settings.RETENTION_ANONYMISE_CLOSED_MONTHS if months is None else months
    if months <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=30 * months)
    due = (
        Lead.objects.filter(status__in=Lead.CLOSED_STATUSES, erased_at__isnull=True, created_at__lt=cutoff)
        .filter(Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=cutoff))
        .filter(Q(converted_at__isnull=True) | Q(converted_at__lt=cutoff))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    total = 0
    while ids := list(due[:batch]):
        with transaction.atomic():
            count = _leads_anonymise(ids)
            audit.audit_record(
                audit.RETENTION_ANONYMISE,
                target_type="leads.lead",
                details={"months": months, "count": count, "lead_ids": ids},
            )
        total += count
    return total
