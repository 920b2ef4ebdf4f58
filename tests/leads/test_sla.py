"""First-contact SLA escalation on a frozen clock: the owner is warned once before the deadline,
the managers are told once after it, and a rule may send the lead back to the pool or on."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from leads import sla
from leads.models import Activity, Lead, Notification, RoutingRule, SlaEvent
from leads.routing import leads_route
from leads.tasks import sla_escalate as sla_escalate_task
from tests.factories import LeadFactory, ManagerFactory, RepFactory

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(timezone.datetime(2026, 3, 10, 12, 0))


@pytest.fixture(autouse=True)
def _sla(settings):
    settings.REPORT_SLA_HOT_HOURS = 1
    settings.REPORT_SLA_WARM_HOURS = 24
    settings.REPORT_SLA_COLD_HOURS = 72
    settings.SLA_WARNING_FRACTION = 0.75
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _hot_lead(minutes_old: int, **fields) -> Lead:
    return LeadFactory(tier="hot", priority=90, created_at=NOW - timedelta(minutes=minutes_old), **fields)


def test_owner_is_warned_once_when_most_of_the_sla_has_passed():
    rep = RepFactory()
    early = _hot_lead(30, owner=rep)
    due = _hot_lead(50, owner=rep)
    assert sla.sla_escalate(now=NOW).warned == 1
    note = Notification.objects.get(user=rep, kind=Notification.Kind.SLA_WARNING)
    assert note.lead_id == due.pk and "within 10 min" in note.title
    assert not SlaEvent.objects.filter(lead=early).exists()
    assert sla.sla_escalate(now=NOW).warned == 0  # once only
    assert Notification.objects.filter(kind=Notification.Kind.SLA_WARNING).count() == 1


def test_contacted_and_closed_leads_raise_nothing():
    rep, manager = RepFactory(), ManagerFactory()
    contacted = _hot_lead(120, owner=rep, first_contacted_at=NOW - timedelta(minutes=100))
    _hot_lead(120, owner=rep, status=Lead.Status.CONVERTED)
    result = sla.sla_escalate(now=NOW)
    assert (result.warned, result.breached) == (0, 0)
    assert not Notification.objects.filter(user=manager).exists()
    assert not SlaEvent.objects.filter(lead=contacted).exists()


def test_breach_notifies_every_manager_once_and_emails_them():
    rep, boss, admin = RepFactory(), ManagerFactory(), ManagerFactory(role="admin")
    lead = _hot_lead(61, owner=rep)
    other = _hot_lead(90, owner=rep)
    assert sla.sla_escalate(now=NOW).breached == 2
    for manager in (boss, admin):
        assert set(Notification.objects.filter(user=manager, kind="sla_breach").values_list("lead_id", flat=True)) == {
            lead.pk,
            other.pk,
        }
    assert sla.sla_escalate(now=NOW).breached == 0
    assert Notification.objects.filter(kind="sla_breach").count() == 4


def test_breach_emails_go_through_the_email_backend(django_capture_on_commit_callbacks):
    rep = RepFactory(email="")  # a user without an address gets no email
    boss = ManagerFactory()
    _hot_lead(61, owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        sla.sla_escalate(now=NOW)
    assert [m.to for m in mail.outbox] == [[boss.email]]
    assert "missed its first-contact SLA" in mail.outbox[0].subject


def test_a_rule_can_send_a_breached_lead_back_to_the_pool_and_routing_leaves_it_there():
    rep = RepFactory()
    rule = RoutingRule.objects.create(name="Hot", tier="hot", on_sla_breach=RoutingRule.BreachAction.POOL)
    rule.reps.set([rep])
    lead = _hot_lead(61, owner=rep)
    assert sla.sla_escalate(now=NOW).returned_to_pool == 1
    lead.refresh_from_db()
    assert lead.owner is None
    entry = Activity.objects.get(lead=lead, outcome="returned to pool")
    assert entry.data["rule_id"] == rule.pk
    assert leads_route() == 0  # escalated leads are not routed again


def test_a_rule_can_pass_a_breached_lead_to_the_next_rep_with_room():
    slow, next_rep, full = RepFactory(), RepFactory(capacity=5), RepFactory(capacity=0)
    rule = RoutingRule.objects.create(name="Hot", tier="hot", on_sla_breach=RoutingRule.BreachAction.NEXT_REP)
    rule.reps.set([slow, next_rep, full])
    lead = _hot_lead(61, owner=slow)
    assert sla.sla_escalate(now=NOW).passed_on == 1
    lead.refresh_from_db()
    assert lead.owner == next_rep
    assert Notification.objects.filter(user=next_rep, kind="lead_assigned", lead=lead).exists()


def test_without_a_rule_the_breached_lead_stays_with_its_owner():
    rep = RepFactory()
    lead = _hot_lead(61, owner=rep)
    sla.sla_escalate(now=NOW)
    lead.refresh_from_db()
    assert lead.owner == rep


def test_each_tier_has_its_own_sla():
    rep, boss = RepFactory(), ManagerFactory()
    warm_ok = LeadFactory(tier="warm", owner=rep, created_at=NOW - timedelta(hours=10))
    warm_late = LeadFactory(tier="warm", owner=rep, created_at=NOW - timedelta(hours=25))
    unscored_warn = LeadFactory(tier="unscored", owner=rep, created_at=NOW - timedelta(hours=60))
    result = sla.sla_escalate(now=NOW)
    assert (result.breached, result.warned) == (1, 1)
    assert Notification.objects.get(user=boss).lead_id == warm_late.pk
    assert Notification.objects.get(user=rep).lead_id == unscored_warn.pk
    assert not SlaEvent.objects.filter(lead=warm_ok).exists()


def test_leads_older_than_the_lookback_are_not_scanned(settings):
    settings.SLA_LOOKBACK_HOURS = 24
    ManagerFactory()
    LeadFactory(tier="cold", created_at=NOW - timedelta(hours=72 + 25))
    assert sla.sla_escalate(now=NOW).breached == 0


def test_the_beat_task_runs_on_a_frozen_clock(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    rep = RepFactory()
    _hot_lead(50, owner=rep)
    assert sla_escalate_task.delay().get()["warned"] == 1


def test_pool_leads_are_left_to_routing():
    ManagerFactory()
    _hot_lead(61)
    assert sla.sla_escalate(now=NOW).breached == 0
    assert not Notification.objects.exists()


def test_many_breaches_in_one_run_make_one_summary_for_managers():
    rep, boss = RepFactory(), ManagerFactory()
    for minutes in range(61, 61 + sla.SUMMARY_ABOVE + 1):
        _hot_lead(minutes, owner=rep)
    assert sla.sla_escalate(now=NOW).breached == sla.SUMMARY_ABOVE + 1
    [summary] = Notification.objects.filter(user=boss)
    assert summary.title == f"{sla.SUMMARY_ABOVE + 1} leads missed their first-contact SLA"
    assert sla.sla_escalate(now=NOW).breached == 0
