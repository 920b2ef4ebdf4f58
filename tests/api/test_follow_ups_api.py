from datetime import timedelta

from django.utils import timezone

from leads.models import FollowUp, Lead
from tests.factories import FollowUpFactory, LeadFactory


def url(lead) -> str:
    return f"/api/v1/leads/{lead.pk}/follow-ups/"


def complete_url(follow_up) -> str:
    return f"/api/v1/leads/{follow_up.lead_id}/follow-ups/{follow_up.pk}/complete/"


def test_list_is_soonest_due_first_and_filters_open(api_rep, rep):
    lead = LeadFactory(owner=rep)
    now = timezone.now()
    later = FollowUpFactory(lead=lead, due_at=now + timedelta(days=3))
    sooner = FollowUpFactory(lead=lead, due_at=now + timedelta(days=1))
    done = FollowUpFactory(lead=lead, due_at=now + timedelta(days=2), done_at=now)
    assert [r["id"] for r in api_rep.get(url(lead)).json()["results"]] == [sooner.pk, done.pk, later.pk]
    assert [r["id"] for r in api_rep.get(url(lead), {"open": "true"}).json()["results"]] == [sooner.pk, later.pk]
    assert [r["id"] for r in api_rep.get(url(lead), {"open": "false"}).json()["results"]] == [done.pk]


def test_list_query_count_is_flat(api_manager, django_assert_max_num_queries):
    lead = LeadFactory()
    FollowUpFactory.create_batch(20, lead=lead)
    with django_assert_max_num_queries(4):
        assert len(api_manager.get(url(lead), {"page_size": 20}).json()["results"]) == 20


def test_scheduling_sets_the_leads_next_follow_up(api_rep, rep):
    lead = LeadFactory(owner=rep)
    due = timezone.now() + timedelta(days=2)
    response = api_rep.post(url(lead), {"due_at": due.isoformat(), "note": "Send pricing"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["assigned_to"] == rep.pk
    lead.refresh_from_db()
    assert lead.next_follow_up_at == due


def _tomorrow() -> str:
    return (timezone.now() + timedelta(days=1)).isoformat()


def test_a_follow_up_in_the_past_is_a_400_in_words(api_rep, rep):
    lead = LeadFactory(owner=rep)
    response = api_rep.post(url(lead), {"due_at": "2020-01-01T09:00:00Z"}, format="json")
    assert response.status_code == 400
    assert "must be due in the future" in str(response.json()["error"]["fields"]["due_at"])
    assert not FollowUp.objects.exists()
    lead.refresh_from_db()
    assert lead.next_follow_up_at is None


def test_closed_lead_takes_no_follow_ups(api_rep, rep):
    lead = LeadFactory(owner=rep, status=Lead.Status.CONVERTED)
    response = api_rep.post(url(lead), {"due_at": _tomorrow()}, format="json")
    assert response.status_code == 400
    assert "due_at" in response.json()["error"]["fields"]


def test_bad_follow_up_input_is_a_400(api_rep, rep, other_rep):
    lead = LeadFactory(owner=rep)
    for payload, field in [
        ({}, "due_at"),
        ({"due_at": "next tuesday"}, "due_at"),
        ({"due_at": "2020-01-01T09:00:00Z"}, "due_at"),
        ({"due_at": _tomorrow(), "note": "x" * 501}, "note"),
        ({"due_at": _tomorrow(), "assigned_to": other_rep.pk}, "assigned_to"),
        ({"due_at": _tomorrow(), "assigned_to": 99999}, "assigned_to"),
    ]:
        response = api_rep.post(url(lead), payload, format="json")
        assert response.status_code == 400, payload
        assert field in response.json()["error"]["fields"]
    assert not FollowUp.objects.exists()


def test_manager_schedules_for_a_rep(api_manager, rep):
    lead = LeadFactory(owner=rep)
    response = api_manager.post(url(lead), {"due_at": _tomorrow(), "assigned_to": rep.pk}, format="json")
    assert response.json()["assigned_to"] == rep.pk


def test_completing_twice_is_a_no_op_and_refreshes_the_lead(api_rep, rep):
    lead = LeadFactory(owner=rep)
    api_rep.post(url(lead), {"due_at": (timezone.now() + timedelta(days=1)).isoformat()}, format="json")
    follow_up = FollowUp.objects.get()
    first = api_rep.post(complete_url(follow_up))
    second = api_rep.post(complete_url(follow_up))
    assert first.status_code == second.status_code == 200
    assert first.json()["done_at"] == second.json()["done_at"] is not None
    lead.refresh_from_db()
    assert lead.next_follow_up_at is None


def test_follow_up_of_another_lead_is_a_404(api_rep, rep):
    mine = LeadFactory(owner=rep)
    other = FollowUpFactory(lead=LeadFactory(owner=rep))
    response = api_rep.post(f"/api/v1/leads/{mine.pk}/follow-ups/{other.pk}/complete/")
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.done_at is None


def test_follow_up_list_spans_the_leads_i_see(api_rep, rep, other_rep):
    now = timezone.now()
    mine = FollowUpFactory(lead=LeadFactory(owner=rep), assigned_to=rep, due_at=now + timedelta(hours=1))
    pool = FollowUpFactory(lead=LeadFactory(), due_at=now + timedelta(hours=2))
    FollowUpFactory(lead=LeadFactory(owner=other_rep), assigned_to=other_rep, due_at=now)
    FollowUpFactory(lead=LeadFactory(owner=rep), due_at=now, done_at=now)
    body = api_rep.get("/api/v1/follow-ups/", {"open": "true"}).json()
    assert [row["id"] for row in body["results"]] == [mine.pk, pool.pk]
    mine_only = api_rep.get("/api/v1/follow-ups/", {"open": "true", "mine": "true"}).json()
    assert [row["id"] for row in mine_only["results"]] == [mine.pk]
    due_soon = api_rep.get(
        "/api/v1/follow-ups/", {"open": "true", "due_before": (now + timedelta(minutes=90)).isoformat()}
    )
    assert [row["id"] for row in due_soon.json()["results"]] == [mine.pk]


def test_follow_up_list_query_count_is_flat(api_rep, rep, django_assert_max_num_queries):
    for _ in range(15):
        FollowUpFactory(lead=LeadFactory(owner=rep), assigned_to=rep)
    with django_assert_max_num_queries(3):  # token + user, the page
        assert len(api_rep.get("/api/v1/follow-ups/", {"page_size": 15}).json()["results"]) == 15
