import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from leads import services
from leads.models import Activity, FollowUp, Lead
from tests.factories import FollowUpFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_lead_create_normalises_email_and_strips_fields(rep):
    lead = services.lead_create(name="  Ann Lee ", email=" Ann@Example.COM ", owner=rep)
    assert lead.email == "ann@example.com"
    assert lead.name == "Ann Lee"
    assert lead.tier == Lead.Tier.UNSCORED
    assert lead.priority == Lead.UNSCORED_PRIORITY


def test_lead_create_rejects_malformed_email():
    with pytest.raises(ValidationError) as exc:
        services.lead_create(name="X", email="not-an-email")
    assert "email" in exc.value.message_dict


def test_first_call_sets_contact_times_and_moves_new_lead_to_contacted(rep):
    lead = LeadFactory(owner=rep)
    when = timezone.now() - timezone.timedelta(hours=2)
    services.activity_log(lead=lead, user=rep, kind=Activity.Kind.CALL, outcome="connected", occurred_at=when)
    lead.refresh_from_db()
    assert lead.first_contacted_at == when
    assert lead.last_activity_at == when
    assert lead.status == Lead.Status.CONTACTED
    kinds = list(lead.activities.values_list("kind", "outcome"))
    assert ("status_change", "contacted") in kinds
    assert ("call", "connected") in kinds


def test_note_updates_last_activity_but_is_not_a_contact(rep):
    lead = LeadFactory(owner=rep)
    services.activity_log(lead=lead, user=rep, kind=Activity.Kind.NOTE, notes="looked at website")
    lead.refresh_from_db()
    assert lead.last_activity_at is not None
    assert lead.first_contacted_at is None
    assert lead.status == Lead.Status.NEW


def test_older_activity_does_not_move_last_activity_back(rep):
    lead = LeadFactory(owner=rep)
    now = timezone.now()
    services.activity_log(lead=lead, user=rep, kind="email", occurred_at=now)
    services.activity_log(lead=lead, user=rep, kind="call", occurred_at=now - timezone.timedelta(days=3))
    lead.refresh_from_db()
    assert lead.last_activity_at == now
    assert lead.first_contacted_at == now - timezone.timedelta(days=3)


@pytest.mark.parametrize("kind", ["status_change", "telepathy"])
def test_activity_log_rejects_unknown_or_internal_kinds(rep, kind):
    lead = LeadFactory(owner=rep)
    with pytest.raises(ValidationError):
        services.activity_log(lead=lead, user=rep, kind=kind)
    assert not lead.activities.exists()


def test_activity_in_the_future_is_refused(rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(ValidationError):
        services.activity_log(lead=lead, user=rep, kind="call", occurred_at=timezone.now() + timezone.timedelta(days=1))


def test_follow_ups_keep_next_follow_up_at_the_earliest_open_one(rep):
    lead = LeadFactory(owner=rep)
    now = timezone.now()
    later = services.follow_up_schedule(lead=lead, due_at=now + timezone.timedelta(days=3), by=rep)
    sooner = services.follow_up_schedule(lead=lead, due_at=now + timezone.timedelta(days=1), by=rep)
    lead.refresh_from_db()
    assert lead.next_follow_up_at == sooner.due_at
    assert sooner.assigned_to == rep
    services.follow_up_complete(follow_up=sooner, by=rep)
    lead.refresh_from_db()
    assert lead.next_follow_up_at == later.due_at
    services.follow_up_complete(follow_up=later, by=rep)
    lead.refresh_from_db()
    assert lead.next_follow_up_at is None


def test_completing_a_follow_up_twice_keeps_the_first_done_time(rep):
    follow_up = FollowUpFactory(lead=LeadFactory(owner=rep))
    services.follow_up_complete(follow_up=follow_up)
    first = follow_up.done_at
    services.follow_up_complete(follow_up=follow_up)
    assert follow_up.done_at == first


def test_lead_is_overdue_when_open_follow_up_is_past_due(rep):
    lead = LeadFactory(owner=rep)
    services.follow_up_schedule(lead=lead, due_at=timezone.now() - timezone.timedelta(hours=1), by=rep)
    lead.refresh_from_db()
    assert lead.is_overdue()
    services.lead_close(lead=lead, outcome=Lead.Status.CONVERTED, user=rep)
    lead.refresh_from_db()
    assert not lead.is_overdue()


def test_close_converted_sets_converted_at_records_activity_and_closes_follow_ups(rep):
    lead = LeadFactory(owner=rep)
    follow_up = services.follow_up_schedule(lead=lead, due_at=timezone.now() + timezone.timedelta(days=1), by=rep)
    services.lead_close(lead=lead, outcome=Lead.Status.CONVERTED, user=rep)
    lead.refresh_from_db()
    follow_up.refresh_from_db()
    assert lead.status == Lead.Status.CONVERTED
    assert lead.converted_at is not None
    assert lead.next_follow_up_at is None
    assert follow_up.done_at is not None
    change = lead.activities.get(kind=Activity.Kind.STATUS_CHANGE)
    assert change.data == {"from": "new", "to": "converted"}
    assert change.user == rep


def test_close_lost_requires_a_reason_and_changes_nothing_without_one(rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(ValidationError):
        services.lead_close(lead=lead, outcome=Lead.Status.LOST, user=rep, reason="  ")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEW
    assert not lead.activities.exists()
    services.lead_close(lead=lead, outcome=Lead.Status.LOST, user=rep, reason="No budget")
    lead.refresh_from_db()
    assert (lead.status, lead.lost_reason, lead.converted_at) == ("lost", "No budget", None)


def test_reopening_a_lost_lead_clears_the_reason(rep):
    lead = LeadFactory(owner=rep)
    services.lead_close(lead=lead, outcome="lost", user=rep, reason="Timing")
    services.lead_status_change(lead=lead, status="qualified", user=rep)
    lead.refresh_from_db()
    assert lead.status == "qualified"
    assert lead.lost_reason == ""
    assert list(lead.activities.order_by("id").values_list("outcome", flat=True)) == ["lost", "qualified"]


def test_scheduling_a_follow_up_on_a_closed_lead_is_refused(rep):
    lead = LeadFactory(owner=rep, status=Lead.Status.CONVERTED)
    with pytest.raises(ValidationError):
        services.follow_up_schedule(lead=lead, due_at=timezone.now(), by=rep)
    assert not FollowUp.objects.exists()


def test_only_managers_assign(rep, other_rep, manager):
    lead = LeadFactory(owner=None)
    with pytest.raises(PermissionDenied):
        services.lead_assign(lead=lead, rep=rep, by=other_rep)
    services.lead_assign(lead=lead, rep=rep, by=manager)
    lead.refresh_from_db()
    assert lead.owner == rep
    assert lead.activities.get().outcome == "assigned"


def test_claim_next_takes_the_best_unassigned_open_lead(rep):
    LeadFactory(owner=None, priority=40)
    best = LeadFactory(owner=None, priority=90)
    LeadFactory(owner=None, priority=99, status=Lead.Status.LOST)
    claimed = services.lead_claim_next(rep=rep)
    assert claimed == best
    best.refresh_from_db()
    assert best.owner == rep


def test_claim_next_on_an_empty_pool_returns_none(rep, other_rep):
    LeadFactory(owner=other_rep)
    assert services.lead_claim_next(rep=rep) is None


def test_claiming_a_lead_someone_owns_fails_and_changes_nothing(rep, other_rep):
    lead = LeadFactory(owner=other_rep)
    assert services.lead_claim(lead=lead, rep=rep) is False
    lead.refresh_from_db()
    assert lead.owner == other_rep


def test_follow_up_refresh_repairs_a_stale_next_follow_up(rep):
    lead = LeadFactory(owner=rep)
    follow_up = FollowUpFactory(lead=lead)
    stray = LeadFactory(owner=rep, next_follow_up_at=timezone.now())
    assert services.leads_follow_up_refresh() == 2
    lead.refresh_from_db()
    stray.refresh_from_db()
    assert lead.next_follow_up_at == follow_up.due_at
    assert stray.next_follow_up_at is None
    assert services.leads_follow_up_refresh() == 0


def test_lead_changes_ask_for_a_rescore_after_commit(rep, django_capture_on_commit_callbacks, monkeypatch):
    requested = []
    monkeypatch.setattr("scoring.tasks.rescore_leads.delay", lambda **kw: requested.append(kw["lead_ids"]))
    with django_capture_on_commit_callbacks(execute=True):
        lead = services.lead_create(name="A", owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        services.activity_log(lead=lead, user=rep, kind="call")
    assert requested[0] == [lead.pk] and requested[-1] == [lead.pk]
