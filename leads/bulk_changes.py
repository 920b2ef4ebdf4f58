"""Bulk changes from the work queue: one action on many selected leads at once.

Not the API's bulk upsert (leads/bulk.py, which creates and updates leads from rows). Here a rep
or a manager picks rows of the queue (or "all N matching this filter") and assigns them
(managers), changes their status (closing as lost with a reason) or schedules a follow-up.

`leads_bulk_update` runs in one transaction: every lead is locked and checked first, and any
lead the user may not work, or any refused value, changes nothing at all. It writes what the
single-lead services write (the same timeline entries, built by the same functions in
leads.services), plus one audit entry for the whole change, in a fixed number of queries
whatever the number of leads.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, F, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone

from leads import audit, selectors
from leads.models import Activity, FollowUp, Lead, User
from leads.notifications import leads_assigned_notify
from leads.permissions import can_work_lead
from leads.services import assignment_activity, status_change_activity
from leads.signals import leads_changed_send

ASSIGN = "assign"
STATUS = "status"
FOLLOW_UP = "follow_up"
ACTIONS = (ASSIGN, STATUS, FOLLOW_UP)

# Only what the actions read or write is loaded: a bulk change may hold thousands of leads.
_LOADED_FIELDS = ("id", "name", "email", "external_id", "status", "owner", "source", "next_follow_up_at", "rank__tier")


@dataclass(frozen=True)
class BulkChange:
    action: str
    lead_ids: list[int]  # every lead selected
    changed_ids: list[int]  # those the action changed (the others already were so)

    @property
    def changed(self) -> int:
        return len(self.changed_ids)

    @property
    def unchanged(self) -> int:
        return len(self.lead_ids) - len(self.changed_ids)


@transaction.atomic
def leads_bulk_update(
    *,
    user: User,
    action: str,
    max_leads: int,
    lead_ids: Sequence[int] | None = None,
    matching: QuerySet[Lead] | None = None,
    owner: User | None = None,
    status: str = "",
    reason: str = "",
    due_at: datetime | None = None,
    note: str = "",
) -> BulkChange:
    """Apply `action` to the leads `lead_ids` (each must be visible to `user`, else Http404) or
    to every lead of `matching` (a queryset already cut to what `user` sees, e.g.
    selectors.queue_leads_matching). At most `max_leads` leads, else ValidationError.

    assign: to `owner` (None: the pool); managers only. status: to `status` (lost needs a
    `reason`; converted is refused: each converted lead records its own value, one at a time).
    follow_up: one follow-up due at `due_at` (in the future) on each open lead.

    Raises PermissionDenied when `user` may not work one of the leads (a rep: another rep's or a
    pool lead), ValidationError for a refused value; either way nothing changes.
    """
    if action not in ACTIONS:
        raise ValidationError({"action": f"Unknown bulk action {action!r}."})
    if action == ASSIGN and not user.is_manager:
        raise PermissionDenied("Only managers can assign leads.")
    _values_check(action, status=status, reason=reason, due_at=due_at)
    leads = _leads_lock(user, lead_ids=lead_ids, matching=matching, max_leads=max_leads)
    if any(not can_work_lead(user, lead) for lead in leads):
        raise PermissionDenied("You can change only your own leads; claim pool leads first.")

    now = timezone.now()
    if action == ASSIGN:
        changed = _assign(leads, owner=owner, by=user, now=now)
    elif action == STATUS:
        changed = _status_change(leads, status=status, reason=reason.strip(), user=user, now=now)
    else:
        assert due_at is not None  # _values_check
        changed = _follow_up_schedule(leads, due_at=due_at, note=note.strip(), by=user, now=now)

    changed_ids = [lead.pk for lead in changed]
    if changed_ids:
        details: dict = {"action": action, "changed": len(changed_ids), "lead_ids": changed_ids[:1000]}
        if action == ASSIGN:
            details["to_owner"] = getattr(owner, "pk", None)
        elif action == STATUS:
            details["status"] = status
        audit.audit_record(audit.BULK_CHANGE, actor=user, target_type="leads.lead", details=details)
        leads_changed_send(changed_ids)
    return BulkChange(action=action, lead_ids=[lead.pk for lead in leads], changed_ids=changed_ids)


def _values_check(action: str, *, status: str, reason: str, due_at: datetime | None) -> None:
    if action == STATUS:
        if status not in Lead.Status.values:
            raise ValidationError({"status": f"Unknown status {status!r}."})
        if status == Lead.Status.CONVERTED:
            raise ValidationError({"status": "Close converted leads one at a time: each records its value."})
        if problem := Lead.lost_reason_problem(status, reason):
            raise ValidationError({"lost_reason": problem})
    elif action == FOLLOW_UP:
        if due_at is None:
            raise ValidationError({"due_at": "Say when the follow-up is due."})
        if problem := FollowUp.due_at_problem(due_at):
            raise ValidationError({"due_at": problem})


def _leads_lock(
    user: User, *, lead_ids: Sequence[int] | None, matching: QuerySet[Lead] | None, max_leads: int
) -> list[Lead]:
    """The selected leads, locked (one query), in id order so two bulk changes never deadlock."""
    if (lead_ids is None) == (matching is None):
        raise ValueError("Pass lead_ids or matching, not both.")
    if lead_ids is not None:
        wanted = set(lead_ids)
        if not wanted:
            raise ValidationError({"lead": "Select at least one lead."})
        if len(wanted) > max_leads:
            raise ValidationError({"lead": f"Change at most {max_leads:,} leads at once."})
        queryset = selectors.leads_visible_to(user).filter(pk__in=wanted)
    else:
        assert matching is not None
        queryset = matching
    leads = list(
        queryset.select_for_update(of=("self",))
        .select_related("owner", "rank")
        .only(*_LOADED_FIELDS, "owner__username", "owner__first_name", "owner__last_name", "owner__is_active")
        .order_by("pk")[: max_leads + 1]
    )
    if lead_ids is not None and len(leads) < len(set(lead_ids)):
        raise Http404("No such lead.")  # as for one lead: another rep's lead does not exist for this user
    if len(leads) > max_leads:
        raise ValidationError({"lead": f"Change at most {max_leads:,} leads at once; narrow the filter."})
    if not leads:
        raise ValidationError({"lead": "No lead matches; nothing to change."})
    return leads


def _assign(leads: list[Lead], *, owner: User | None, by: User, now: datetime) -> list[Lead]:
    owner_id = getattr(owner, "pk", None)
    changed = [lead for lead in leads if lead.owner_id != owner_id]
    if not changed:
        return []
    activities = [assignment_activity(lead=lead, rep=owner, by=by) for lead in changed]
    Lead.objects.filter(pk__in=[lead.pk for lead in changed]).update(owner=owner, updated_at=now)
    Activity.objects.bulk_create(activities)
    for lead in changed:
        lead.owner = owner
    if owner is not None and owner.pk != by.pk:
        leads_assigned_notify(leads=changed, rep=owner, how=f"assigned to you by {by}")
    return changed


def _status_change(leads: list[Lead], *, status: str, reason: str, user: User, now: datetime) -> list[Lead]:
    """As lead_status_change / lead_close do for one lead (converted excepted: see above)."""
    changed = [lead for lead in leads if lead.status != status]
    if not changed:
        return []
    activities = [
        status_change_activity(lead=lead, status=status, user=user, when=now, reason=reason) for lead in changed
    ]
    ids = [lead.pk for lead in changed]
    fields: dict = {"status": status, "converted_at": None, "updated_at": now}
    if status == Lead.Status.LOST:
        fields.update(lost_reason=reason, next_follow_up_at=None)
        FollowUp.objects.filter(lead_id__in=ids, done_at__isnull=True).update(done_at=now)
    else:
        fields["lost_reason"] = ""
    Lead.objects.filter(pk__in=ids).update(**fields)
    valueless = [lead.pk for lead in changed if not Lead.keeps_converted_value(lead.status, status)]
    if valueless:
        Lead.objects.filter(pk__in=valueless).update(converted_value=None)
    Activity.objects.bulk_create(activities)
    for lead in changed:
        lead.status = status
    return changed


def _follow_up_schedule(leads: list[Lead], *, due_at: datetime, note: str, by: User, now: datetime) -> list[Lead]:
    """As follow_up_schedule does for one lead: a closed lead takes no follow-ups."""
    closed = sum(1 for lead in leads if not lead.is_open)
    if closed:
        raise ValidationError(
            {"due_at": f"A closed lead takes no follow-ups: {closed:,} of the selected leads are closed."}
        )
    FollowUp.objects.bulk_create(
        [
            FollowUp(lead=lead, assigned_to_id=lead.owner_id or by.pk, due_at=due_at, note=note, created_at=now)
            for lead in leads
        ]
    )
    # next_follow_up_at is the earliest open follow-up: the new one, unless an earlier one is open.
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(
        next_follow_up_at=Case(
            When(next_follow_up_at__lt=due_at, then=F("next_follow_up_at")),
            default=Value(due_at),
        ),
        updated_at=now,
    )
    return leads
