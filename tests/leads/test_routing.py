"""Routing rules: fairness weighted by open capacity, capacity and inactive reps respected, hot
leads first, every assignment recorded with its rule, and the debounced request after commit."""

import pytest

from leads import routing
from leads.models import Activity, Lead, Notification, RoutingRule
from leads.services import lead_create
from tests.factories import LeadFactory, RepFactory

pytestmark = pytest.mark.django_db


def _rule(reps, **fields) -> RoutingRule:
    rule = RoutingRule.objects.create(name=fields.pop("name", "Everything"), **fields)
    rule.reps.set(reps)
    return rule


def _owners(leads) -> dict[int, int]:
    counts: dict[int, int] = {}
    for owner_id in Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("owner_id", flat=True):
        counts[owner_id] = counts.get(owner_id, 0) + 1
    return counts


def test_reps_with_equal_room_get_equal_shares():
    reps = [RepFactory(capacity=100) for _ in range(3)]
    _rule(reps)
    leads = [LeadFactory() for _ in range(30)]
    assert routing.leads_route() == 30
    assert _owners(leads) == {rep.pk: 10 for rep in reps}


def test_share_follows_open_capacity_and_never_exceeds_it():
    big, small = RepFactory(capacity=20), RepFactory(capacity=10)
    LeadFactory.create_batch(5, owner=small)  # small has 5 left, big 20
    _rule([big, small])
    leads = [LeadFactory() for _ in range(40)]
    assert routing.leads_route() == 25
    assert _owners(leads) == {big.pk: 20, small.pk: 5, None: 15}
    assert Lead.objects.filter(owner=small, status__in=Lead.OPEN_STATUSES).count() == 10


def test_inactive_reps_get_nothing():
    active, gone = RepFactory(capacity=50), RepFactory(capacity=50, is_active=False)
    _rule([active, gone])
    leads = [LeadFactory() for _ in range(4)]
    routing.leads_route()
    assert _owners(leads) == {active.pk: 4}


def test_hot_leads_are_routed_first_when_room_is_short():
    rep = RepFactory(capacity=2)
    _rule([rep])
    cold = LeadFactory(tier="cold", priority=10)
    hot = [LeadFactory(tier="hot", priority=90), LeadFactory(tier="hot", priority=80)]
    routing.leads_route()
    assert set(Lead.objects.filter(owner=rep).values_list("pk", flat=True)) == {h.pk for h in hot}
    assert Lead.objects.get(pk=cold.pk).owner is None


def test_rules_match_by_source_origin_tier_and_score_in_position_order():
    ref_rep, hot_rep, other = RepFactory(), RepFactory(), RepFactory()
    _rule([ref_rep], name="Referrals", source="Referral", position=1)
    _rule([hot_rep], name="Scores above 70", min_score=70, position=2)
    _rule([other], name="Web forms, warm", origin="Web Form", tier="warm", position=3)
    referral = LeadFactory(source="Referral", priority=95)
    high = LeadFactory(source="Google", priority=71)
    edge = LeadFactory(source="Google", priority=70)  # "above 70" means > 70
    warm_web = LeadFactory(source="Google", origin="Web Form", tier="warm", priority=40)
    routing.leads_route()
    owners = dict(Lead.objects.values_list("pk", "owner_id"))
    assert owners[referral.pk] == ref_rep.pk
    assert owners[high.pk] == hot_rep.pk
    assert owners[edge.pk] is None
    assert owners[warm_web.pk] == other.pk


def test_every_assignment_names_its_rule_in_the_timeline_and_tells_the_rep():
    rep = RepFactory()
    rule = _rule([rep], name="Google leads", source="Google")
    lead = LeadFactory(source="Google")
    routing.leads_route()
    entry = Activity.objects.get(lead=lead, outcome="routed")
    assert entry.data["rule_id"] == rule.pk and "Google leads" in entry.notes
    assert Notification.objects.get(user=rep).lead_id == lead.pk


def test_assigned_and_closed_leads_are_left_alone():
    rep, owner = RepFactory(), RepFactory()
    _rule([rep])
    mine = LeadFactory(owner=owner)
    closed = LeadFactory(status=Lead.Status.LOST, lost_reason="Price")
    assert routing.leads_route() == 0
    assert Lead.objects.get(pk=mine.pk).owner == owner
    assert Lead.objects.get(pk=closed.pk).owner is None


def test_many_leads_for_one_rep_make_one_summary_notification():
    rep = RepFactory(capacity=100)
    _rule([rep])
    LeadFactory.create_batch(10)
    routing.leads_route()
    assert Notification.objects.filter(user=rep).count() == 1
    assert "10 new leads" in Notification.objects.get(user=rep).title


def test_no_rules_route_nothing():
    LeadFactory()
    assert routing.leads_route() == 0


def test_a_new_lead_is_routed_after_commit(django_capture_on_commit_callbacks):
    rep = RepFactory()
    _rule([rep])
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_create(name="Fresh", email="fresh@example.com")
    assert Lead.objects.get(pk=lead.pk).owner == rep


def test_routing_twice_changes_nothing_more():
    reps = [RepFactory(capacity=5) for _ in range(2)]
    _rule(reps)
    LeadFactory.create_batch(6)
    assert routing.leads_route() == 6
    assert routing.leads_route() == 0
    assert Activity.objects.filter(outcome="routed").count() == 6


def test_rep_cannot_route_the_pool(rep_client):
    rep = RepFactory(username="other")
    _rule([rep])
    LeadFactory()
    response = rep_client.post("/routing/")
    assert response.status_code == 403
    assert not Lead.objects.filter(owner__isnull=False).exists()


def test_admin_routes_the_pool_from_the_routing_page(admin_client_crm):
    rep = RepFactory()
    _rule([rep], name="All")
    LeadFactory()
    page = admin_client_crm.get("/routing/")
    assert page.status_code == 200 and "All" in page.content.decode()
    response = admin_client_crm.post("/routing/", follow=True)
    assert "1 lead(s) routed" in response.content.decode()
    assert Lead.objects.get().owner == rep
