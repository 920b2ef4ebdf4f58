from datetime import timedelta

from django.utils import timezone

from leads.models import Activity, Lead
from tests.factories import ActivityFactory, LeadFactory


def url(lead) -> str:
    return f"/api/v1/leads/{lead.pk}/activities/"


def test_list_is_the_leads_timeline_newest_first(api_rep, rep):
    lead = LeadFactory(owner=rep)
    now = timezone.now()
    old = ActivityFactory(lead=lead, occurred_at=now - timedelta(days=2))
    new = ActivityFactory(lead=lead, occurred_at=now - timedelta(hours=1))
    ActivityFactory(lead=LeadFactory(owner=rep))  # another lead's
    body = api_rep.get(url(lead)).json()
    assert [row["id"] for row in body["results"]] == [new.pk, old.pk]
    assert body["results"][0]["kind"] == "call"


def test_list_filters_by_kind_and_paginates(api_manager):
    lead = LeadFactory()
    calls = ActivityFactory.create_batch(3, lead=lead, kind=Activity.Kind.CALL)
    ActivityFactory(lead=lead, kind=Activity.Kind.NOTE)
    first = api_manager.get(url(lead), {"kind": "call", "page_size": 2}).json()
    second = api_manager.get(first["next"]).json()
    assert sorted(row["id"] for row in first["results"] + second["results"]) == sorted(a.pk for a in calls)
    assert second["next"] is None


def test_list_query_count_is_flat(api_manager, django_assert_max_num_queries):
    lead = LeadFactory()
    ActivityFactory.create_batch(25, lead=lead)
    with django_assert_max_num_queries(4):  # token + user, the lead, the page
        response = api_manager.get(url(lead), {"page_size": 25})
    assert len(response.json()["results"]) == 25


def test_logging_a_call_goes_through_the_service(api_rep, rep):
    lead = LeadFactory(owner=rep)
    response = api_rep.post(url(lead), {"kind": "call", "outcome": "Reached", "notes": "Wants a demo"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["outcome"], body["user"], body["lead"]) == ("call", "Reached", rep.pk, lead.pk)
    lead.refresh_from_db()
    # activity_log's rules: the first contact moves a new lead to contacted and stamps the lead.
    assert lead.status == Lead.Status.CONTACTED
    assert lead.first_contacted_at is not None
    assert lead.last_activity_at is not None


def test_activity_in_the_future_is_a_400(api_rep, rep):
    lead = LeadFactory(owner=rep)
    future = (timezone.now() + timedelta(days=1)).isoformat()
    response = api_rep.post(url(lead), {"kind": "call", "occurred_at": future}, format="json")
    assert response.status_code == 400
    assert "occurred_at" in response.json()["error"]["fields"]
    assert not Activity.objects.exists()


def test_status_change_kind_cannot_be_logged_by_hand(api_rep, rep):
    lead = LeadFactory(owner=rep)
    for kind in ("status_change", "web_visit", "teleport", 7, None):
        response = api_rep.post(url(lead), {"kind": kind}, format="json")
        assert response.status_code == 400
        assert "kind" in response.json()["error"]["fields"]
    assert not Activity.objects.exists()


def test_rep_reads_but_cannot_log_on_a_pool_lead(api_rep):
    lead = LeadFactory()
    ActivityFactory(lead=lead)
    assert api_rep.get(url(lead)).status_code == 200
    assert api_rep.post(url(lead), {"kind": "note"}, format="json").status_code == 403
    assert Activity.objects.count() == 1


def test_unknown_lead_is_a_404(api_manager):
    assert api_manager.get("/api/v1/leads/424242/activities/").status_code == 404
    assert api_manager.post("/api/v1/leads/424242/activities/", {"kind": "note"}, format="json").status_code == 404
