"""The queue's bulk changes (leads.bulk_changes.leads_bulk_update)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from leads import bulk_changes, selectors
from leads.bulk_changes import leads_bulk_update
from leads.models import Activity, AuditEntry, FollowUp, Lead, Notification
from leads.signals import leads_changed
from tests.factories import FollowUpFactory, LeadFactory, RepFactory

pytestmark = pytest.mark.django_db

MAX = 10_000


def _update(**kwargs):
    return leads_bulk_update(max_leads=MAX, **kwargs)


def test_manager_bulk_assigns_with_a_timeline_entry_and_a_notification_per_lead(manager, rep, other_rep):
    leads = [LeadFactory(owner=other_rep), LeadFactory(owner=None), LeadFactory(owner=rep)]
    change = _update(user=manager, action="assign", lead_ids=[lead.pk for lead in leads], owner=rep)

    assert change.changed == 2 and change.unchanged == 1
    assert set(Lead.objects.values_list("owner", flat=True)) == {rep.pk}
    entries = Activity.objects.filter(kind=Activity.Kind.STATUS_CHANGE, outcome="assigned").order_by("lead_id")
    assert [(a.lead_id, a.user_id, a.data) for a in entries] == [
        (leads[0].pk, manager.pk, {"from_owner": other_rep.pk, "to_owner": rep.pk}),
        (leads[1].pk, manager.pk, {"from_owner": None, "to_owner": rep.pk}),
    ]
    assert entries[1].notes == f"Assigned from pool to {rep}"
    told = Notification.objects.filter(user=rep, kind=Notification.Kind.LEAD_ASSIGNED)
    assert sorted(told.values_list("lead_id", flat=True)) == [leads[0].pk, leads[1].pk]
    assert all("assigned to you by" in n.title for n in told)
    audit = AuditEntry.objects.get(action="bulk_change")
    assert audit.actor == manager and audit.details["changed"] == 2
    assert sorted(audit.details["lead_ids"]) == [leads[0].pk, leads[1].pk]


def test_a_rep_cannot_bulk_assign(rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(PermissionDenied):
        _update(user=rep, action="assign", lead_ids=[lead.pk], owner=None)
    lead.refresh_from_db()
    assert lead.owner == rep
    assert not Activity.objects.exists() and not AuditEntry.objects.filter(action="bulk_change").exists()


def test_a_rep_changing_a_pool_lead_among_their_own_changes_nothing(rep):
    mine = LeadFactory(owner=rep)
    pool = LeadFactory(owner=None)
    with pytest.raises(PermissionDenied):
        _update(user=rep, action="status", lead_ids=[mine.pk, pool.pk], status="qualified")
    assert set(Lead.objects.values_list("status", flat=True)) == {"new"}
    assert not Activity.objects.exists()


def test_another_reps_lead_is_not_found_for_a_rep_and_nothing_changes(rep, other_rep):
    mine = LeadFactory(owner=rep)
    theirs = LeadFactory(owner=other_rep)
    with pytest.raises(Http404):
        _update(user=rep, action="status", lead_ids=[mine.pk, theirs.pk], status="qualified")
    assert set(Lead.objects.values_list("status", flat=True)) == {"new"}


def test_a_rep_changes_the_status_of_their_own_leads(rep):
    leads = [LeadFactory(owner=rep) for _ in range(3)]
    change = _update(user=rep, action="status", lead_ids=[lead.pk for lead in leads], status="qualified")
    assert change.changed == 3
    assert set(Lead.objects.values_list("status", flat=True)) == {"qualified"}
    entries = Activity.objects.filter(kind=Activity.Kind.STATUS_CHANGE)
    assert entries.count() == 3
    assert all(a.data == {"from": "new", "to": "qualified"} and a.user == rep for a in entries)


def test_close_as_lost_needs_a_reason_and_records_it_closing_follow_ups(manager, rep):
    lead = LeadFactory(owner=rep, next_follow_up_at=timezone.now() + timedelta(days=1))
    follow_up = FollowUpFactory(lead=lead)
    with pytest.raises(ValidationError) as refused:
        _update(user=manager, action="status", lead_ids=[lead.pk], status="lost", reason="  ")
    assert "lost_reason" in refused.value.message_dict

    _update(user=manager, action="status", lead_ids=[lead.pk], status="lost", reason="Too expensive")
    lead.refresh_from_db()
    follow_up.refresh_from_db()
    assert lead.status == "lost" and lead.lost_reason == "Too expensive" and lead.next_follow_up_at is None
    assert follow_up.done_at is not None
    assert Activity.objects.get(lead=lead).notes == "Too expensive"


def test_a_bulk_status_change_keeps_or_drops_values_as_one_lead_does(manager, rep):
    """Lead.keeps_converted_value, as lead_status_change and lead_close apply it: an open lead keeps
    an imported value, a reopened conversion and a lost lead have none."""
    imported = LeadFactory(owner=rep, converted_value=500)
    won = LeadFactory(owner=rep, status=Lead.Status.CONVERTED, converted_value=900)
    _update(user=manager, action="status", lead_ids=[imported.pk, won.pk], status="qualified")
    imported.refresh_from_db()
    won.refresh_from_db()
    assert (imported.status, imported.converted_value) == ("qualified", 500)
    assert (won.status, won.converted_value) == ("qualified", None)

    _update(user=manager, action="status", lead_ids=[imported.pk], status="lost", reason="Budget")
    imported.refresh_from_db()
    assert (imported.status, imported.converted_value) == ("lost", None)


def test_converted_is_refused_in_bulk(manager, rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(ValidationError):
        _update(user=manager, action="status", lead_ids=[lead.pk], status="converted")
    lead.refresh_from_db()
    assert lead.status == "new"


def test_bulk_follow_up_must_be_in_the_future_and_keeps_the_earliest_next_follow_up(rep):
    soon = timezone.now() + timedelta(hours=2)
    later = timezone.now() + timedelta(days=3)
    early = LeadFactory(owner=rep, next_follow_up_at=soon)
    FollowUpFactory(lead=early, due_at=soon)
    bare = LeadFactory(owner=rep)
    with pytest.raises(ValidationError) as refused:
        _update(user=rep, action="follow_up", lead_ids=[bare.pk], due_at=timezone.now() - timedelta(minutes=1))
    assert "must be due in the future" in refused.value.message_dict["due_at"][0]

    _update(user=rep, action="follow_up", lead_ids=[early.pk, bare.pk], due_at=later, note="Send the deck")
    early.refresh_from_db()
    bare.refresh_from_db()
    assert early.next_follow_up_at == soon and bare.next_follow_up_at == later
    assert FollowUp.objects.filter(due_at=later, note="Send the deck", assigned_to=rep).count() == 2


def test_a_closed_lead_among_the_selection_refuses_follow_ups_for_all(rep):
    open_lead = LeadFactory(owner=rep)
    closed = LeadFactory(owner=rep, status="lost", lost_reason="x")
    with pytest.raises(ValidationError):
        _update(
            user=rep, action="follow_up", lead_ids=[open_lead.pk, closed.pk], due_at=timezone.now() + timedelta(days=1)
        )
    assert not FollowUp.objects.exists()


def test_a_failure_midway_rolls_back_every_lead(manager, rep, monkeypatch):
    leads = [LeadFactory(owner=None) for _ in range(3)]

    def boom(*args, **kwargs):
        raise RuntimeError("the notification insert failed")

    monkeypatch.setattr(bulk_changes, "leads_assigned_notify", boom)
    with pytest.raises(RuntimeError):
        _update(user=manager, action="assign", lead_ids=[lead.pk for lead in leads], owner=rep)
    assert not Lead.objects.filter(owner=rep).exists()
    assert not Activity.objects.exists() and not AuditEntry.objects.filter(action="bulk_change").exists()


def test_leads_changed_is_sent_once_for_the_whole_change(manager, rep):
    leads = [LeadFactory(owner=rep) for _ in range(4)]
    calls = []

    def receiver(sender, lead_ids, **kwargs):
        calls.append(sorted(lead_ids))

    leads_changed.connect(receiver)
    try:
        _update(user=manager, action="status", lead_ids=[lead.pk for lead in leads], status="contacted")
    finally:
        leads_changed.disconnect(receiver)
    assert calls == [sorted(lead.pk for lead in leads)]


@pytest.mark.parametrize("action, values", [
    ("assign", {}),
    ("status", {"status": "lost", "reason": "No budget"}),
    ("follow_up", {"due_at": None}),
])  # fmt: skip
def test_query_count_is_the_same_at_3_and_at_30_leads(manager, action, values, django_assert_max_num_queries):
    new_rep = RepFactory(username="newbie")
    counts = []
    for n in (3, 30):
        leads = [LeadFactory(owner=None if action == "assign" else new_rep) for _ in range(n)]
        kwargs = dict(values)
        if action == "assign":
            kwargs["owner"] = new_rep
        if action == "follow_up":
            kwargs["due_at"] = timezone.now() + timedelta(days=2)
        with django_assert_max_num_queries(9) as captured:
            change = _update(user=manager, action=action, lead_ids=[lead.pk for lead in leads], **kwargs)
        assert change.changed == n
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


def test_all_matching_acts_on_every_lead_of_the_filtered_queue_only(manager, rep):
    hot = [LeadFactory(owner=rep, tier="hot") for _ in range(3)]
    cold = LeadFactory(owner=rep, tier="cold")
    matching = selectors.queue_leads_matching(manager, selectors.QueueFilters(tier="hot"))
    change = _update(user=manager, action="status", matching=matching, status="qualified")
    assert sorted(change.changed_ids) == sorted(lead.pk for lead in hot)
    cold.refresh_from_db()
    assert cold.status == "new"


def test_more_leads_than_the_limit_are_refused(manager, rep):
    leads = [LeadFactory(owner=rep) for _ in range(3)]
    with pytest.raises(ValidationError):
        leads_bulk_update(
            user=manager, action="status", max_leads=2, lead_ids=[lead.pk for lead in leads], status="qualified"
        )
    assert set(Lead.objects.values_list("status", flat=True)) == {"new"}
