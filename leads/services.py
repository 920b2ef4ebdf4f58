"""Writes to the CRM. Views, the API, imports and commands all change leads through here."""

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Min, OuterRef, Q, Subquery
from django.utils import timezone

from leads import audit
from leads.channels import value_default_for
from leads.matching import email_key
from leads.models import BY_SCORE, RANKED_POOL, Activity, FollowUp, Lead, User
from leads.notifications import lead_assigned_notify
from leads.signals import leads_changed_send

_CLAIM_ATTEMPTS = 5


@transaction.atomic
def lead_create(
    *,
    name: str = "",
    email: str = "",
    phone: str = "",
    company: str = "",
    source: str = "",
    origin: str = "",
    campaign: str = "",
    owner: User | None = None,
    external_id: str | None = None,
    attributes: dict | None = None,
    created_at: datetime | None = None,
    rescore: bool = True,
) -> Lead:
    """rescore=False: the caller asks for the rescore itself, once for many leads (bulk API)."""
    lead = Lead(
        name=name.strip(),
        email=email_key(email),
        phone=phone.strip(),
        company=company.strip(),
        source=source.strip(),
        origin=origin.strip(),
        campaign=campaign.strip(),
        owner=owner,
        external_id=(external_id or None),
        attributes=attributes or {},
        created_at=created_at or timezone.now(),
    )
    lead.full_clean()
    lead.save()
    if rescore:
        leads_changed_send([lead.pk])
    return lead


_EDITABLE_FIELDS = ("name", "email", "phone", "company", "source", "origin", "campaign", "attributes")


@transaction.atomic
def lead_update(*, lead: Lead, rescore: bool = True, **fields) -> Lead:
    unknown = set(fields) - set(_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"lead_update cannot change {sorted(unknown)}")
    if "email" in fields:
        fields["email"] = email_key(fields["email"])
    for name, value in fields.items():
        setattr(lead, name, value.strip() if isinstance(value, str) else value)
    lead.full_clean()
    lead.save(update_fields=[*fields, "updated_at"])
    if rescore:
        leads_changed_send([lead.pk])
    return lead


@transaction.atomic
def lead_assign(*, lead: Lead, rep: User | None, by: User | None = None) -> Lead:
    """Give a lead to a rep (or back to the pool with rep=None). Managers only when `by` is given."""
    if by is not None and not by.is_manager:
        raise PermissionDenied("Only managers can assign leads.")
    previous = lead.owner
    Lead.objects.filter(pk=lead.pk).update(owner=rep, updated_at=timezone.now())
    assignment_activity(lead=lead, rep=rep, by=by).save()
    lead.owner = rep
    if rep is not None and rep.pk != getattr(by, "pk", None) and rep.pk != getattr(previous, "pk", None):
        lead_assigned_notify(lead=lead, rep=rep, how=f"assigned to you by {by}" if by else "assigned to you")
    return lead


@transaction.atomic
def lead_claim(*, lead: Lead, rep: User) -> bool:
    """Take one unassigned lead. False when someone else owns it already (the UPDATE is conditional)."""
    if lead.owner_id == rep.pk:
        return True
    claimed = Lead.objects.filter(pk=lead.pk, owner__isnull=True).update(owner=rep, updated_at=timezone.now())
    if claimed:
        lead.owner = rep
        _claim_record(lead, rep)
    return bool(claimed)


def _owner_change_activity(lead: Lead, user: User | None, outcome: str, notes: str, data: dict) -> Activity:
    """The timeline's record of a lead changing hands (assigned by a manager, claimed by a rep), unsaved."""
    return Activity(lead=lead, user=user, kind=Activity.Kind.STATUS_CHANGE, outcome=outcome, notes=notes, data=data)


def _owner_change_record(lead: Lead, user: User | None, outcome: str, notes: str, data: dict) -> None:
    _owner_change_activity(lead, user, outcome, notes, data).save()


def assignment_activity(*, lead: Lead, rep: User | None, by: User | None) -> Activity:
    """The timeline entry (unsaved) of `lead` going from its current owner to `rep`: one rule for
    lead_assign and the queue's bulk assignment (leads.bulk_changes), which saves many at once."""
    previous = lead.owner
    return _owner_change_activity(
        lead,
        by,
        "assigned",
        f"Assigned from {previous or 'pool'} to {rep or 'pool'}",
        {"from_owner": getattr(previous, "pk", None), "to_owner": getattr(rep, "pk", None)},
    )


def _claim_record(lead: Lead, rep: User) -> None:
    _owner_change_record(lead, rep, "claimed", f"Claimed from the pool by {rep}", {"to_owner": rep.pk})


def lead_claim_next(*, rep: User) -> Lead | None:
    """Move the best unassigned open lead into `rep`'s queue.

    Two reps claiming at once never get the same lead: on PostgreSQL the candidate row is
    locked with SKIP LOCKED, and the owner is set with a conditional UPDATE whose row count
    proves the claim on every backend.
    """
    for _ in range(_CLAIM_ATTEMPTS):
        with transaction.atomic():
            candidate = (
                Lead.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(RANKED_POOL)
                .order_by(*BY_SCORE)
                .only("pk")
                .first()
            )
            if candidate is None:
                return None
            claimed = Lead.objects.filter(pk=candidate.pk, owner__isnull=True).update(
                owner=rep, updated_at=timezone.now()
            )
            if claimed:
                lead = Lead.objects.get(pk=candidate.pk)
                _claim_record(lead, rep)
                return lead
    return None


def _touch_lead_activity(lead: Lead, occurred_at: datetime, kind: str) -> list[str]:
    changed = []
    if lead.last_activity_at is None or occurred_at > lead.last_activity_at:
        lead.last_activity_at = occurred_at
        changed.append("last_activity_at")
    if kind in Activity.CONTACT_KINDS and (lead.first_contacted_at is None or occurred_at < lead.first_contacted_at):
        lead.first_contacted_at = occurred_at
        changed.append("first_contacted_at")
    return changed


@transaction.atomic
def activity_log(
    *,
    lead: Lead,
    user: User | None,
    kind: str,
    outcome: str = "",
    notes: str = "",
    occurred_at: datetime | None = None,
    data: dict | None = None,
) -> Activity:
    """Record an activity and keep the lead's activity timestamps in step, in one transaction.

    The first contact (call, email, meeting, SMS) on a new lead moves it to "contacted".
    """
    if kind not in Activity.Kind.values or kind == Activity.Kind.STATUS_CHANGE:
        raise ValidationError({"kind": f"Unknown activity kind {kind!r}."})
    occurred_at = occurred_at or timezone.now()
    if occurred_at > timezone.now() + timezone.timedelta(minutes=5):
        raise ValidationError({"occurred_at": "An activity cannot happen in the future."})
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    activity = Activity.objects.create(
        lead=lead, user=user, kind=kind, outcome=outcome.strip(), notes=notes, occurred_at=occurred_at, data=data or {}
    )
    changed = _touch_lead_activity(lead, occurred_at, kind)
    if kind in Activity.CONTACT_KINDS and lead.status == Lead.Status.NEW:
        _status_set(lead=lead, status=Lead.Status.CONTACTED, user=user, when=occurred_at)
        changed.append("status")
    if changed:
        lead.save(update_fields=[*changed, "updated_at"])
    leads_changed_send([lead.pk])
    return activity


def status_change_activity(*, lead: Lead, status: str, user: User | None, when: datetime, reason: str = "") -> Activity:
    """The timeline entry (unsaved) of `lead` moving to `status`: one rule for the single-lead
    services and the queue's bulk changes (leads.bulk_changes), which save many at once."""
    return Activity(
        lead=lead,
        user=user,
        kind=Activity.Kind.STATUS_CHANGE,
        outcome=status,
        occurred_at=when,
        notes=reason,
        data={"from": lead.status, "to": status},
    )


def _status_set(*, lead: Lead, status: str, user: User | None, when: datetime, reason: str = "") -> None:
    status_change_activity(lead=lead, status=status, user=user, when=when, reason=reason).save()
    lead.status = status


def _next_follow_up_refresh(lead: Lead) -> None:
    lead.next_follow_up_at = FollowUp.objects.filter(lead=lead, done_at__isnull=True).aggregate(m=Min("due_at"))["m"]


def leads_follow_up_refresh(*, lead_ids: list[int] | None = None) -> int:
    """Recompute next_follow_up_at from open follow-ups (all leads when lead_ids is None).

    Repairs the denormalised column after bulk edits outside the services. Safe to run twice.
    Returns how many leads changed.
    """
    queryset = Lead.objects.all() if lead_ids is None else Lead.objects.filter(pk__in=lead_ids)
    open_due = (
        FollowUp.objects.filter(lead=OuterRef("pk"), done_at__isnull=True).order_by("due_at").values("due_at")[:1]
    )
    stale = queryset.annotate(expected=Subquery(open_due)).filter(
        Q(expected__isnull=True, next_follow_up_at__isnull=False)
        | Q(expected__isnull=False, next_follow_up_at__isnull=True)
        | Q(next_follow_up_at__lt=F("expected"))
        | Q(next_follow_up_at__gt=F("expected"))
    )
    with transaction.atomic():
        return Lead.objects.filter(pk__in=stale.values("pk")).update(
            next_follow_up_at=Subquery(open_due), updated_at=timezone.now()
        )


@transaction.atomic
def follow_up_schedule(
    *, lead: Lead, due_at: datetime, assigned_to: User | None = None, note: str = "", by: User | None = None
) -> FollowUp:
    if not lead.is_open:
        raise ValidationError({"due_at": "A closed lead takes no follow-ups."})
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    follow_up = FollowUp.objects.create(
        lead=lead, assigned_to=assigned_to or lead.owner or by, due_at=due_at, note=note.strip()
    )
    _next_follow_up_refresh(lead)
    lead.save(update_fields=["next_follow_up_at", "updated_at"])
    return follow_up


@transaction.atomic
def follow_up_complete(*, follow_up: FollowUp, by: User | None = None) -> FollowUp:
    """Mark a follow-up done. Completing one twice is a no-op."""
    updated = FollowUp.objects.filter(pk=follow_up.pk, done_at__isnull=True).update(done_at=timezone.now())
    follow_up.refresh_from_db()
    if updated:
        lead = Lead.objects.select_for_update().get(pk=follow_up.lead_id)
        _next_follow_up_refresh(lead)
        lead.save(update_fields=["next_follow_up_at", "updated_at"])
    return follow_up


@transaction.atomic
def lead_status_change(
    *, lead: Lead, status: str, user: User | None, reason: str = "", value: Decimal | None = None
) -> Lead:
    """Move a lead between open statuses, or close it (see lead_close)."""
    if status in Lead.CLOSED_STATUSES:
        return lead_close(lead=lead, outcome=status, user=user, reason=reason, value=value)
    if status not in Lead.Status.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status == status:
        return lead
    keeps_value = Lead.keeps_converted_value(lead.status, status)
    _status_set(lead=lead, status=status, user=user, when=timezone.now(), reason=reason)
    if lead.status in Lead.OPEN_STATUSES:
        lead.converted_at = None
        lead.lost_reason = ""
        if not keeps_value:
            lead.converted_value = None
    lead.save(update_fields=["status", "converted_at", "converted_value", "lost_reason", "updated_at"])
    leads_changed_send([lead.pk])
    return lead


@transaction.atomic
def lead_close(
    *,
    lead: Lead,
    outcome: str,
    user: User | None,
    reason: str = "",
    when: datetime | None = None,
    value: Decimal | None = None,
) -> Lead:
    """Close a lead as converted or lost. A lost lead needs a reason; open follow-ups are closed.
    A converted lead records `value`, else the value it already carries (an import may give one to
    an open lead), else its channel's default value (leads.channels)."""
    if outcome not in Lead.CLOSED_STATUSES:
        raise ValidationError({"status": f"A lead closes as converted or lost, not {outcome!r}."})
    reason = reason.strip()
    if problem := Lead.lost_reason_problem(outcome, reason):
        raise ValidationError({"lost_reason": problem})
    when = when or timezone.now()
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status == outcome:
        return lead
    previous_status = lead.status
    _status_set(lead=lead, status=outcome, user=user, when=when, reason=reason)
    if value is not None and value < 0:
        raise ValidationError({"value": "A value cannot be negative."})
    lead.converted_at = when if outcome == Lead.Status.CONVERTED else None
    if outcome != Lead.Status.CONVERTED:
        if not Lead.keeps_converted_value(previous_status, outcome):
            lead.converted_value = None
    elif value is not None:
        lead.converted_value = value
    elif lead.converted_value is None:
        lead.converted_value = value_default_for(lead.source, lead.campaign)
    lead.lost_reason = reason if outcome == Lead.Status.LOST else ""
    FollowUp.objects.filter(lead=lead, done_at__isnull=True).update(done_at=when)
    lead.next_follow_up_at = None
    lead.save(
        update_fields=["status", "converted_at", "converted_value", "lost_reason", "next_follow_up_at", "updated_at"]
    )
    return lead


@transaction.atomic
def leads_merge(*, survivor: Lead, duplicate: Lead) -> Lead:
    """Fold `duplicate` into `survivor`: activities and follow-ups move over, blank fields and
    missing attributes are filled from the duplicate, and the duplicate is deleted."""
    if survivor.pk == duplicate.pk:
        raise ValidationError("A lead cannot be merged into itself.")
    survivor = Lead.objects.select_for_update().get(pk=survivor.pk)
    duplicate = Lead.objects.select_for_update().get(pk=duplicate.pk)
    Activity.objects.filter(lead=duplicate).update(lead=survivor)
    FollowUp.objects.filter(lead=duplicate).update(lead=survivor)
    for name in ("name", "email", "phone", "company", "source", "origin"):
        if not getattr(survivor, name):
            setattr(survivor, name, getattr(duplicate, name))
    survivor.attributes = {**(duplicate.attributes or {}), **(survivor.attributes or {})}
    external_id, duplicate_label, duplicate_pk = duplicate.external_id, f"{duplicate} (#{duplicate.pk})", duplicate.pk
    duplicate.delete()
    survivor.external_id = survivor.external_id or external_id
    _next_follow_up_refresh(survivor)
    survivor.save()
    Activity.objects.create(lead=survivor, kind=Activity.Kind.NOTE, notes=f"Merged {duplicate_label} into this lead")
    audit.audit_record(audit.MERGE, target=survivor, details={"merged_lead_id": duplicate_pk})
    leads_changed_send([survivor.pk])
    return survivor
