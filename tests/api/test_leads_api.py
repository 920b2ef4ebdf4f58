from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.utils import timezone
from rest_framework.test import APIClient

from leads.models import Activity, Lead
from tests.factories import LeadFactory

LIST = "/api/v1/leads/"


def detail(lead) -> str:
    return f"/api/v1/leads/{lead.pk}/"


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def assert_error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status
    assert error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert field in error["fields"], error
    return error


# --- reading ----------------------------------------------------------------------------------


def test_list_returns_score_tier_reasons_and_model_version(api_manager):
    reasons = [{"feature": "Lead Origin", "text": "Lead Origin = Lead Add Form (+18)", "impact": 18.0}]
    lead = LeadFactory(score=81, priority=81, tier=Lead.Tier.HOT, score_reasons=reasons, probability=0.81)
    row = api_manager.get(LIST).json()["results"][0]
    assert row["id"] == lead.pk
    assert row["score"] == 81
    assert row["effective_score"] == 81
    assert row["tier"] == "hot"
    assert row["score_reasons"] == reasons
    assert row["model_version"] is None
    assert row["attributes"] == {}


def test_effective_score_prefers_the_managers_override(api_manager):
    LeadFactory(score=30, score_override=90, priority=90)
    row = api_manager.get(LIST).json()["results"][0]
    assert (row["score"], row["score_override"], row["effective_score"]) == (30, 90, 90)


def test_list_is_sorted_by_effective_score_by_default(api_manager):
    low, high, unscored = LeadFactory(priority=10), LeadFactory(priority=90), LeadFactory()
    assert ids(api_manager.get(LIST)) == [high.pk, low.pk, unscored.pk]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("score", ["unscored", "low", "high"]),
        ("-created", ["unscored", "high", "low"]),
        ("created", ["low", "high", "unscored"]),
    ],
)
def test_list_ordering(api_manager, ordering, expected):
    now = timezone.now()
    leads = {
        "low": LeadFactory(priority=10, created_at=now - timedelta(days=3)),
        "high": LeadFactory(priority=90, created_at=now - timedelta(days=2)),
        "unscored": LeadFactory(created_at=now - timedelta(days=1)),
    }
    response = api_manager.get(LIST, {"ordering": ordering})
    assert ids(response) == [leads[name].pk for name in expected]


def test_unknown_ordering_is_a_400_naming_the_choices(api_manager):
    error = assert_error(api_manager.get(LIST, {"ordering": "password"}), 400, "ordering")
    assert "-priority" in error["fields"]["ordering"][0]


def test_filters_by_status_tier_source_origin_and_created_range(api_manager):
    now = timezone.now()
    match = LeadFactory(
        status=Lead.Status.CONTACTED,
        tier=Lead.Tier.HOT,
        source="Olark",
        origin="API",
        created_at=now - timedelta(days=2),
    )
    LeadFactory(status=Lead.Status.NEW, tier=Lead.Tier.HOT, source="Olark", origin="API")
    LeadFactory(status=Lead.Status.CONTACTED, tier=Lead.Tier.COLD, source="Olark", origin="API")
    LeadFactory(status=Lead.Status.CONTACTED, tier=Lead.Tier.HOT, source="Google", origin="API")
    LeadFactory(status=Lead.Status.CONTACTED, tier=Lead.Tier.HOT, source="Olark", origin="Form")
    LeadFactory(
        status=Lead.Status.CONTACTED,
        tier=Lead.Tier.HOT,
        source="Olark",
        origin="API",
        created_at=now - timedelta(days=9),
    )
    params = {
        "status": "contacted",
        "tier": "hot",
        "source": "Olark",
        "origin": "API",
        "created_after": (now - timedelta(days=5)).isoformat(),
        "created_before": now.isoformat(),
    }
    assert ids(api_manager.get(LIST, params)) == [match.pk]


def test_status_and_tier_filters_take_several_values(api_manager):
    a = LeadFactory(status=Lead.Status.NEW, priority=3)
    b = LeadFactory(status=Lead.Status.QUALIFIED, priority=2)
    LeadFactory(status=Lead.Status.LOST)
    assert ids(api_manager.get(f"{LIST}?status=new&status=qualified")) == [a.pk, b.pk]


def test_open_filter(api_manager):
    open_lead = LeadFactory(status=Lead.Status.QUALIFIED)
    closed = LeadFactory(status=Lead.Status.CONVERTED)
    assert ids(api_manager.get(LIST, {"open": "true"})) == [open_lead.pk]
    assert ids(api_manager.get(LIST, {"open": "false"})) == [closed.pk]


def test_owner_filter_takes_an_id_me_or_pool(api_manager, manager, rep):
    mine = LeadFactory(owner=manager)
    reps = LeadFactory(owner=rep)
    pool = LeadFactory()
    assert ids(api_manager.get(LIST, {"owner": rep.pk})) == [reps.pk]
    assert ids(api_manager.get(LIST, {"owner": "me"})) == [mine.pk]
    assert ids(api_manager.get(LIST, {"owner": "pool"})) == [pool.pk]
    assert ids(api_manager.get(LIST, {"owner": 987654321})) == []


def test_search_matches_name_email_or_company_case_insensitively(api_manager):
    by_name = LeadFactory(name="Grace HOPPER", priority=3)
    by_email = LeadFactory(email="hopper@navy.mil", priority=2)
    by_company = LeadFactory(company="Hopper Industries", priority=1)
    LeadFactory(name="Ada", email="ada@example.com", company="Engines")
    assert ids(api_manager.get(LIST, {"search": "hopper"})) == [by_name.pk, by_email.pk, by_company.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"tier": "lukewarm"}, "tier"),
        ({"owner": "bob"}, "owner"),
        ({"owner": "9" * 40}, "owner"),
        ({"created_after": "yesterday"}, "created"),
        ({"min_score": "high"}, "min_score"),
        ({"open": "maybe"}, "open"),
        ({"page_size": "ten"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"search": "x" * 500}, "search"),
        ({"search": "nul\x00byte"}, "search"),
    ],
)
def test_bad_query_parameters_are_400_with_the_field(api_manager, params, field):
    LeadFactory()
    assert_error(api_manager.get(LIST, params), 400, field)


def test_cursor_pagination_walks_every_lead_once_across_equal_scores(api_manager):
    # 7 leads share one priority: a cursor on the score alone would repeat or skip them.
    created = {LeadFactory(priority=50 if i < 7 else i).pk for i in range(10)}
    seen, url, pages = [], f"{LIST}?page_size=3", 0
    while url:
        body = api_manager.get(url).json()
        seen.extend(row["id"] for row in body["results"])
        url, pages = body["next"], pages + 1
    assert pages == 4
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))


def test_cursor_pagination_follows_the_chosen_ordering(api_manager):
    now = timezone.now()
    leads = [LeadFactory(created_at=now - timedelta(minutes=i)) for i in range(5)]
    first = api_manager.get(LIST, {"ordering": "created", "page_size": 2}).json()
    second = api_manager.get(first["next"]).json()
    assert [r["id"] for r in first["results"] + second["results"]] == [lead.pk for lead in reversed(leads)][:4]


def test_a_cursor_from_another_ordering_is_rejected(api_manager):
    LeadFactory.create_batch(3)
    first = api_manager.get(LIST, {"page_size": 1}).json()
    cursor = first["next"].split("cursor=")[1].split("&")[0]
    assert_error(api_manager.get(LIST, {"cursor": cursor, "ordering": "created"}), 400, "cursor")


def test_page_size_above_the_documented_maximum_is_a_400_not_capped(api_manager):
    # Issue 20: the schema says at most 500, so the server refuses more instead of silently capping.
    LeadFactory.create_batch(3)
    assert_error(api_manager.get(LIST, {"page_size": 10**12}), 400, "page_size")
    assert_error(api_manager.get(LIST, {"page_size": 501}), 400, "page_size")
    assert len(api_manager.get(LIST, {"page_size": 500}).json()["results"]) == 3


def test_list_query_count_does_not_grow_with_the_page(api_manager, manager, django_assert_max_num_queries):
    LeadFactory.create_batch(30, owner=manager)
    with django_assert_max_num_queries(3):  # token + user, the page
        response = api_manager.get(LIST, {"page_size": 30})
    assert len(response.json()["results"]) == 30


def test_retrieve_unknown_lead_is_a_404_body(api_manager):
    assert_error(api_manager.get("/api/v1/leads/999999/"), 404)


def test_huge_lead_id_is_a_404_not_a_500(api_manager):
    assert_error(api_manager.get(f"/api/v1/leads/{10**30}/"), 404)


# --- auth ----------------------------------------------------------------------------------------


def test_anonymous_caller_gets_a_401_body(api_anon):
    error = assert_error(api_anon.get(LIST), 401)
    assert error["code"] == "not_authenticated"


def test_bad_token_is_a_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert_error(client.get(LIST), 401)


def test_session_auth_works_for_the_browser(manager_client):
    LeadFactory()
    response = manager_client.get(LIST)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_session_writes_need_a_csrf_token(manager):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(manager)
    assert_error(client.post(LIST, {"name": "Ada"}, format="json"), 403)
    assert not Lead.objects.exists()


def test_throttle_answers_429_with_retry_after(api_manager, settings):
    from leads.permissions import UserThrottle

    # A private cache: the shared Redis of a parallel run holds other workers' counters.
    private = LocMemCache("throttle-test", {})
    with (
        mock.patch.object(UserThrottle, "get_rate", return_value="2/min"),
        mock.patch.object(UserThrottle, "cache", private),
    ):
        statuses = [api_manager.get(LIST).status_code for _ in range(3)]
        error = api_manager.get(LIST).json()["error"]
    assert statuses == [200, 200, 429]
    assert error["code"] == "throttled"
    assert error["retry_after"] > 0


def test_throttle_fails_open_when_the_cache_is_down(api_manager):
    from leads.permissions import UserThrottle

    with mock.patch.object(UserThrottle, "cache") as cache:
        cache.get.side_effect = ConnectionError("redis is down")
        assert api_manager.get(LIST).status_code == 200


# --- creating and updating -------------------------------------------------------------------------


def test_manager_creates_a_lead_in_the_pool_through_the_service(api_manager):
    with mock.patch("leads.services.leads_changed_send") as rescore:
        response = api_manager.post(
            LIST,
            {
                "name": " Ada ",
                "email": "ADA@Example.com",
                "external_id": "web-1",
                "attributes": {"TotalVisits": 5, "Do Not Email": False, "Note": None},
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    lead = Lead.objects.get(pk=body["id"])
    assert (lead.name, lead.email, lead.owner, lead.external_id) == ("Ada", "ada@example.com", None, "web-1")
    assert lead.attributes == {"TotalVisits": 5, "Do Not Email": False, "Note": None}
    assert body["tier"] == "unscored"
    rescore.assert_called_once_with([lead.pk])


def test_rep_creates_a_lead_they_own(api_rep, rep):
    response = api_rep.post(LIST, {"name": "Ada"}, format="json")
    assert response.status_code == 201
    assert Lead.objects.get().owner == rep


def test_rep_cannot_create_a_lead_for_another_rep(api_rep, other_rep):
    assert_error(api_rep.post(LIST, {"name": "Ada", "owner": other_rep.pk}, format="json"), 400, "owner")
    assert not Lead.objects.exists()


def test_manager_creates_a_lead_for_a_rep(api_manager, rep):
    response = api_manager.post(LIST, {"name": "Ada", "owner": rep.pk}, format="json")
    assert response.status_code == 201
    assert Lead.objects.get().owner == rep


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Ada", "email": "not-an-email"}, "email"),
        ({"name": "Ada", "owner": 987654321}, "owner"),
        ({"name": "Ada", "owner": "bob"}, "owner"),
        ({"name": "Ada", "owner": True}, "owner"),
        ({"name": ["Ada"]}, "name"),
        ({"name": "A" * 256}, "name"),
        ({"name": "Ada", "attributes": ["not", "a", "dict"]}, "attributes"),
        ({"name": "Ada", "attributes": {"nested": {"a": 1}}}, "attributes"),
        ({"name": "Ada", "attributes": {"big": 10**40}}, "attributes"),
        ({"name": "Ada", "attributes": {"x": "nul\x00"}}, "attributes"),
        ({"name": "nul\x00byte"}, "name"),
        ({}, "non_field_errors"),
        ({"company": "Only a company"}, "non_field_errors"),
    ],
)
def test_create_rejects_bad_input_with_a_400_per_field(api_manager, payload, field):
    assert_error(api_manager.post(LIST, payload, format="json"), 400, field)
    assert not Lead.objects.exists()


def test_duplicate_external_id_is_a_400(api_manager):
    LeadFactory(external_id="web-1")
    assert_error(api_manager.post(LIST, {"name": "Ada", "external_id": "web-1"}, format="json"), 400, "external_id")


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"name": "Ada"', "application/json", 400),
        ("[1, 2, 3]", "application/json", 400),
        ('"just a string"', "application/json", 400),
        ('{"name": NaN}', "application/json", 400),
        ("name=Ada", "text/plain", 415),
        (b"\xff\xfe\x00garbage", "application/json", 400),
    ],
)
def test_malformed_bodies_are_4xx_not_500(api_manager, body, content_type, status):
    assert_error(api_manager.generic("POST", LIST, body, content_type=content_type), status)
    assert not Lead.objects.exists()


def test_patch_changes_only_the_given_fields(api_manager):
    lead = LeadFactory(name="Ada", company="Engines")
    response = api_manager.patch(detail(lead), {"company": " Babbage & Co "}, format="json")
    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.name, lead.company) == ("Ada", "Babbage & Co")
    assert response.json()["company"] == "Babbage & Co"


def test_put_needs_every_contact_field(api_manager):
    lead = LeadFactory(name="Ada")
    assert_error(api_manager.put(detail(lead), {"name": "Grace"}, format="json"), 400, "email")
    full = {"name": "Grace", "email": "g@example.com", "phone": "", "company": "", "source": "", "origin": ""}
    assert api_manager.put(detail(lead), full, format="json").status_code == 200
    lead.refresh_from_db()
    assert (lead.name, lead.email) == ("Grace", "g@example.com")


def test_patch_ignores_read_only_fields(api_manager):
    lead = LeadFactory(priority=10, score=10)
    api_manager.patch(detail(lead), {"score": 99, "status": "converted", "owner": 1, "name": "X"}, format="json")
    lead.refresh_from_db()
    assert (lead.score, lead.status, lead.owner_id, lead.name) == (10, "new", None, "X")


def test_delete_is_not_allowed(api_manager):
    lead = LeadFactory()
    assert_error(api_manager.delete(detail(lead)), 405)
    assert Lead.objects.filter(pk=lead.pk).exists()


# --- actions ----------------------------------------------------------------------------------------


def test_rep_claims_a_pool_lead(api_rep, rep):
    lead = LeadFactory()
    response = api_rep.post(f"{detail(lead)}claim/")
    assert response.status_code == 200
    assert response.json()["owner"] == rep.pk
    assert Activity.objects.filter(lead=lead, outcome="claimed").exists()


def test_claiming_a_lead_someone_just_took_is_a_409(api_rep, other_rep):
    lead = LeadFactory()
    with mock.patch("leads.services.lead_claim", return_value=False):
        error = assert_error(api_rep.post(f"{detail(lead)}claim/"), 409)
    assert error["code"] == "conflict"


def test_claiming_a_pool_lead_another_rep_claimed_earlier_is_a_409_naming_them(api_rep, api_other_rep):
    lead = LeadFactory()
    assert api_other_rep.post(f"{detail(lead)}claim/").status_code == 200
    error = assert_error(api_rep.post(f"{detail(lead)}claim/"), 409)
    assert error["code"] == "conflict" and error["claimed_by"] == "Bob"
    assert error["message"] == "Already claimed by Bob."


def test_a_lead_assigned_from_the_pool_is_also_already_claimed(api_rep, api_manager, other_rep):
    lead = LeadFactory()
    api_manager.post(f"{detail(lead)}assign/", {"owner": other_rep.pk}, format="json")
    assert assert_error(api_rep.post(f"{detail(lead)}claim/"), 409)["claimed_by"] == "Bob"


def test_claiming_another_reps_lead_that_never_was_in_the_pool_is_a_404(api_rep, other_rep, rep):
    lead = LeadFactory(owner=other_rep)
    error = assert_error(api_rep.post(f"{detail(lead)}claim/"), 404)
    assert "claimed_by" not in error
    lead.refresh_from_db()
    assert lead.owner == other_rep


def test_manager_assigns_and_returns_a_lead_to_the_pool(api_manager, rep):
    lead = LeadFactory()
    assert api_manager.post(f"{detail(lead)}assign/", {"owner": rep.pk}, format="json").json()["owner"] == rep.pk
    assert api_manager.post(f"{detail(lead)}assign/", {"owner": None}, format="json").json()["owner"] is None


def test_rep_cannot_assign(api_rep, rep, other_rep):
    lead = LeadFactory(owner=rep)
    assert_error(api_rep.post(f"{detail(lead)}assign/", {"owner": other_rep.pk}, format="json"), 403)
    lead.refresh_from_db()
    assert lead.owner == rep


def test_assign_to_an_unknown_user_is_a_400(api_manager):
    lead = LeadFactory()
    assert_error(api_manager.post(f"{detail(lead)}assign/", {"owner": 987654}, format="json"), 400, "owner")
    assert_error(api_manager.post(f"{detail(lead)}assign/", {}, format="json"), 400, "owner")


def test_close_as_lost_needs_a_reason(api_rep, rep):
    lead = LeadFactory(owner=rep)
    assert_error(api_rep.post(f"{detail(lead)}close/", {"outcome": "lost"}, format="json"), 400, "reason")
    response = api_rep.post(f"{detail(lead)}close/", {"outcome": "lost", "reason": "Budget"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["lost_reason"]) == ("lost", "Budget")


def test_close_as_converted_sets_converted_at(api_rep, rep):
    lead = LeadFactory(owner=rep)
    body = api_rep.post(f"{detail(lead)}close/", {"outcome": "converted"}, format="json").json()
    assert body["status"] == "converted"
    assert body["converted_at"]


def test_close_rejects_an_open_outcome(api_rep, rep):
    lead = LeadFactory(owner=rep)
    assert_error(api_rep.post(f"{detail(lead)}close/", {"outcome": "qualified"}, format="json"), 400, "outcome")


def test_status_change(api_rep, rep):
    lead = LeadFactory(owner=rep)
    response = api_rep.post(f"{detail(lead)}status/", {"status": "qualified"}, format="json")
    assert response.json()["status"] == "qualified"
    assert Activity.objects.filter(lead=lead, kind="status_change", outcome="qualified").exists()
    assert_error(api_rep.post(f"{detail(lead)}status/", {"status": "asleep"}, format="json"), 400, "status")


def test_rep_cannot_change_a_pool_lead_before_claiming_it(api_rep):
    lead = LeadFactory(name="Pool")
    assert_error(api_rep.patch(detail(lead), {"name": "Mine"}, format="json"), 403)
    assert_error(api_rep.post(f"{detail(lead)}status/", {"status": "qualified"}, format="json"), 403)
    lead.refresh_from_db()
    assert (lead.name, lead.status) == ("Pool", "new")


# --- bulk upsert -------------------------------------------------------------------------------------

BULK = "/api/v1/leads/bulk/"


def test_bulk_creates_and_updates_by_external_id(api_admin, rep):
    existing = LeadFactory(external_id="crm-1", name="Old", attributes={"TotalVisits": 1, "Keep": "yes"})
    rows = [
        {"external_id": "crm-1", "name": "New", "attributes": {"TotalVisits": 7}},
        {"external_id": "crm-2", "name": "Grace", "email": "grace@example.com", "owner": rep.pk},
        {"name": "No key"},
    ]
    response = api_admin.post(BULK, {"leads": rows}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["updated"], body["failed"], body["errors"]) == (2, 1, 0, [])
    assert [r["action"] for r in body["results"]] == ["updated", "created", "created"]
    existing.refresh_from_db()
    assert existing.name == "New"
    assert existing.attributes == {"TotalVisits": 7, "Keep": "yes"}
    assert Lead.objects.get(external_id="crm-2").owner == rep


def test_bulk_is_all_or_nothing_by_default_with_per_row_errors(api_admin):
    rows = [
        {"external_id": "a", "name": "Fine"},
        {"external_id": "b", "email": "broken"},
        {"external_id": "a", "name": "Duplicate key"},
        "not an object",
    ]
    error = assert_error(api_admin.post(BULK, {"leads": rows}, format="json"), 400, "leads")
    assert set(error["fields"]["leads"]) == {"1", "2", "3"}
    assert "email" in error["fields"]["leads"]["1"]
    assert "external_id" in error["fields"]["leads"]["2"]
    assert not Lead.objects.exists()


def test_bulk_non_atomic_writes_the_good_rows_and_reports_the_bad(api_admin):
    LeadFactory(external_id="taken", email="x@example.com")
    rows = [{"external_id": "a", "name": "Fine"}, {"external_id": "b", "email": "broken"}]
    body = api_admin.post(BULK, {"leads": rows, "atomic": False}, format="json").json()
    assert (body["created"], body["failed"]) == (1, 1)
    assert body["errors"] == [{"row": 1, "external_id": "b", "fields": {"email": ["Enter a valid email address."]}}]
    assert set(Lead.objects.values_list("external_id", flat=True)) == {"taken", "a"}


def test_bulk_rejects_more_than_1000_rows_and_empty_calls(api_admin):
    assert_error(api_admin.post(BULK, {"leads": [{"name": "x"}] * 1001}, format="json"), 400, "leads")
    assert_error(api_admin.post(BULK, {"leads": []}, format="json"), 400, "leads")
    assert_error(api_admin.post(BULK, {"leads": "nope"}, format="json"), 400, "leads")
    assert not Lead.objects.exists()


def test_bulk_is_for_admins(api_manager, api_rep):
    for client in (api_manager, api_rep):
        assert_error(client.post(BULK, {"leads": [{"name": "x"}]}, format="json"), 403)
    assert not Lead.objects.exists()


def test_bulk_accepts_1000_rows(api_admin):
    rows = [{"external_id": f"row-{i}", "name": f"Lead {i}"} for i in range(1000)]
    body = api_admin.post(BULK, {"leads": rows}, format="json").json()
    assert body["created"] == 1000
    assert Lead.objects.count() == 1000


# --- visibility ---------------------------------------------------------------------------------------


def test_rep_lists_own_leads_and_the_pool_only(api_rep, rep, other_rep):
    mine, pool = LeadFactory(owner=rep, priority=2), LeadFactory(priority=1)
    LeadFactory(owner=other_rep, priority=3)
    assert ids(api_rep.get(LIST)) == [mine.pk, pool.pk]


def test_rep_filtering_by_another_reps_id_gets_nothing(api_rep, other_rep):
    theirs = LeadFactory(owner=other_rep, name="Secret", external_id="theirs-1")
    assert ids(api_rep.get(LIST, {"owner": other_rep.pk})) == []
    assert ids(api_rep.get(LIST, {"search": "Secret"})) == []
    assert ids(api_rep.get(LIST, {"external_id": theirs.external_id})) == []
    assert_error(api_rep.get(detail(theirs)), 404)


@pytest.mark.parametrize("name", ["owner", "search", "created_after", "cursor", "ordering", "page_size"])
def test_a_blank_query_parameter_is_a_400_not_ignored(api_manager, name):
    assert_error(api_manager.get(LIST, {name: ""}), 400, name)


@pytest.mark.parametrize(
    "body",
    [{"name": 5}, {"name": "Ada", "email": True}, {"name": "Ada", "owner": "1"}, {"name": "Ada", "source": ["x"]}],
)
def test_create_takes_each_field_in_its_json_type_only(api_manager, body):
    error = assert_error(api_manager.post(LIST, body, format="json"), 400)
    assert error["fields"]
    assert not Lead.objects.exists()


def test_unknown_api_url_is_a_json_404_even_with_debug_on(api_manager, settings):
    settings.DEBUG = True
    error = assert_error(api_manager.get("/api/v1/leads/-1/"), 404)
    assert error["code"] == "not_found"
    assert_error(api_manager.post("/api/nothing-here/", {}, format="json"), 404)


def test_unknown_api_url_is_a_json_404(api_manager):
    error = assert_error(api_manager.get("/api/v1/no-such-thing/"), 404)
    assert error["code"] == "not_found"
    assert_error(api_manager.get("/api/v1/leads/-5/"), 404)


def test_integrity_error_from_a_race_is_a_409_not_a_500(api_manager):
    from django.db import IntegrityError

    with mock.patch("leads.services.lead_create", side_effect=IntegrityError("duplicate key")):
        error = assert_error(api_manager.post(LIST, {"name": "Ada", "external_id": "x"}, format="json"), 409)
    assert error["code"] == "conflict"


def test_a_machine_gets_its_token_with_username_and_password(rep):
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": rep.username, "password": "pw"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(LIST).status_code == 200


def test_wrong_password_gets_no_token(rep):
    response = APIClient().post("/api/v1/auth/token/", {"username": rep.username, "password": "nope"}, format="json")
    assert_error(response, 400)


def test_dates_with_extreme_offsets_are_not_a_500(api_manager):
    # Python accepts a -18:05 offset, PostgreSQL does not: filters move dates to UTC first.
    assert api_manager.get(LIST, {"created_before": "1137-11-30T03:01:50-18:05"}).status_code == 200
    assert_error(api_manager.get(LIST, {"created_after": "0001-01-01T00:00:00+05:00"}), 400, "created")


def test_oversized_bodies_are_a_413(api_admin, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    rows = [{"external_id": f"r{i}", "name": "x" * 200} for i in range(100)]
    error = assert_error(api_admin.post("/api/v1/leads/bulk/", {"leads": rows}, format="json"), 413)
    assert error["code"] == "too_large"
    assert not Lead.objects.exists()


@pytest.mark.parametrize("field", ["name", "company"])
def test_lone_surrogates_are_a_400_not_a_500(api_manager, field):
    body = '{"' + field + '": "bad \\udc00 text", "email": "a@example.com"}'
    assert_error(api_manager.generic("POST", LIST, body, content_type="application/json"), 400, field)


def test_lone_surrogates_in_attributes_and_search_are_a_400(api_manager):
    body = '{"name": "Ada", "attributes": {"k\\ud800": "v", "x": "\\udfff"}}'
    assert_error(api_manager.generic("POST", LIST, body, content_type="application/json"), 400, "attributes")


@pytest.mark.parametrize("ordering", ["id", "-id", "score", "-created"])
def test_every_ordering_paginates_without_gaps_or_repeats(api_manager, ordering):
    now = timezone.now()
    created = {LeadFactory(priority=i % 3, created_at=now - timedelta(minutes=i % 2)).pk for i in range(7)}
    seen, url = [], f"{LIST}?page_size=2&ordering={ordering}"
    while url:
        body = api_manager.get(url).json()
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]
    assert sorted(seen) == sorted(created) and len(seen) == len(created)


def test_bulk_asks_for_one_rescore_for_the_whole_call(api_admin):
    LeadFactory(external_id="crm-1")
    rows = [{"external_id": "crm-1", "name": "Updated"}, *[{"external_id": f"n-{i}", "name": "New"} for i in range(3)]]
    with (
        mock.patch("leads.bulk.leads_changed_send") as batched,
        mock.patch("leads.services.leads_changed_send") as per_lead,
    ):
        body = api_admin.post(BULK, {"leads": rows}, format="json").json()
    per_lead.assert_not_called()
    batched.assert_called_once_with([r["id"] for r in body["results"]])
